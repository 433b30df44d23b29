"""Training-time augmentation: one affine warp per face (OpenCV), flip, random erasing.

Rotation, shift and zoom are composed into a single ``cv2.warpAffine`` so a face is
resampled once; chaining Keras' RandomRotation/RandomTranslation/RandomZoom layers
resamples three times and visibly blurs 48x48 faces, which made training images look
unlike the sharp test images.
"""

from __future__ import annotations

import math

import cv2
import keras
import numpy as np

from training.preprocessing import INPUT_SIZE


def augment_batch(images: np.ndarray, rng: np.random.Generator, max_rotation: float = 12.0,
                  max_shift: float = 0.08, zoom: float = 0.1, erase_prob: float = 0.5) -> np.ndarray:
    """Augment (N, 48, 48) uint8 faces; returns a new uint8 array of the same shape."""
    n = len(images)
    out = np.empty_like(images)
    angles = rng.uniform(-max_rotation, max_rotation, n)
    scales = rng.uniform(1 - zoom, 1 + zoom, n)
    shifts = rng.uniform(-max_shift, max_shift, (n, 2)) * INPUT_SIZE
    flips = rng.random(n) < 0.5
    centre = (INPUT_SIZE / 2 - 0.5, INPUT_SIZE / 2 - 0.5)
    for i in range(n):
        m = cv2.getRotationMatrix2D(centre, angles[i], scales[i])
        m[:, 2] += shifts[i]
        if flips[i]:
            m[0] = -m[0]
            m[0, 2] += INPUT_SIZE - 1
        out[i] = cv2.warpAffine(images[i], m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT_101)
    # Random erasing: a grey-noise rectangle of 2-15 % of the face (hands, hair, glasses).
    for i in np.flatnonzero(rng.random(n) < erase_prob):
        area = rng.uniform(0.02, 0.15) * INPUT_SIZE**2
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
        h = min(INPUT_SIZE, int(round(math.sqrt(area * aspect))))
        w = min(INPUT_SIZE, int(round(math.sqrt(area / aspect))))
        y, x = rng.integers(0, INPUT_SIZE - h + 1), rng.integers(0, INPUT_SIZE - w + 1)
        out[i, y:y + h, x:x + w] = rng.integers(0, 256, (h, w), dtype=np.uint8)
    return out


class AugmentedFaces(keras.utils.PyDataset):
    """Shuffled, augmented batches of (faces, one-hot labels, sample weights) for ``fit``."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                 batch_size: int, seed: int, augment: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.images, self.targets, self.weights = images, targets, weights
        self.augment = augment
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, idx: int):
        sel = self.order[idx * self.batch_size:(idx + 1) * self.batch_size]
        faces = augment_batch(self.images[sel], self.rng) if self.augment else self.images[sel]
        return (faces.astype(np.float32) / 255.0)[..., None], self.targets[sel], self.weights[sel]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.images))
