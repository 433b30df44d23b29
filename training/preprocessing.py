"""The one preprocessing function shared by training, evaluation and the engine.

A face goes in as any grey or BGR image (uint8, any size); what comes out is what
every model in ``models/`` takes: float32, shape (N, 48, 48, 1), values in [0, 1].
Per-image standardisation happens inside the models (first layer), so that a model
file is self-contained and the engine cannot get the normalisation wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

INPUT_SIZE = 48


def to_grey48(face: np.ndarray) -> np.ndarray:
    """One face crop (grey or BGR/BGRA, any size) to a 48x48 uint8 grey image."""
    if face.ndim == 3 and face.shape[2] == 4:
        face = cv2.cvtColor(face, cv2.COLOR_BGRA2GRAY)
    elif face.ndim == 3 and face.shape[2] == 3:
        face = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    elif face.ndim == 3 and face.shape[2] == 1:
        face = face[:, :, 0]
    if face.ndim != 2 or face.size == 0:
        raise ValueError(f"not an image: shape {face.shape}")
    if face.dtype != np.uint8:
        face = np.clip(face, 0, 255).astype(np.uint8)
    if face.shape != (INPUT_SIZE, INPUT_SIZE):
        # INTER_AREA when shrinking avoids aliasing; camera crops are usually larger than 48 px.
        shrinking = face.shape[0] > INPUT_SIZE or face.shape[1] > INPUT_SIZE
        face = cv2.resize(
            face,
            (INPUT_SIZE, INPUT_SIZE),
            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
        )
    return face


def prepare_faces(faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """A batch of faces to the model input: float32 (N, 48, 48, 1) in [0, 1].

    Accepts an array (N, 48, 48) of uint8 as stored in FER2013, or a list of crops of
    any size and colour.
    """
    if isinstance(faces, np.ndarray) and faces.ndim == 3 and faces.shape[1:] == (INPUT_SIZE, INPUT_SIZE):
        grey = faces.astype(np.uint8, copy=False)
    else:
        grey = np.stack([to_grey48(f) for f in faces]) if len(faces) else np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
    return (grey.astype(np.float32) / 255.0)[..., None]
