"""Loading and checking model files; the shipped default model's location."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from training.labels import NUM_CLASSES
from training.preprocessing import INPUT_SIZE

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS_DIR / "fer_fast.keras"


class ModelError(Exception):
    """A model file that is missing, unreadable or of the wrong shape."""


def load(path: str | os.PathLike | None = None):
    """Load a .keras model and check it takes 48x48x1 faces and gives 7 probabilities."""
    import keras  # imported here: loading keras costs seconds, callers that only need paths don't pay

    p = Path(path) if path else DEFAULT_MODEL
    if not p.exists():
        raise ModelError(f"model file not found: {p}")
    try:
        model = keras.saving.load_model(p, compile=False)
    except Exception as exc:  # keras raises many types for a bad file; all mean "unusable"
        raise ModelError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if in_shape[1:] != (INPUT_SIZE, INPUT_SIZE, 1) or out_shape[1:] != (NUM_CLASSES,):
        raise ModelError(
            f"{p} takes {in_shape[1:]} and gives {out_shape[1:]}; an emotion model must take "
            f"({INPUT_SIZE}, {INPUT_SIZE}, 1) grey faces and give {NUM_CLASSES} probabilities"
        )
    return model


def card_path(model_path: str | os.PathLike) -> Path:
    return Path(model_path).with_suffix(".json")


def read_card(model_path: str | os.PathLike) -> dict:
    p = card_path(model_path)
    return json.loads(p.read_text()) if p.exists() else {}


def faces_per_second(model, batch: int, seconds: float = 3.0) -> float:
    """Steady-state inference throughput at a batch size (after two warm-up calls)."""
    x = np.random.default_rng(0).random((batch, INPUT_SIZE, INPUT_SIZE, 1), dtype=np.float32)
    model.predict_on_batch(x)
    model.predict_on_batch(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.predict_on_batch(x)
        n += batch
    return n / (time.perf_counter() - start)
