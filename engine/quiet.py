"""Silencing the native libraries' start-up chatter (MediaPipe/TFLite write "INFO: Created
TensorFlow Lite XNNPACK delegate", "W0000 ... Feedback manager ..." straight to file
descriptor 2 when their graphs start). stderr is where the engine's progress bar and its one
line of error go, so the graphs are started (and run once on a blank picture) with fd 2
pointed at /dev/null. Only start-up is silenced; anything said later still shows."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreter, captured streams)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
