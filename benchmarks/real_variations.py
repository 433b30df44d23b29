"""The engine on the real footage of ../shared/data/real/ and on variations of it that a school's
own footage would bring: mirrored, half and one and a half times the size, a dim room with
sensor noise, a heavily compressed stream.

    .venv/bin/python benchmarks/real_variations.py [--variants as-is,mirrored,...] [--files zoom_actors.jpg,...]

Each file and variation is written to a temporary folder and run end to end by
``engine.pipeline.run`` (what ``python -m engine process`` does: database writes included), and
its students are checked against the truth counted by eye in ../shared/data/real/README.md (the
one-person clips exactly 1, the Zoom window exactly 28, the panning classroom within 20 % of its
~25 people) and scikit-learn's two sample photos (no face: 0). A threshold that holds on the
files as they are but not on these variations was fitted to the files, not to footage.

Printed per case: size, students (truth), whether it holds, and for clips the real-time factor
at the analysis fps (media seconds per wall second; no peer is run here: the speed figures
that compare with the ``fer`` package are benchmarks/engine_layouts.py's).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._machine import describe  # noqa: E402
from benchmarks._table import print_table  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
# Students (or faces, for a picture) each file holds, counted by eye: the inclusive range that holds.
TRUTH = {"zoom_actors.jpg": (28, 28), "classroom_pan.mp4": (20, 30), "one_person_expressions.mp4": (1, 1),
         "one_person_phone.mp4": (1, 1), "webcam_posed.mp4": (1, 1), "sklearn_china.jpg": (0, 0),
         "sklearn_flower.jpg": (0, 0)}


def _dim(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dim room: darker mid-tones (gamma 1.8, 80 % gain) and a sensor's noise (sigma 4 levels)."""
    dark = 0.8 * 255.0 * (frame / 255.0) ** 1.8
    return np.clip(dark + rng.normal(0.0, 4.0, frame.shape), 0, 255).astype(np.uint8)


def _compressed(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A stream at a low bit rate: every picture through JPEG at quality 20 (blocks, lost detail)."""
    _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 20])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def _resized(k: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def resize(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = frame.shape[:2]
        size = (max(2, round(w * k) // 2 * 2), max(2, round(h * k) // 2 * 2))  # even sides for the video codec
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    return resize


VARIANTS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "as-is": lambda f, rng: f,
    "mirrored": lambda f, rng: cv2.flip(f, 1),
    "half-size": _resized(0.5),
    "1.5x-size": _resized(1.5),
    "dim": _dim,
    "compressed": _compressed,
}


def sources(tmp: Path) -> dict[str, Path]:
    """The real files found, and scikit-learn's sample photos written as pictures."""
    from sklearn.datasets import load_sample_images

    found = {name: REAL / name for name in TRUTH if (REAL / name).exists()}
    for name, image in zip(("sklearn_china.jpg", "sklearn_flower.jpg"), load_sample_images().images, strict=True):
        path = tmp / name
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        found[name] = path
    return found


def varied(src: Path, variant: str, out_dir: Path) -> Path:
    """``src`` with ``variant`` applied to every frame, written beside the others (a picture stays a
    picture, lossless; a clip keeps its frame rate)."""
    change, rng = VARIANTS[variant], np.random.default_rng(0)
    if src.suffix.lower() in (".jpg", ".jpeg", ".png"):
        out = out_dir / f"{src.stem}_{variant}.png"
        cv2.imwrite(str(out), change(cv2.imread(str(src)), rng))
        return out
    out = out_dir / f"{src.stem}_{variant}.mp4"
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frame = change(frame, rng)
            if writer is None:
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
            writer.write(frame)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"any of {', '.join(VARIANTS)}")
    ap.add_argument("--files", help="file names (default: every real file found, and the sample photos)")
    ap.add_argument("--model", help="expression model (default models/fer_fast.keras)")
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")

    from engine.classify import ExpressionModel
    from engine.config import load_config
    from engine.pipeline import RunOptions, run
    from engine.sources import open_source

    machine = describe()
    print(f"machine: {machine}")
    if not REAL.is_dir():
        print(f"note: {REAL} not found: only the sample photos are run")
    cfg = load_config()
    model = ExpressionModel(args.model)
    model.warm_up()
    rows, held = [], 0
    with tempfile.TemporaryDirectory(prefix="variations-") as tmp:
        tmp = Path(tmp)
        files = sources(tmp)
        if args.files:
            files = {n: p for n, p in files.items() if n in {f.strip() for f in args.files.split(",")}}
        for name, src in files.items():
            low, high = TRUTH[name]
            for variant in variants:
                path = varied(src, variant, tmp)
                with open_source(str(path), cfg.sampling.fps) as source:
                    size = f"{source.info.width}x{source.info.height}"
                    still = source.info.kind == "image"
                    s = run(source, f"sqlite:///{tmp / 'runs.db'}", cfg, RunOptions(progress=False), model=model)
                ok = low <= s.students <= high
                held += ok
                speed = "-" if still else f"{s.video_seconds / s.wall_seconds:.2f}"
                truth = str(low) if low == high else f"{low}-{high}"
                rows.append([name, variant, size, f"{s.students} ({truth})", "yes" if ok else "NO", speed])
                print(f"  {name} {variant}: {s.students} students ({truth}) in {s.wall_seconds:.1f} s", flush=True)
    head = ["file", "variant", "size", "students (truth)", "holds", "x real time"]
    print_table(head, rows)
    print(f"held: {held} of {len(rows)}")
    print(f"machine: {machine}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
