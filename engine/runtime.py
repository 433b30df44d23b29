"""The engine's model runtimes, loaded without TensorFlow.

Importing TensorFlow costs ~6 s on a 2-core laptop, paid by every ``python -m engine`` run and
every batch worker before its first frame, and the engine does not need it: both models run in
TensorFlow Lite's interpreter, which the ``ai-edge-litert`` wheel carries alone (imported in
~0.1 s, the same XNNPACK kernels). TensorFlow is still imported where it is needed: to convert a
``.keras`` model once per machine (engine/classify.py) and for the Keras fallback.

MediaPipe would import TensorFlow anyway: ``mediapipe.tasks`` looks for a TensorFlow
documentation helper and falls back to a no-op when TensorFlow is not installed
(``mediapipe/tasks/python/core/optional_dependencies.py``). :func:`import_mediapipe` makes it
take that fallback; nothing else in MediaPipe's face detection or face mesh uses TensorFlow.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType


def import_mediapipe() -> ModuleType:
    """``import mediapipe`` without importing TensorFlow along with it. The engine calls it while
    it starts, before its threads do (an import of TensorFlow in another thread at that moment
    would fail)."""
    if "mediapipe" in sys.modules or "tensorflow" in sys.modules:
        import mediapipe

        return mediapipe
    sys.modules["tensorflow"] = None  # `import tensorflow...` raises ModuleNotFoundError meanwhile
    try:
        import mediapipe
    finally:
        if sys.modules.get("tensorflow", ...) is None:
            del sys.modules["tensorflow"]  # a later import of TensorFlow works as usual
    return mediapipe


def interpreter(threads: int, model_path: str | Path | None = None, model_content: bytes | None = None):
    """A TensorFlow Lite interpreter of a model file or flat buffer, on ``threads`` CPU threads."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(model_path) if model_path else None, model_content=model_content,
                       num_threads=threads)
