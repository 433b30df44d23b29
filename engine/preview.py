"""The live view: the latest analysed frame with each student's box and label, written as a
JPEG that the dashboard's Live class page shows (``python -m engine live ... --preview PATH``).

Written atomically (temporary name, then ``os.replace``) so a reader never sees half a file,
and at most every ``every_s`` seconds so the encoding costs little of the frame budget. It is
a view, not a recording: one file, overwritten, removed when the engine stops (``close``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

MAX_WIDTH = 1280  # larger frames are scaled down before encoding (a page shows them smaller anyway)
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Mark:
    """One face on the live view."""

    box: tuple[float, float, float, float]  # x, y, w, h in frame pixels
    text: str  # e.g. "Student 3 · happy"
    level: float | None = None  # engagement in [0, 1]: red (0) to green (1); None = grey


def colour(level: float | None) -> tuple[int, int, int]:
    if level is None or not np.isfinite(level):
        return (200, 200, 200)
    v = float(np.clip(level, 0.0, 1.0))
    return (40, int(60 + 180 * v), int(230 * (1 - v)) + 20)  # BGR


def annotate(image: np.ndarray, marks: Sequence[Mark]) -> np.ndarray:
    """A scaled copy of ``image`` with boxes and labels drawn."""
    scale = min(1.0, MAX_WIDTH / image.shape[1])
    out = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    thickness = max(1, round(out.shape[1] / 640))
    font = 0.35 + 0.1 * thickness
    for m in marks:
        x, y, w, h = (round(v * scale) for v in m.box)
        c = colour(m.level)
        cv2.rectangle(out, (x, y), (x + w, y + h), c, thickness)
        (tw, th), base = cv2.getTextSize(m.text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        ty = y - 3 if y - th - base - 3 >= 0 else y + h + th + 3
        cv2.rectangle(out, (x, ty - th - 2), (x + tw + 4, ty + base - 1), c, -1)
        cv2.putText(out, m.text, (x + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 1, cv2.LINE_AA)
    return out


class PreviewWriter:
    """Keeps ``path`` showing the latest annotated frame."""

    def __init__(self, path: str | Path, every_s: float = 0.5):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.every_s = every_s
        self._last = -float("inf")
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")

    def write(self, image: np.ndarray, marks: Sequence[Mark], force: bool = False) -> bool:
        """Write the view when ``every_s`` has passed since the last one; True when written."""
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return False
        ok, data = cv2.imencode(".jpg", annotate(image, marks), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return False
        self._tmp.write_bytes(data.tobytes())
        os.replace(self._tmp, self.path)
        self._last = now
        return True

    def close(self) -> None:
        """The view ends with the class: no face picture is left behind."""
        for p in (self._tmp, self.path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
