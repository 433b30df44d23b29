"""Evaluation metrics in the DESIGN.md JSON shape, plus flip test-time augmentation."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from training.labels import EMOTIONS, NUM_CLASSES
from training.preprocessing import prepare_faces


def predict(model, images: np.ndarray, tta: bool = False, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for (N, 48, 48) uint8 faces; ``tta`` averages with the mirror image."""
    x = prepare_faces(images)
    probs = model.predict(x, batch_size=batch_size, verbose=0)
    if tta:
        probs = (probs + model.predict(x[:, :, ::-1, :], batch_size=batch_size, verbose=0)) / 2
    return np.asarray(probs)


def metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """accuracy, top2, n, per_class {precision, recall, f1, support}, confusion (rows = truth),
    and the share of errors whose second guess was right."""
    pred = probs.argmax(axis=1)
    top2 = np.argsort(probs, axis=1)[:, -2:]
    in_top2 = (top2 == labels[:, None]).any(axis=1)
    wrong = pred != labels
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=range(NUM_CLASSES), zero_division=0)
    return {
        "accuracy": float((~wrong).mean()),
        "top2": float(in_top2.mean()),
        "n": int(labels.size),
        "per_class": {
            EMOTIONS[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i in range(NUM_CLASSES)
        },
        "confusion": confusion_matrix(labels, pred, labels=range(NUM_CLASSES)).tolist(),
        "second_guess_right": float(in_top2[wrong].mean()) if wrong.any() else 0.0,
    }


def format_report(m: dict, title: str = "") -> str:
    """The human-readable version of :func:`metrics` for the terminal."""
    lines = [title] if title else []
    lines.append(f"accuracy {m['accuracy']:.2%}   top-2 {m['top2']:.2%}   n={m['n']}   "
                 f"errors whose second guess was right: {m['second_guess_right']:.1%}")
    lines.append(f"{'':10}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for name, c in m["per_class"].items():
        lines.append(f"{name:10}{c['precision']:>10.2%}{c['recall']:>8.2%}{c['f1']:>8.2%}{c['support']:>9}")
    lines.append("confusion (rows = truth, columns = predicted): " + " ".join(e[:3] for e in EMOTIONS))
    for name, row in zip(EMOTIONS, m["confusion"], strict=True):
        lines.append(f"{name[:8]:>9} " + " ".join(f"{v:>4}" for v in row))
    return "\n".join(lines)


def save_misclassified(path, images: np.ndarray, labels: np.ndarray, probs: np.ndarray, n: int,
                       seed: int = 0) -> int:
    """A random sample of up to ``n`` wrongly classified faces (images, true, pred), for a person
    to look at; returns how many were saved."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    pick = np.sort(np.random.default_rng(seed).choice(wrong, size=min(n, wrong.size), replace=False))
    np.savez_compressed(path, images=images[pick], true=labels[pick], pred=pred[pick])
    return int(pick.size)
