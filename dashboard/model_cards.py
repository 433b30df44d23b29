"""Model cards (``models/<name>.json``, written by ``python -m training train``) read as plain
JSON (the dashboard never imports training), and the published reference figures our
models are compared with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Reference:
    name: str
    accuracy: float  # FER2013 PrivateTest accuracy, or the top of a range
    low: float | None = None  # bottom of the range, when the source gives one
    source: str = ""


# FER2013 PrivateTest (3,589 faces) figures from the literature, for scale.
REFERENCES = (
    Reference("Human accuracy (approx.)", 0.65, 0.60,
              "Goodfellow et al. 2013, 'Challenges in representation learning' (65 ± 5 %)"),
    Reference("Seed projects (this repo's starting points)", 0.63, 0.55, "the seed scripts, as run"),
    Reference("fer package (mini-Xception)", 0.659, None, "Arriaga et al. 2017, mini-Xception"),
    Reference("Kaggle 2013 winner", 0.712, None, "Tang 2013, CNN with SVM loss"),
    Reference("Best published single CNNs", 0.733, 0.72, "Khaireddin & Chen 2021 (VGG variant, 73.3 %)"),
)


@dataclass(frozen=True)
class CardEvaluation:
    """A card's full evaluation section (``python -m training evaluate --write-card``)."""

    accuracy: float
    top2: float
    n: int
    per_class: dict  # label -> {precision, recall, f1, support}
    confusion: list  # rows = truth, columns = predicted, EMOTIONS order
    command: str = ""  # how it was made, when the card says


@dataclass(frozen=True)
class ModelCard:
    name: str
    path: Path
    raw: dict

    def accuracy(self, key: str = "private_test") -> float | None:
        part = self.raw.get(key) or {}
        return part.get("accuracy")

    def evaluation(self, key: str = "private_test") -> CardEvaluation | None:
        """The section's confusion matrix and per-class figures; None for a card written before
        cards carried them (accuracy and recall only)."""
        part = self.raw.get(key) or {}
        confusion, per_class = part.get("confusion"), part.get("per_class")
        if not (isinstance(confusion, list) and confusion and isinstance(per_class, dict) and per_class):
            return None
        n = part.get("n") or sum(sum(row) for row in confusion)
        return CardEvaluation(float(part["accuracy"]), float(part.get("top2") or 0.0), int(n), per_class, confusion,
                              str((self.raw.get("evaluated_with") or {}).get(key, "")))

    @property
    def parameters(self) -> int | None:
        return self.raw.get("parameters")

    @property
    def faces_per_second(self) -> float | None:
        return self.raw.get("faces_per_second_cpu_batch64")


def read_cards(models_dir: Path) -> list[ModelCard]:
    """Every readable model card in ``models_dir`` (JSON files with test results), by name."""
    cards = []
    for path in sorted(models_dir.glob("*.json")):
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a card being written right now, or not a card
        if isinstance(raw, dict) and ("private_test" in raw or "public_test" in raw):
            cards.append(ModelCard(name=str(raw.get("name") or path.stem), path=path, raw=raw))
    return cards


def cards_table(cards: list[ModelCard]) -> pd.DataFrame:
    rows = []
    for c in cards:
        pub, priv, tta = c.accuracy("public_test"), c.accuracy("private_test"), c.accuracy("private_test_flip_tta")
        rows.append({
            "model": c.name, "parameters": c.parameters, "PublicTest": pub, "PrivateTest": priv,
            "PrivateTest + flip TTA": tta, "PrivateTest top-2": (c.raw.get("private_test") or {}).get("top2"),
            "faces/s (CPU, batch 64)": c.faces_per_second, "epochs": c.raw.get("epochs_run"),
        })
    return pd.DataFrame(rows)


def comparison_rows(cards: list[ModelCard], evaluations: list) -> pd.DataFrame:
    """Ours (cards' PrivateTest, and stored PrivateTest evaluations of models without a card)
    beside the references, best first."""
    rows, seen = [], set()
    for c in cards:
        for key, suffix in (("private_test", ""), ("private_test_flip_tta", " + flip TTA")):
            acc = c.accuracy(key)
            if acc is not None:
                rows.append({"name": f"ours: {c.name}{suffix}", "accuracy": acc, "low": None, "group": "ours"})
                seen.add((c.name, bool(suffix)))
    for e in evaluations:  # newest first: keep the latest per model/TTA
        if e.split == "PrivateTest" and (e.model_name, e.tta) not in seen:
            seen.add((e.model_name, e.tta))
            rows.append({"name": f"ours: {e.model_name}{' + flip TTA' if e.tta else ''} (evaluation)",
                         "accuracy": e.accuracy, "low": None, "group": "ours"})
    for r in REFERENCES:
        rows.append({"name": r.name, "accuracy": r.accuracy, "low": r.low, "group": "reference"})
    return pd.DataFrame(rows).sort_values("accuracy", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class Misclassified:
    images: np.ndarray  # (N, 48, 48) uint8
    true: np.ndarray  # (N,) label indices
    pred: np.ndarray  # (N,) label indices


def read_misclassified(models_dir: Path, model_name: str) -> Misclassified | None:
    """``models/<name>.misclassified.npz`` (arrays ``images``, ``true``, ``pred``), when the
    training CLI has written one; None otherwise or when it is unreadable."""
    path = models_dir / f"{model_name}.misclassified.npz"
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            return Misclassified(np.asarray(z["images"]), np.asarray(z["true"]), np.asarray(z["pred"]))
    except (OSError, KeyError, ValueError):
        return None
