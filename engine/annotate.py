"""``process --annotate OUT.mp4``: the analysed frames with each student's box, "Student N" and
emotion; ``--emoji`` adds a small drawn face per emotion (drawn with OpenCV primitives, so no
emoji font is needed). The boxes and labels are the live view's (``engine/preview.py``).

The annotated video is written at the analysis rate (one frame per analysed frame), so it
plays at the original speed. It holds faces: written only when asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from engine.preview import Mark, annotate, colour

# Mouth curve (+ smile, - frown), eyebrow slant (+ angry inner-down), eyes wide, mouth open.
_GLYPHS = {
    "angry": (-0.6, 1.0, False, False),
    "disgust": (-0.4, 0.4, False, False),
    "fear": (-0.3, -0.8, True, True),
    "happy": (1.0, 0.0, False, False),
    "sad": (-1.0, -0.6, False, False),
    "surprise": (0.0, -0.5, True, True),
    "neutral": (0.0, 0.0, False, False),
}
_SKIN = (60, 200, 250)  # BGR yellow
_INK = (30, 30, 30)


def draw_emoji(img: np.ndarray, emotion: str, centre: tuple[int, int], radius: int) -> None:
    """A small face for ``emotion`` drawn on ``img`` in place."""
    curve, brow, wide, open_mouth = _GLYPHS.get(emotion, _GLYPHS["neutral"])
    cx, cy, r = int(centre[0]), int(centre[1]), max(4, int(radius))
    cv2.circle(img, (cx, cy), r, _SKIN, -1, cv2.LINE_AA)
    cv2.circle(img, (cx, cy), r, _INK, 1, cv2.LINE_AA)
    ex, ey, er = round(0.38 * r), round(0.25 * r), max(1, round((0.18 if wide else 0.11) * r))
    for side in (-1, 1):
        cv2.circle(img, (cx + side * ex, cy - ey), er, _INK, -1, cv2.LINE_AA)
        if brow:
            # Inner end lower for angry (brow > 0), raised for sad/fear (brow < 0).
            inner = (cx + side * round(0.15 * r), cy - round((0.5 - 0.15 * brow) * r))
            outer = (cx + side * round(0.6 * r), cy - round((0.5 + 0.15 * brow) * r))
            cv2.line(img, inner, outer, _INK, 1, cv2.LINE_AA)
    my, mw = cy + round(0.4 * r), round(0.45 * r)
    if open_mouth:
        cv2.ellipse(img, (cx, my), (max(1, round(0.2 * r)), max(1, round(0.25 * r))), 0, 0, 360, _INK, -1, cv2.LINE_AA)
        return
    bend = round(0.25 * r * abs(curve))
    pts = np.array([(cx + round(mw * math.cos(a)), my + round(math.copysign(bend, curve) * math.sin(a) if curve else 0))
                    for a in np.linspace(0, math.pi, 9)], np.int32)
    cv2.polylines(img, [pts], False, _INK, 1, cv2.LINE_AA)


class AnnotatedVideo:
    """Writes annotated frames to an mp4 (OpenCV ``mp4v``)."""

    def __init__(self, path: str | Path, fps: float, emoji: bool = False):
        self.path = Path(path).expanduser()
        if not self.path.parent.is_dir():
            raise OSError(f"folder for the annotated video does not exist: {self.path.parent}")
        self.fps, self.emoji = fps, emoji
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, image: np.ndarray, marks: Sequence[Mark], emotions: Sequence[str | None]) -> None:
        out = annotate(image, marks)
        scale = out.shape[1] / image.shape[1]
        if self.emoji:
            for m, emotion in zip(marks, emotions, strict=True):
                if emotion is None:  # attention-only: no expression was read
                    continue
                x, y, w, h = (v * scale for v in m.box)
                r = max(6, round(min(w, h) * 0.16))
                draw_emoji(out, emotion, (round(x + w - r - 2), round(y + h - r - 2)), r)
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                           (out.shape[1], out.shape[0]))
            if not self._writer.isOpened():
                raise OSError(f"OpenCV cannot write {self.path} (mp4v)")
        self._writer.write(out)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def marks_for(faces, labels: Sequence[str], emotions: Sequence[str | None], engagement: Sequence[float]) -> list[Mark]:
    return [Mark(box=(f.x, f.y, f.w, f.h), text=f"{lab}: {emo}" if emo else lab, level=eng)
            for f, lab, emo, eng in zip(faces, labels, emotions, engagement, strict=True)]


__all__ = ["AnnotatedVideo", "draw_emoji", "marks_for", "colour"]
