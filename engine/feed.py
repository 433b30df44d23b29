"""Pictures handed to the engine one at a time through a file: the browser camera's path in.

The dashboard cannot pass a browser's camera to the engine as a device: the pictures arrive in
the dashboard's web server. So the dashboard replaces one picture file (write to a temporary
name, then ``os.replace``: readers never see half a file) each time the browser sends a frame,
and the engine watches that file:

    python -m engine live --feed uploads/browser-camera/live.jpg --db URL

A new picture is a new frame (at most ``fps`` a second); media time is seconds since the
engine started watching, wall time is UTC when the picture was read. Waiting for the first
picture is bounded (``first_wait_s``) so a browser that never sends one (camera permission
refused, tab closed) ends in a clear message before any session is recorded. A feed that
goes quiet for ``idle_s`` ends the source as lost.

Privacy: only the latest picture exists on disk; the engine never copies it and deletes it
when it stops watching (``close``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from engine.sources import Frame, Source, SourceError, SourceInfo, utcnow

POLL_S = 0.03  # how often the file is looked at; small against a 200 ms frame period


class FeedSource(Source):
    """Frames from a picture file that another program keeps replacing."""

    def __init__(self, path: str | Path, fps: float, first_wait_s: float = 120.0, idle_s: float = 60.0):
        super().__init__(fps)
        self.path = Path(path).expanduser()
        if not self.path.parent.is_dir():
            raise SourceError(f"feed folder not found: {self.path.parent}")
        self.idle_s = idle_s
        self._stamp: tuple[int, int] | None = None
        first = self._wait_first(first_wait_s)
        self.info = SourceInfo(kind="feed", name=f"feed {self.path.name}", width=first.shape[1],
                               height=first.shape[0], duration=None, native_fps=None, live=True)
        self._pending: np.ndarray | None = first

    def _read_if_new(self) -> np.ndarray | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp or st.st_size == 0:
            return None
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:  # replaced again while being read, or not a picture: try the next one
            return None
        self._stamp = stamp
        return image

    def _wait_first(self, wait_s: float) -> np.ndarray:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            image = self._read_if_new()
            if image is not None:
                return image
            time.sleep(POLL_S)
        raise SourceError(f"no picture arrived at {self.path} within {wait_s:g} s "
                          f"(browser camera not allowed, or the page was closed)")

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        period = 1.0 / self.fps
        last_yield, last_new, n_out = -period, start, 0
        while not self.stopping():
            image, self._pending = self._pending, None
            if image is None:
                image = self._read_if_new()
            now = time.monotonic()
            if image is None:
                if now - last_new > self.idle_s:
                    self.lost = True
                    self.end_note = (f"the browser camera sent no picture for {self.idle_s:g} s "
                                     f"(tab closed, camera stopped or network lost)")
                    return
                time.sleep(POLL_S)
                continue
            last_new = now
            if now - start - last_yield < period * 0.9:
                continue  # faster than the analysis rate: keep only the latest picture
            last_yield = now - start
            yield Frame(n_out, round(last_yield, 6), utcnow(), image)
            n_out += 1

    def close(self) -> None:
        """The feed's picture is consumed: none is left on disk after the class."""
        self.path.unlink(missing_ok=True)


def write_picture(path: str | Path, jpeg_or_png: bytes) -> None:
    """Replace the feed picture atomically (what a producer such as the dashboard calls)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(jpeg_or_png)
    os.replace(tmp, path)
