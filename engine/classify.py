"""Expression probabilities for all faces of a frame, in one model call."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training import modelio
from training.labels import NUM_CLASSES


class ExpressionModel:
    """The FER CNN (``models/fer_fast.keras`` by default). ``predict`` takes the output of
    ``engine.align.model_inputs`` (the shared preprocessing) and returns (N, 7) probabilities in
    ``training.labels.EMOTIONS`` order."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else modelio.DEFAULT_MODEL
        self.model = modelio.load(self.path)  # raises modelio.ModelError in words
        self._input_name = self.model.input_names[0] if getattr(self.model, "input_names", None) else None
        card = modelio.read_card(self.path)
        acc = (card.get("private_test") or {}).get("accuracy")
        self.version = self.path.name + (f" (PrivateTest {acc:.3f})" if isinstance(acc, float) else "")

    def predict(self, x: np.ndarray, flip_average: bool = False) -> np.ndarray:
        """(N, 7) probabilities; ``flip_average`` averages each face with its mirror image
        (sent in the same batch, so still one model call)."""
        n = len(x)
        if n == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        if flip_average:
            x = np.concatenate([x, x[:, :, ::-1]])
        # predict_on_batch: one graph call for the whole frame, no per-call Dataset/callback
        # machinery (model.predict costs ~20 ms more per frame).
        batch = {self._input_name: x} if self._input_name else x
        probs = np.asarray(self.model.predict_on_batch(batch), dtype=np.float32)
        return (probs[:n] + probs[n:]) / 2 if flip_average else probs

    def warm_up(self) -> None:
        """The first call traces the graph (a second or more); pay it before timing starts."""
        self.predict(np.zeros((1, 48, 48, 1), np.float32))
