"""When to pay for the full detection plan, and how faces are carried in between.

The full plan (``FaceDetector.detect``) can be hundreds of short-range tiles on a gallery or a
ceiling camera: 0.3-1.3 s a frame on a 2-core laptop, which is what made the engine slower than
real time on footage it had not been tuned on. Faces in a class barely move between analysed
frames, so the full plan runs only every ``detect_every_s`` (new faces appear within that
time), and on the frames in between each face of the previous frame is re-found in the crop
around it (``FaceDetector.relocate``: one 128 px model run a face). A face that cannot be
re-found (turned away, left, or the camera moved) brings the full plan back after
``redetect_lost_s``. The cost of a frame is then bounded by the number of faces, not by the
frame's size or the plan's tiles.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.config import DetectorConfig
from engine.detect import Face, FaceDetector, merge_faces


class ScheduledDetector:
    """``detect(image, t)`` like :class:`FaceDetector`, at a bounded cost per frame."""

    def __init__(self, detector: FaceDetector, cfg: DetectorConfig):
        self.detector = detector
        self.cfg = cfg
        self._previous: list[Face] = []
        self._full_at = -math.inf
        self._lost_at: float | None = None

    def detect(self, image: np.ndarray, t: float) -> list[Face]:
        if self._full_due(t):
            faces = self.detector.detect(image, t, trusted=self._previous)
            self._full_at, self._lost_at = t, None
        else:
            faces = self._relocate(image, t)
        self._previous = faces
        return faces

    def _full_due(self, t: float) -> bool:
        if not self._previous or t < self._full_at:  # nobody to carry, or the clock went back (a new file)
            return True
        if t - self._full_at >= self.cfg.detect_every_s:
            return True
        return self._lost_at is not None and t - self._lost_at >= self.cfg.redetect_lost_s

    def _relocate(self, image: np.ndarray, t: float) -> list[Face]:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        found = [self.detector.relocate(rgb, f) for f in self._previous]
        if any(f is None for f in found) and self._lost_at is None:
            self._lost_at = t
        kept = [f for f in found if f is not None]
        # Two neighbours' crops can both settle on one face: keep it once (boxes are already
        # cut to the frame by relocate).
        return merge_faces(kept, self.cfg.nms_iou, self.cfg.nms_containment)
