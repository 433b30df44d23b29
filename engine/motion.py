"""A known face followed from one analysed frame to the next by matching its pixels, as a cheap
stand-in for re-finding it with the detector.

Re-finding every known face with the short-range model (``FaceDetector.relocate``) is one
128 px model run a face a frame (~1.5 ms on a 2-core laptop): on a 25-tile gallery more than
half of all detection. Between two frames 0.2 s apart a seated student or a webcam face moves a
pixel or two and looks the same, so the previous frame's box, matched (normalised
cross-correlation) in a slightly larger window of the new frame, says where it went for
~0.1 ms. A face whose match is not close (it turned, someone else sat down, a gallery
reshuffled or swapped a tile's picture) is re-found by the detector, and so is every face at
least every ``[detector] refind_every_s`` (a match cannot see a face grow or shrink).
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.detect import Face

TEMPLATE_PX = 32  # the face box is matched at most this size: finer costs more and sees noise
SEARCH_MARGIN = 0.25  # the new frame is searched this share of the face's size beyond the old box


def follow(previous: np.ndarray, grey: np.ndarray, face: Face, min_match: float) -> Face | None:
    """``face`` (a box in the grey frame ``previous``) where it is in ``grey``, with its score;
    None if the best match of its pixels there is under ``min_match`` (normalised
    cross-correlation, 1 = the same pixels)."""
    h, w = grey.shape[:2]
    x0, y0 = int(round(face.x)), int(round(face.y))
    x1, y1 = int(round(face.x + face.w)), int(round(face.y + face.h))
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 - x0 < 8 or y1 - y0 < 8:
        return None
    margin = int(np.ceil(SEARCH_MARGIN * face.size))
    sx0, sy0 = max(0, x0 - margin), max(0, y0 - margin)
    sx1, sy1 = min(w, x1 + margin), min(h, y1 + margin)
    scale = min(1.0, TEMPLATE_PX / face.size)
    template = _scaled(previous[y0:y1, x0:x1], scale)
    window = _scaled(grey[sy0:sy1, sx0:sx1], scale)
    if window.shape[0] < template.shape[0] or window.shape[1] < template.shape[1] or template.std() < 1.0:
        return None  # a flat patch matches anywhere
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if not best >= min_match:  # NaN too
        return None
    # The peak to a fraction of a pixel (a parabola through it and its neighbours): whole
    # pixels of a shrunken face are 1.5-2.5 frame pixels, and the box a face is read and
    # recognised in (engine/reid.py) would step by that much.
    fx = bx + (_vertex(scores[by, bx - 1:bx + 2]) if 0 < bx < scores.shape[1] - 1 else 0.0)
    fy = by + (_vertex(scores[by - 1:by + 2, bx]) if 0 < by < scores.shape[0] - 1 else 0.0)
    dx, dy = sx0 + fx / scale - x0, sy0 + fy / scale - y0
    return Face(face.x + dx, face.y + dy, face.w, face.h, face.score,
                (face.keypoints + np.array([dx, dy], np.float32)).astype(np.float32), face.cut)


def _vertex(three: np.ndarray) -> float:
    """Offset (-0.5..0.5) of the top of the parabola through three values around a peak."""
    left, mid, right = (float(v) for v in three)
    curve = left - 2 * mid + right
    return float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5)) if curve < 0 else 0.0


def _scaled(patch: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return patch
    size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
    return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
