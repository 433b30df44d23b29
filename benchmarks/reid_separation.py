"""How well the re-identification embedding (engine/reid.py) tells faces apart, on faces the
engine's own detector finds in the demo gallery.

    .venv/bin/python -m benchmarks.reid_separation [--video assets/demo_class.mp4] [--every 1.5]

Pairs of crops of the same FER face (same tile segment) at least ``--every`` seconds apart are
"same"; crops of different faces are "different". Prints the similarity distributions, the
share of same pairs above the engine's match threshold, the share of different pairs above it,
and the rank-1 accuracy of picking, for a face, the most similar face of another frame. Only
boxes at least half the tile's face size count (smaller ones are the detector's part-face finds,
which the tracker does not keep).
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
from engine.reid import ReidConfig, crop_face, embed  # noqa: E402


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(ROOT / "assets/demo_class.mp4"))
    p.add_argument("--every", type=float, default=1.5, help="seconds between analysed frames (default 1.5)")
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
    print(f"same face:      similarity mean {pos.mean():.3f}, 1st percentile {np.quantile(pos, 0.01):.3f}, "
          f"{np.mean(pos >= threshold):.1%} at or above the match threshold {threshold}")
    print(f"different face: similarity mean {neg.mean():.3f}, 99.9th percentile {np.quantile(neg, 0.999):.3f}, "
          f"{np.mean(neg >= threshold):.2%} at or above the threshold")
    print(f"rank-1 (most similar face in another frame is the same face): {ok / max(1, total):.1%} of {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
