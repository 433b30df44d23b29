"""Expression probabilities for the faces of a frame, in one model call."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.runtime import interpreter
from training import modelio
from training.labels import NUM_CLASSES
from training.preprocessing import INPUT_SIZE

log = logging.getLogger(__name__)


CHUNKS = (16, 4, 1)  # TensorFlow Lite batch sizes kept allocated; a batch is cut into these, nothing padded


class ExpressionModel:
    """The FER CNN (``models/fer_fast.keras`` by default). ``predict`` takes the output of
    ``engine.align.model_inputs`` (the shared preprocessing) and returns (N, 7) probabilities in
    ``training.labels.EMOTIONS`` order.

    On the CPU (Keras on its TensorFlow backend, the default install) the model runs in
    TensorFlow Lite, converted from the ``.keras`` file once per machine and kept in
    ``tflite_cache_dir()`` under the file's SHA-256, so a retrained or replaced model is
    converted afresh and never mistaken for the old one. Same outputs (within 1e-5) in ~0.75x
    the time on a 2-core laptop, alternating with the face model in a loop: 1.7 ms a face against
    2.0-2.3 with Keras's ``predict_on_batch``. The interpreter comes from ``ai-edge-litert``,
    without TensorFlow (engine/runtime.py); TensorFlow is imported only to convert. Under another backend
    (``KERAS_BACKEND=jax`` on a GPU worker, requirements-gpu.txt), or if the conversion fails,
    Keras runs it as before. ``threads``: the CPU threads of the
    TensorFlow Lite runtime (default: the cores, at most 4)."""

    def __init__(self, path: str | Path | None = None, threads: int | None = None):
        self.path = Path(path) if path else modelio.DEFAULT_MODEL
        if not self.path.exists():
            raise modelio.ModelError(f"model file not found: {self.path}")
        card = modelio.read_card(self.path)
        acc = (card.get("private_test") or {}).get("accuracy")
        self.version = self.path.name + (f" (PrivateTest {acc:.3f})" if isinstance(acc, float) else "")
        self.threads = threads or min(4, os.cpu_count() or 1)
        self.runtime = "keras"
        self._interpreters: dict[int, tuple[object, int, int]] = {}  # batch size -> (interpreter, input, output)
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            self._interpreters = _lite_interpreters(self.path, self.threads)
        if self._interpreters:
            self.runtime = "tflite"
            return
        self.model = modelio.load(self.path)  # raises modelio.ModelError in words
        self._input_name = self.model.input_names[0] if getattr(self.model, "input_names", None) else None

    def predict(self, x: np.ndarray, flip_average: bool = False) -> np.ndarray:
        """(N, 7) probabilities; ``flip_average`` averages each face with its mirror image
        (sent in the same batch, so still one model call)."""
        n = len(x)
        if n == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        if flip_average:
            x = np.concatenate([x, x[:, :, ::-1]])
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._interpreters:
            probs = self._run_lite(x)
        else:
            # predict_on_batch: one graph call for the whole frame, no per-call Dataset/callback
            # machinery (model.predict costs ~20 ms more per frame).
            batch = {self._input_name: x} if self._input_name else x
            probs = np.asarray(self.model.predict_on_batch(batch), dtype=np.float32)
        return (probs[:n] + probs[n:]) / 2 if flip_average else probs

    def _run_lite(self, x: np.ndarray) -> np.ndarray:
        out, i = [], 0
        while i < len(x):
            size = next(c for c in CHUNKS if len(x) - i >= c)
            it, inp, outp = self._interpreters[size]
            it.set_tensor(inp, x[i:i + size])
            it.invoke()
            out.append(it.get_tensor(outp).copy())
            i += size
        return np.concatenate(out)

    def warm_up(self) -> None:
        """The first call traces the graph (a second or more); pay it before timing starts."""
        self.predict(np.zeros((1, 48, 48, 1), np.float32))


def tflite_cache_dir() -> Path:
    """Where converted models are kept: ``$CLASSROOM_MODEL_CACHE``, else the user's cache folder."""
    env = os.environ.get("CLASSROOM_MODEL_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "classroom-engagement"
    return base.expanduser()


def _lite_interpreters(path: Path, threads: int) -> dict[int, tuple[object, int, int]]:
    """One TensorFlow Lite interpreter per batch size in ``CHUNKS`` for the model at ``path``,
    with its input and output tensor indices (looked up once, not on every call),
    converting it on first use; {} if it cannot be converted or does not take 48x48 grey faces
    to 7 probabilities (the Keras path then loads it, and says what is wrong in words)."""
    import warnings

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cached = tflite_cache_dir() / f"{path.stem}-{digest[:16]}.tflite"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if not cached.exists():
                _convert(path, cached)
            content = cached.read_bytes()
            interpreters = {}
            for size in CHUNKS:
                it = interpreter(threads, model_content=content)
                it.resize_tensor_input(it.get_input_details()[0]["index"], [size, INPUT_SIZE, INPUT_SIZE, 1])
                it.allocate_tensors()
                output = it.get_output_details()[0]
                if tuple(output["shape"]) != (size, NUM_CLASSES):
                    return {}
                interpreters[size] = (it, it.get_input_details()[0]["index"], output["index"])
            return interpreters
        except Exception as exc:  # a layer the converter does not know, a read-only cache: Keras instead
            log.warning("expression model runs in Keras, not TensorFlow Lite: %s: %s", type(exc).__name__, exc)
            return {}


def _convert(path: Path, target: Path) -> None:
    """The ``.keras`` model as a TensorFlow Lite flat buffer at ``target`` (written whole or not at all)."""
    import tempfile

    import tensorflow as tf

    model = modelio.load(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        model.export(tmp + "/saved", format="tf_saved_model", verbose=False)
        flat = tf.lite.TFLiteConverter.from_saved_model(tmp + "/saved").convert()
        part = Path(tmp) / "model.tflite"
        part.write_bytes(flat)
        os.replace(part, target)  # two workers converting at once: each writes whole, the last wins


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
