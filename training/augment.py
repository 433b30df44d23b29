"""Training-time augmentation as Keras layers (backend-agnostic, run inside fit)."""

from __future__ import annotations

import keras
from keras import layers


def augmenter(seed: int = 1337) -> keras.Sequential:
    """Flip, small rotation/shift/zoom, mild contrast change and random erasing.

    Faces in FER2013 are roughly aligned, so the geometric jitter stays small; random
    erasing stands in for hands, glasses and hair covering part of a face in class.
    """
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.04, fill_mode="nearest", seed=seed + 1),  # about +-14 degrees
            layers.RandomTranslation(0.08, 0.08, fill_mode="nearest", seed=seed + 2),
            layers.RandomZoom(0.1, fill_mode="nearest", seed=seed + 3),
            layers.RandomContrast(0.2, value_range=(0.0, 1.0), seed=seed + 4),
            layers.RandomErasing(factor=0.5, scale=(0.02, 0.15), value_range=(0.0, 1.0), seed=seed + 5),
        ],
        name="augment",
    )
