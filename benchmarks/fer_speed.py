"""Faces per second of the emotion models at several batch sizes.

    .venv/bin/python benchmarks/fer_speed.py [--models models/fer_fast.keras ...] [--seconds 5]

Runs on whatever Keras backend is configured (TensorFlow CPU by default; on a GPU machine
``KERAS_BACKEND=jax`` uses the GPU). Prints one row per model and batch size.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

from benchmarks._machine import describe  # noqa: E402
from training.modelio import MODELS_DIR, faces_per_second, load  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=sorted(str(p) for p in MODELS_DIR.glob("*.keras")))
    ap.add_argument("--batches", nargs="*", type=int, default=[1, 32, 64, 256])
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    print(f"machine: {describe()}")
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    print(f"{'model':<22}{'params':>10}" + "".join(f"{'batch ' + str(b):>12}" for b in args.batches) + "   (faces/s)")
    for path in args.models:
        model = load(path)
        row = [f"{faces_per_second(model, b, args.seconds):>12,.0f}" for b in args.batches]
        print(f"{Path(path).stem:<22}{model.count_params():>10,}" + "".join(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
