"""Training-time augmentation: real changes to the faces, reproducible from the seed, and an
off switch that hands the faces over untouched (for ablations)."""

from __future__ import annotations

import numpy as np

from training.augment import AugmentedFaces, augment_batch


def _faces(n=32):
    rng = np.random.default_rng(0)
    # A left-right asymmetric gradient, so a mirror image is told apart from the original.
    base = np.tile(np.linspace(0, 255, 48, dtype=np.float32), (48, 1))
    return np.clip(base[None] + rng.normal(0, 5, (n, 48, 48)), 0, 255).astype(np.uint8)


def test_augment_batch_changes_faces_reproducibly_and_mirrors_some():
    faces = _faces()
    a = augment_batch(faces, np.random.default_rng(7))
    b = augment_batch(faces, np.random.default_rng(7))
    assert a.shape == faces.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)  # same seed, same batch
    assert not np.array_equal(a, augment_batch(faces, np.random.default_rng(8)))
    changed = [np.abs(a[i].astype(int) - faces[i]).mean() > 2 for i in range(len(faces))]
    assert all(changed)
    # Left half brighter than the right = mirrored (the originals are darker on the left).
    mirrored = (a[:, :, :24].mean(axis=(1, 2)) > a[:, :, 24:].mean(axis=(1, 2))).mean()
    assert 0.2 < mirrored < 0.8


def test_batches_carry_targets_and_weights_and_the_off_switch_keeps_faces_as_they_are():
    faces = _faces(10)
    targets = np.eye(7, dtype=np.float32)[np.arange(10) % 7]
    weights = np.linspace(0.5, 1.5, 10, dtype=np.float32)
    plain = AugmentedFaces(faces, targets, weights, batch_size=4, seed=1, augment=False)
    assert len(plain) == 3
    x, y, w = plain[0]
    sel = plain.order[:4]
    assert x.shape == (4, 48, 48, 1) and x.dtype == np.float32
    assert np.allclose(x[..., 0], faces[sel] / 255.0)
    assert np.array_equal(y, targets[sel]) and np.array_equal(w, weights[sel])
    x_aug, _, _ = AugmentedFaces(faces, targets, weights, batch_size=4, seed=1)[0]
    assert not np.allclose(x_aug, x)
