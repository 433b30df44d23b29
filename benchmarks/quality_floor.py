"""The data behind the engine's ``[quality]`` floor (``engine/config.toml``, ``engine/quality.py``).

    .venv/bin/python benchmarks/quality_floor.py [--model models/fer_fast.keras] [--faces 1500] [--no-real]

1. FER2013 PublicTest (selection data; PrivateTest stays for reporting accuracy), read as the
   engine reads faces (mirror-averaged when ``[classify] flip_average``):
   * the model's accuracy when each face is shown at fewer pixels (shrunk, then enlarged back to
     48x48 as a small camera face is), given as the engine's face box side (the engine's crop
     is the box grown by 20 %, and BlazeFace's box covers ~82 % of a FER picture);
   * the spread of blur, brightness and contrast of the faces the model was trained on, and the
     accuracy of the faces under each low percentile;
   * the head yaw and pitch the face mesh reads on them (FER2013 is mostly frontal faces: the
     model has seen few turned or lowered heads).
2. The clips of ``../shared/data/real`` (skipped when absent): how many face readings each rule
   of the current floor leaves unread, and why.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._machine import describe  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.quality import measure  # noqa: E402
from training.cli import SHARED_DATA  # noqa: E402
from training.data import load as load_data  # noqa: E402
from training.evaluate import predict  # noqa: E402
from training.modelio import DEFAULT_MODEL  # noqa: E402
from training.modelio import load as load_model  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
BOX_PER_PICTURE = 0.82  # BlazeFace's box side over the FER picture's side (docs/engine.md, [align])


def shown_at(images: np.ndarray, side: int) -> np.ndarray:
    """Each 48x48 face shrunk to ``side`` pixels and enlarged back, as a small face reaches the model."""
    if side >= 48:
        return images
    return np.stack([cv2.resize(cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA), (48, 48),
                                interpolation=cv2.INTER_LINEAR) for f in images])


def fer_part(args, cfg) -> None:
    part = load_data(args.data).split("PublicTest")
    if args.limit and args.limit < len(part):  # a random subset, the same every run
        keep = np.random.default_rng(1).choice(len(part), size=args.limit, replace=False)
        part = type(part)(part.images[keep], part.labels[keep], part.usage[keep], 0, part.source)
    model = load_model(args.model)
    flip = cfg.classify.flip_average
    labels = part.labels
    full = float((predict(model, part.images, tta=flip).argmax(1) == labels).mean())
    print(f"\nFER2013 PublicTest, {len(labels)} faces, {Path(args.model).name}, flip_average={flip}: accuracy {full:.3f}")
    print("face shown at   box side   accuracy   share of full accuracy")
    for side in args.sides:
        acc = float((predict(model, shown_at(part.images, side), tta=flip).argmax(1) == labels).mean())
        print(f"  {side:3d} px        {side * BOX_PER_PICTURE:5.1f} px    {acc:.3f}      {acc / full:.2f}")

    q = np.array([measure(f) for f in part.images])  # blur, brightness, contrast
    right = predict(model, part.images, tta=flip).argmax(1) == labels
    for k, name in enumerate(("blur", "brightness", "contrast")):
        values = q[:, k]
        pct = np.percentile(values, [1, 2, 5, 10, 50])
        print(f"\n{name}: percentiles 1/2/5/10/50 = " + " / ".join(f"{v:.1f}" for v in pct))
        for p, v in zip((1, 2, 5, 10), pct[:4], strict=True):
            low = values < v
            print(f"  faces under the {p:2d}th percentile ({v:.1f}): accuracy {right[low].mean():.3f} "
                  f"(the rest {right[~low].mean():.3f})")

    # Head pose the mesh reads on FER faces (enlarged 4x, as the engine's mesh gets its crops).
    from engine.attention import AttentionEstimator
    from engine.detect import Face

    est = AttentionEstimator(cfg.attention)
    est.warm_up()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(part.images), size=min(args.faces, len(part.images)), replace=False)
    yaw, pitch = [], []
    for i in pick:
        big = cv2.cvtColor(cv2.resize(part.images[i], (192, 192), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
        canvas = cv2.copyMakeBorder(big, 96, 96, 96, 96, cv2.BORDER_REPLICATE)
        face = Face(96 + 192 * 0.09, 96 + 192 * 0.18, 192 * 0.82, 192 * 0.82, 1.0, np.zeros((6, 2)))
        a = est._run_mesh(canvas, face, 0.0)
        if a is not None:
            yaw.append(a.yaw)
            pitch.append(a.pitch)
    est.close()
    yaw, pitch = np.abs(np.array(yaw)), np.array(pitch)
    print(f"\nhead pose the face mesh reads on {len(yaw)} of {len(pick)} PublicTest faces:")
    print("  |yaw| percentiles 50/90/95/99 = " + " / ".join(f"{v:.1f}" for v in np.percentile(yaw, [50, 90, 95, 99])))
    print("  pitch percentiles 1/5/10/50/95/99 = "
          + " / ".join(f"{v:.1f}" for v in np.percentile(pitch, [1, 5, 10, 50, 95, 99])))


def real_part(args, cfg) -> None:
    if not REAL.exists():
        print(f"\n{REAL} not found: the real clips are skipped")
        return
    from engine.classify import ExpressionModel
    from engine.pipeline import FrameAnalyzer
    from engine.sources import open_source

    model = ExpressionModel(args.model)
    print("\nreal footage, the current floor (share of face readings left unread, by reason):")
    for name in ("classroom_pan.mp4", "one_person_expressions.mp4", "one_person_phone.mp4", "webcam_posed.mp4"):
        path = REAL / name
        if not path.exists():
            continue
        analyzer = FrameAnalyzer(cfg, model)
        reasons, sizes, blur, light, pose = Counter(), [], [], [], []
        spent = n = 0
        with open_source(str(path), cfg.sampling.fps) as source:
            for frame in source.frames():
                faces, _ = analyzer.analyse(frame)
                for sf in faces:
                    n += 1
                    reasons[sf.quality.reason] += 1
                    sizes.append(sf.face.size)
                    blur.append(sf.quality.blur)
                    light.append(sf.quality.brightness)
                    pose.append((sf.attention.yaw, sf.attention.pitch))
        spent = analyzer.timings["quality"]
        analyzer.close()
        pitches = [p for _, p in pose if p is not None]
        parts = ", ".join(f"{r} {c / n:.0%}" for r, c in reasons.most_common() if r is not None)
        print(f"  {name}: {n} readings, readable {reasons[None] / max(n, 1):.0%}; unread: {parts or 'none'}")
        print(f"    face side median {np.median(sizes):.0f} px (10th pct {np.percentile(sizes, 10):.0f}); blur median "
              f"{np.median(blur):.0f}; brightness median {np.median(light):.0f}; pitch measured on {len(pitches)} "
              f"(median {np.median(pitches) if pitches else float('nan'):.0f}); quality cost "
              f"{1e6 * spent / max(n, 1):.0f} us per face")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--data", default=str(SHARED_DATA))
    ap.add_argument("--config", default=None)
    ap.add_argument("--faces", type=int, default=1500, help="PublicTest faces the face mesh reads")
    ap.add_argument("--limit", type=int, default=0, help="PublicTest faces to use (0 = all)")
    ap.add_argument("--sides", type=int, nargs="+", default=[12, 16, 20, 24, 28, 32, 40, 48])
    ap.add_argument("--no-fer", action="store_true")
    ap.add_argument("--no-real", action="store_true")
    args = ap.parse_args()
    cfg = load_config(args.config)
    print(f"machine: {describe()}")
    print(f"floor: {cfg.quality}")
    if not args.no_fer:
        fer_part(args, cfg)
    if not args.no_real:
        real_part(args, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
