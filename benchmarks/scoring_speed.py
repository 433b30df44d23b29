"""Cost of scoring (engine/scoring.py): a long class session of synthetic readings.

    .venv/bin/python benchmarks/scoring_speed.py [--students 25] [--fps 5] [--minutes 90]

Prints the time per analysed frame with the shipped config. Readings are random (emotions,
head turns, eyes, brow), and one student in 97 frames is missing, so windows, absence and
alert bookkeeping all run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import describe  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.scoring import Reading, Scorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=25)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--minutes", type=float, default=90.0)
    args = parser.parse_args()

    print(describe())
    cfg = load_config()
    scorer = Scorer(cfg.scoring, cfg.alerts)
    rng = np.random.default_rng(0)
    n, pool = args.students, 1000
    probs = rng.dirichlet(np.ones(7), size=(pool, n))
    yaw = rng.normal(0, 25, size=(pool, n))
    eyes = rng.uniform(0, 1, size=(pool, n))
    brow = rng.normal(0.2, 0.01, size=(pool, n))
    frames = int(args.minutes * 60 * args.fps)
    readings = [
        [Reading(k, probs[j, k], float(yaw[j, k]), 0.0, float(eyes[j, k]), float(brow[j, k])) for k in range(n)]
        for j in range(pool)
    ]
    events = 0
    start = time.perf_counter()
    for i in range(frames):
        frame = [r for r in readings[i % pool] if (i + r.student) % 97]
        _, ev = scorer.update(i / args.fps, frame)
        events += len(ev)
    events += len(scorer.finish(frames / args.fps))
    took = time.perf_counter() - start
    print(f"{frames} frames x {n} students ({args.minutes:g} min at {args.fps:g} fps): {took:.1f} s, "
          f"{took / frames * 1e3:.2f} ms per frame, {events} alert events")


if __name__ == "__main__":
    main()
