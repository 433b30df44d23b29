"""How well the re-identification embedding (engine/reid.py) tells faces apart, on faces the
engine's own detector finds in the demo gallery.

    .venv/bin/python -m benchmarks.reid_separation [--video assets/demo_class.mp4] [--every 1.5]

Two measurements:

* detected faces: crops of the same FER face (same tile segment) at least ``--every`` seconds
  apart are "same", crops of different faces "different"; printed: look-vs-look similarities,
  template-vs-look similarities (a template = running mean of a face's earlier looks, as the
  engine keeps per student), and the rank-1 accuracy of picking, for a face, the most similar
  face of another frame. Only boxes at least half the tile's face size count (smaller ones are
  the detector's part-face finds);
* jittered boxes: 300 PrivateTest faces upscaled to a 104 px tile, cut by boxes of 76 px moved
  and resized by up to ``--jitter`` px, template (10 looks) vs a new look; at the match bar and
  at the lower bar for a reshuffle's leftovers (``ReidConfig.leftover_similarity``);
* gallery cell contexts (``--contexts``): generated 7x7 1280x720 and 5x5 1920x1080 galleries
  (``tests/layouts.py``; faces that change every 3-6 s, every participant moved to another
  tile half-way), faces found by the engine's detector every ``--every`` seconds in the cells
  it reads; each participant's template (running mean of its contexts before the reshuffle)
  against its contexts after it, and against the other participants'; at the bar a context
  counts as the student's (``ReidConfig.context_similarity``) and the bar under which a cell
  shows another participant (``ReidConfig.context_changed``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.detect import FaceDetector  # noqa: E402
from engine.reid import ReidConfig, cell_holding, crop_face, embed, embed_context  # noqa: E402

FER_CSV = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def collect(video: Path, truth_csv: Path, every: float):
    truth = list(csv.DictReader(truth_csv.open()))
    detector = FaceDetector(load_config().detector)
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 5.0
    crops, labels, times = [], [], []
    i, next_t = 0, 0.0
    while cap.grab():
        t = i / fps
        i += 1
        if t + 1e-6 < next_t:
            continue
        next_t += every
        _, frame = cap.retrieve()
        for f in detector.detect(frame, t):
            cx, cy = f.x + f.w / 2, f.y + f.h / 2
            row = next((r for r in truth if float(r["start"]) <= t < float(r["end"])
                        and int(r["x"]) <= cx < int(r["x"]) + int(r["w"])
                        and int(r["y"]) <= cy < int(r["y"]) + int(r["h"])), None)
            if row is None or row["fer_index"] == "-1" or f.w < 0.5 * int(row["w"]):
                continue
            crops.append(crop_face(frame, f.box, ReidConfig().margin).copy())
            labels.append(int(row["fer_index"]))
            times.append(t)
    cap.release()
    detector.close()
    return crops, np.array(labels), np.array(times)


def running_template(vectors: np.ndarray) -> np.ndarray:
    rate, template = ReidConfig().template_rate, vectors[0]
    for v in vectors[1:]:
        template = (1 - rate) * template + rate * v
        template = template / np.linalg.norm(template)
    return template


def template_vs_look(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each face's last look against its own template (of its earlier looks) and the others'."""
    faces = [f for f in np.unique(labels) if (labels == f).sum() >= 3]
    templates = np.stack([running_template(vectors[labels == f][:-1]) for f in faces])
    looks = np.stack([vectors[labels == f][-1] for f in faces])
    sim = looks @ templates.T
    return np.diag(sim), sim[~np.eye(len(faces), dtype=bool)]


def jittered(jitter: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    from training.data import load

    test = load(FER_CSV).split("PrivateTest")
    rng = np.random.default_rng(0)
    faces = [cv2.resize(test.images[i], (104, 104), interpolation=cv2.INTER_CUBIC)
             for i in rng.choice(len(test), n, replace=False)]

    def look(face):
        dx, dy, dw = rng.integers(-jitter, jitter + 1, 3)
        crop = crop_face(face, (14 + dx, 14 + dy, 76 + dw, 76 + dw), ReidConfig().margin).astype(np.float32)
        return np.clip(crop + rng.normal(0, 6), 0, 255).astype(np.uint8)

    looks = np.stack([embed([look(f) for f in faces]) for _ in range(11)])  # (11, n, dim)
    templates = np.stack([running_template(looks[:10, i]) for i in range(n)])
    sim = looks[10] @ templates.T
    return np.diag(sim), sim[~np.eye(n, dtype=bool)]


def gallery_contexts(rows: int, cols: int, width: int, height: int, every: float,
                     seconds: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """(same, different): template-vs-context similarities across a reshuffle (see the docstring)."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from layouts import make_gallery, pair_boxes

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "gallery.mp4"
        truth = make_gallery(video, rows, cols, width, height, seconds, fps=10, seed=100 * rows + 10 * cols + height,
                             reshuffle_at=seconds / 2)
        detector = FaceDetector(load_config().detector)
        cap = cv2.VideoCapture(str(video))
        looks: list[tuple[float, int, np.ndarray]] = []  # (t, participant, context)
        i, next_t = 0, 0.0
        while cap.grab():
            t = i / truth.fps
            i += 1
            if t + 1e-6 < next_t:
                continue
            next_t += every
            _, frame = cap.retrieve()
            faces = detector.detect(frame, t)
            boxes, ids = truth.at(t)
            found = [f.box for f in faces]
            for ti, fi, _ in pair_boxes(boxes, found, 0.3):
                v = embed_context(frame, found[fi], cell_holding(detector.cells, found[fi]))
                if v.any():
                    looks.append((t, ids[ti], v))
        cap.release()
        detector.close()
    half = seconds / 2
    before = {p: running_template(np.stack([v for t, q, v in looks if q == p and t < half]))
              for p in {q for t, q, _ in looks if t < half}}
    same, different = [], []
    for t, p, v in looks:
        if t < half or p not in before:
            continue
        for q, template in before.items():
            (same if q == p else different).append(float(v @ template))
    return np.array(same), np.array(different)


def report(what: str, same: np.ndarray, different: np.ndarray, threshold: float,
           kinds: tuple[str, str] = ("same face", "different faces")) -> None:
    print(f"{what}: {kinds[0]} {np.mean(same >= threshold):.1%} >= {threshold} (1st percentile "
          f"{np.quantile(same, 0.01):.3f}); {kinds[1]} {np.mean(different >= threshold):.2%} >= {threshold} "
          f"(99.9th percentile {np.quantile(different, 0.999):.3f}, max {different.max():.3f})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(ROOT / "assets/demo_class.mp4"))
    p.add_argument("--every", type=float, default=1.5, help="seconds between analysed frames (default 1.5)")
    p.add_argument("--jitter", type=int, default=4, help="box jitter in pixels for the FER faces (default 4)")
    p.add_argument("--contexts", action="store_true", help="also measure gallery cell contexts (generated galleries)")
    args = p.parse_args(argv)
    video = Path(args.video)
    truth = video.with_name(video.stem + "_truth.csv")
    if not video.exists() or not truth.exists():
        print(f"error: need {video} and {truth} (python assets/make_demo_class.py)", file=sys.stderr)
        return 2
    print(describe())
    crops, labels, times = collect(video, truth, args.every)
    start = time.perf_counter()
    vectors = embed(crops)
    per_crop_us = (time.perf_counter() - start) / max(1, len(crops)) * 1e6
    sim = vectors @ vectors.T
    same = labels[:, None] == labels[None, :]
    apart = np.abs(times[:, None] - times[None, :]) >= args.every - 1e-6
    pos, neg = sim[same & apart], sim[~same]
    threshold = ReidConfig().match_similarity
    ok = total = 0
    for a in np.unique(times):
        for b in np.unique(times):
            if b <= a:
                continue
            ia, ib = np.flatnonzero(times == a), np.flatnonzero(times == b)
            for i in ia:
                if labels[i] in labels[ib]:
                    total += 1
                    ok += labels[ib[np.argmax(sim[i, ib])]] == labels[i]
    print(f"{len(crops)} face crops of {len(np.unique(labels))} faces from {len(np.unique(times))} frames; "
          f"embedding {per_crop_us:.0f} us a face")
    report("detected faces, look vs look", pos, neg, threshold)
    report("detected faces, template vs look", *template_vs_look(vectors, labels), threshold)
    print(f"detected faces, rank-1 (most similar face in another frame is the same face): "
          f"{ok / max(1, total):.1%} of {total}")
    if FER_CSV.exists():
        what = f"FER faces, boxes jittered by up to {args.jitter} px, template vs look"
        same_fer, different_fer = jittered(args.jitter)
        report(what, same_fer, different_fer, threshold)
        # The bar for what a reshuffle leaves over (a face and a student no other face took).
        report(what, same_fer, different_fer, ReidConfig().leftover_similarity)
    if args.contexts and FER_CSV.exists():
        cfg = ReidConfig()
        for rows, cols, width, height in ((7, 7, 1280, 720), (5, 5, 1920, 1080)):
            same, different = gallery_contexts(rows, cols, width, height, args.every)
            what = f"{rows}x{cols} {width}x{height} gallery, cell context template before a reshuffle vs after"
            report(what, same, different, cfg.context_similarity, ("same participant", "other participants"))
            print(f"  under context_changed {cfg.context_changed}: same participant {np.mean(same < cfg.context_changed):.2%}, "
                  f"another {np.mean(different < cfg.context_changed):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
