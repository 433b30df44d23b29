"""How good the evidence behind one face reading is, and whether it is good enough to read an
expression from it at all.

Every observation carries its evidence: the detector's confidence, the face's size (its box),
head yaw/pitch (``engine.attention``), and three numbers measured here on the face's grey crop
resized to the model's 48x48 (what the expression model sees): **blur** (variance of the
Laplacian: little fine detail = blurred or upscaled from a few pixels), **brightness** (mean grey,
0-255) and **contrast** (standard deviation of the grey levels).

A reading is **readable** when it passes the ``[quality]`` floor of ``engine/config.toml``; else it
gets one reason, the first that applies, in this order: ``small`` (face under ``min_face_px``),
``turned`` (``|yaw|`` over ``max_yaw_deg``, or pitched up past ``max_pitch_deg``), ``down`` (pitched
down past ``max_pitch_deg``: a head over a book or a desk), ``blurred`` (blur under ``min_blur``),
``dark`` (brightness under ``min_brightness`` or contrast under ``min_contrast``). Unreadable
readings do not count towards emotion, confusion or "confused" alerts (``engine.scoring``);
head pose still counts towards engagement. Yaw and pitch that could not be measured (pitch
needs the face mesh, faces of ``[attention] mesh_min_face_px`` and up) do not make a face
unreadable. How the shipped floor was chosen: ``benchmarks/quality_floor.py`` and
``docs/engine_scoring.md``.

Cost: one small crop, colour conversion, resize and Laplacian per face per frame (a few tens of
microseconds; the figure is in ``docs/engine_scoring.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.config import AlignConfig, QualityConfig
from engine.detect import Face

SIDE = 48  # the model's input side: quality is measured on what the model sees
SMALL, TURNED, DOWN, BLURRED, DARK = "small", "turned", "down", "blurred", "dark"
REASONS = (SMALL, TURNED, DOWN, BLURRED, DARK)  # the order in which they are checked


@dataclass(frozen=True)
class FaceQuality:
    """The evidence of one face reading and the verdict on it."""

    score: float  # the detector's confidence, 0..1
    blur: float  # variance of the Laplacian of the 48x48 grey crop (higher = sharper)
    brightness: float  # mean grey level of the crop, 0..255
    contrast: float  # standard deviation of the crop's grey levels
    readable: bool
    reason: str | None  # one of REASONS when not readable, else None


def grey_crop(frame_bgr: np.ndarray, face: Face, align: AlignConfig) -> np.ndarray:
    """The face as the model frames it (``engine.align``: the box grown by ``margin`` a side and
    moved up by ``center_up``), grey, 48x48; no rotation (it does not change these measures) and
    no warp of the whole frame, so it costs only the face's pixels."""
    side = max(face.w, face.h) * (1 + 2 * align.margin)
    cx, cy = face.x + face.w / 2, face.y + face.h / 2 - align.center_up * face.h
    height, width = frame_bgr.shape[:2]
    x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    x1, y1 = min(width, int(np.ceil(cx + side / 2))), min(height, int(np.ceil(cy + side / 2)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((SIDE, SIDE), np.uint8)
    crop = frame_bgr[y0:y1, x0:x1]
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def measure(grey48: np.ndarray) -> tuple[float, float, float]:
    """(blur, brightness, contrast) of a 48x48 grey face (a FER2013 picture or :func:`grey_crop`)."""
    lap = cv2.Laplacian(grey48, cv2.CV_32F)
    mean, std = cv2.meanStdDev(grey48)
    return float(lap.var()), float(mean[0, 0]), float(std[0, 0])


def verdict(size_px: float, yaw: float | None, pitch: float | None, blur: float, brightness: float,
            contrast: float, cfg: QualityConfig) -> str | None:
    """None when readable, else the first reason (see the module docstring) that applies."""
    if size_px < cfg.min_face_px:
        return SMALL
    if (yaw is not None and abs(yaw) > cfg.max_yaw_deg) or (pitch is not None and pitch > cfg.max_pitch_deg):
        return TURNED
    if pitch is not None and pitch < -cfg.max_pitch_deg:
        return DOWN
    if blur < cfg.min_blur:
        return BLURRED
    if brightness < cfg.min_brightness or contrast < cfg.min_contrast:
        return DARK
    return None


@dataclass(frozen=True)
class QualityJudge:
    cfg: QualityConfig
    align: AlignConfig

    def judge(self, frame_bgr: np.ndarray, face: Face, yaw: float | None, pitch: float | None) -> FaceQuality:
        blur, brightness, contrast = measure(grey_crop(frame_bgr, face, self.align))
        reason = verdict(face.size, yaw, pitch, blur, brightness, contrast, self.cfg)
        return FaceQuality(float(face.score), blur, brightness, contrast, reason is None, reason)
