"""Face crops for the expression model: square, eye line level, a little margin.

FER2013 faces are roughly frontal, eyes level, face filling the square. A face tilted in the
frame (a head resting on a hand) is rotated back by its eye line (BlazeFace's eye keypoints)
before the crop; tilts under ``rotate_min_deg`` are left alone (the model was trained with
rotations of up to 14 degrees, and levelling small tilts measurably lowered accuracy).
FER2013 pictures are centred higher on the face than BlazeFace's box (they include the
forehead), so the crop's centre is moved up by ``center_up`` of the box height. The crop is
one affine warp of the grey frame (rotation + translation), so it costs the same
whether rotated or not, and faces at the frame edge are padded by edge replication instead of
shrinking. The result then goes through ``training.preprocessing.prepare_faces``, exactly as
in training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from engine.config import AlignConfig
from engine.detect import Face
from training.preprocessing import prepare_faces


def eye_roll(face: Face) -> float:
    """Angle of the eye line in degrees (image coordinates, y down); 0 = level."""
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]  # person's right eye is on the image's left
    return math.degrees(math.atan2(ly - ry, lx - rx))


def aligned_crop(grey: np.ndarray, face: Face, cfg: AlignConfig) -> np.ndarray:
    """The face's square crop from a grey frame, rotated so the eyes are level."""
    side = max(2, round(max(face.w, face.h) * (1 + 2 * cfg.margin)))
    cx, cy = face.x + face.w / 2, face.y + face.h / 2 - cfg.center_up * face.h
    roll = eye_roll(face)
    # A roll past 45 degrees is a keypoint error, not a head lying on its side.
    angle = roll if cfg.rotate_min_deg <= abs(roll) <= 45 else 0.0
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    m[0, 2] += side / 2 - cx
    m[1, 2] += side / 2 - cy
    return cv2.warpAffine(grey, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def model_inputs(frame_bgr: np.ndarray, faces: Sequence[Face], cfg: AlignConfig) -> np.ndarray:
    """(N, 48, 48, 1) float32 model input for the faces of one frame."""
    if not faces:
        return prepare_faces([])
    grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY) if frame_bgr.ndim == 3 else frame_bgr
    return prepare_faces([aligned_crop(grey, f, cfg) for f in faces])
