"""How the engine's confusion score behaves on FER2013 faces with a given model: the figures
behind ``confusion_floor`` / ``confusion_ceiling`` and the whole-class share in
``engine/config.toml``.

    .venv/bin/python benchmarks/confusion_calibration.py [--model models/fer_fast.keras] [--split PublicTest]

For each face the model's fear + sad + angry + surprise probability ("negative mass", what the
confusion score averages over a window) is mapped through the configured floor and ceiling, as
for a student who held that face for the whole window. Printed: the mean mass for neutral,
calm (happy or neutral) and truly negative faces, and the share of each group whose score
reaches the alert threshold. A calm face should rarely reach it; a negative one usually should.
Selection data only (PublicTest by default): PrivateTest stays for reporting accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks._machine import describe  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.scoring import CONFUSION_INDEX  # noqa: E402
from training.cli import SHARED_DATA  # noqa: E402
from training.data import load as load_data  # noqa: E402
from training.evaluate import predict  # noqa: E402
from training.labels import EMOTIONS  # noqa: E402
from training.modelio import DEFAULT_MODEL  # noqa: E402
from training.modelio import load as load_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--data", default=str(SHARED_DATA))
    ap.add_argument("--split", default="PublicTest", choices=["Training", "PublicTest"])
    ap.add_argument("--config", default=None, help="engine config to read the thresholds from")
    args = ap.parse_args()
    cfg = load_config(args.config)
    floor, ceiling = cfg.scoring.confusion_floor, cfg.scoring.confusion_ceiling
    on = cfg.alerts.on_threshold

    part = load_data(args.data).split(args.split)
    flip = cfg.classify.flip_average  # as the engine reads faces
    mass = predict(load_model(args.model), part.images, tta=flip)[:, CONFUSION_INDEX].sum(axis=1)
    score = np.clip((mass - floor) / (ceiling - floor), 0.0, 1.0)
    labels = part.labels
    groups = {
        "neutral": labels == EMOTIONS.index("neutral"),
        "calm (happy or neutral)": np.isin(labels, [EMOTIONS.index("happy"), EMOTIONS.index("neutral")]),
        "negative (angry/fear/sad/surprise)": np.isin(labels, CONFUSION_INDEX),
    }
    print(f"machine: {describe()}")
    print(f"model {Path(args.model).name} on {args.split} ({len(labels)} faces); "
          f"flip_average {flip}; confusion_floor {floor}, confusion_ceiling {ceiling}, on_threshold {on}")
    print(f"{'faces':<38}{'n':>6}{'mean mass':>11}{'score >= on':>13}")
    for name, sel in groups.items():
        print(f"{name:<38}{sel.sum():>6}{mass[sel].mean():>11.2f}{(score[sel] >= on).mean():>12.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
