"""Expression probabilities for the faces of a frame, in one model call."""

from __future__ import annotations

import math
from collections.abc import Callable
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


class PacedReader:
    """Reads each student's expression about every ``interval_s`` (media seconds) instead of on
    every analysed frame, carrying the last reading in between.

    The model is most of a frame's cost on a full gallery (25 faces, mirror-averaged: ~60 ms on
    a 2-core laptop), while the scorer smooths expressions over ``[scoring] smoothing_s`` (1 s)
    anyway. Each frame reads every face seen for the first time plus the stalest of the rest,
    as many as keep the average age under ``interval_s``; so the work is spread evenly over the
    frames rather than all faces falling due together. 0 reads every face on every frame.

    ``max_per_s`` bounds the model's work on a crowded frame: with more faces than it reads in
    ``interval_s``, each face is read every ``faces / max_per_s`` seconds instead (a 49-tile
    gallery at 60 a second: every 0.82 s), so a frame's cost stops growing with its faces. The
    model runs near the CPU's peak already (~1.8 ms a 48 px face on a 2-core laptop: 116 M
    multiply-adds), so reading fewer faces is the only saving. 0: no bound."""

    def __init__(self, model: ExpressionModel, interval_s: float, flip_average: bool, max_per_s: float = 0.0):
        self.model = model
        self.interval_s = interval_s
        self.max_per_s = max_per_s
        self.flip_average = flip_average
        self._last: dict[object, tuple[float, np.ndarray]] = {}  # key -> (read at, probabilities)
        self._t: float | None = None

    def read(self, t: float, keys: list, inputs_for: Callable[[list[int]], np.ndarray]) -> np.ndarray:
        """(N, 7) probabilities for ``keys`` (one per face); ``inputs_for(indices)`` makes the
        model inputs of those faces only (aligning a face that is not read would be wasted)."""
        dt = t - self._t if self._t is not None and t > self._t else 0.0
        self._t = t
        last = self._last
        new = [i for i, k in enumerate(keys) if k not in last]
        known = sorted((i for i, k in enumerate(keys) if k in last), key=lambda i: last[keys[i]][0])
        interval = self.interval_s
        if interval > 0 and self.max_per_s > 0:
            interval = max(interval, len(keys) / self.max_per_s)
        if interval <= 0 or dt <= 0:
            quota = len(known)
        else:
            quota = min(len(known), math.ceil(len(known) * dt / interval))
        due = new + known[:quota]
        # Still due: a reading older than the interval (a frame that came late).
        due += [i for i in known[quota:] if t - last[keys[i]][0] >= interval > 0]
        probs = self.model.predict(inputs_for(due), flip_average=self.flip_average) if due else None
        fresh = {i: probs[j] for j, i in enumerate(due)}
        out = np.zeros((len(keys), NUM_CLASSES), np.float32)
        self._last = {}  # only faces of this frame: a student who comes back is read afresh
        for i, k in enumerate(keys):
            p = fresh[i] if i in fresh else last[k][1]
            self._last[k] = (t if i in fresh else last[k][0], p)
            out[i] = p
        return out
