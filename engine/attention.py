"""Attention cues per face: head yaw and pitch, eye openness, and the inner-brow gap.

Two ways to read them, by face size and CPU budget:

* **mesh**: MediaPipe FaceMesh (468 landmarks with relative depth) on the face's crop, for
  faces of at least ``mesh_min_face_px``. Yaw is the depth slope across the cheeks (landmarks
  234 -> 454), pitch the depth slope from chin to forehead (152 -> 10), eye openness the eye
  aspect ratio (EAR: lid gap over eye width) mapped linearly from ``eye_closed_ear`` (0) to
  ``eye_open_ear`` (1), brow the gap between the inner brow ends (55, 285) over face width.
  A mesh costs ~5-10 ms, so each student's is refreshed every ``mesh_interval_s`` with at most
  ``mesh_max_per_frame`` runs per frame (oldest first) and reused for ``mesh_keep_s``.
* **keypoints**: otherwise, yaw from BlazeFace's six keypoints (the nose's offset from the
  eyes' midpoint: the nose tip stands ~0.55 eye-distances in front of the eyes, so
  offset / eye distance = 0.55 tan(yaw)); pitch, eyes and brow are unknown (None).

Signs follow ``db.models.Observation``: yaw + = turned towards the image's right, pitch + = up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.config import AttentionConfig
from engine.detect import Face
from engine.quiet import native_stderr_silenced
from engine.runtime import import_mediapipe

NOSE_DEPTH = 0.55  # nose tip in front of the eye line, in eye distances (adult average)
MESH_MARGIN = 0.35  # FaceMesh finds the face itself in the crop: it needs some context around it
_RIGHT_EYE = (33, 160, 158, 133, 153, 144)  # person's right eye: corner, 2 upper lid, corner, 2 lower lid
_LEFT_EYE = (362, 385, 387, 263, 373, 380)


@dataclass(frozen=True)
class Attention:
    yaw: float | None  # degrees
    pitch: float | None  # degrees
    eye_openness: float | None  # 0 closed .. 1 open
    brow: float | None  # inner-brow gap / face width
    method: str  # "mesh" | "keypoints"
    t: float  # media time of the reading


def keypoint_yaw(face: Face) -> float | None:
    """Yaw in degrees from BlazeFace's eye and nose keypoints."""
    (rx, _), (lx, _), (nx, _) = face.keypoints[0], face.keypoints[1], face.keypoints[2]
    eye_dist = abs(lx - rx)
    if eye_dist < 1e-3:
        return None
    offset = nx - (lx + rx) / 2
    return math.degrees(math.atan(offset / (NOSE_DEPTH * eye_dist)))


def _ear(p: np.ndarray, idx: Sequence[int]) -> float:
    c0, u1, u2, c1, l2, l1 = (p[i, :2] for i in idx)
    width = np.linalg.norm(c1 - c0)
    return float((np.linalg.norm(u1 - l1) + np.linalg.norm(u2 - l2)) / (2 * width)) if width > 0 else 0.0


def cues_from_landmarks(p: np.ndarray, cfg: AttentionConfig, t: float = 0.0) -> Attention:
    """Cues from FaceMesh landmarks ``p`` (468, 3) in pixels (z in the same scale as x)."""
    cheek = p[454] - p[234]
    yaw = math.degrees(math.atan2(cheek[2], cheek[0]))
    up = p[10] - p[152]  # chin to forehead
    pitch = math.degrees(math.atan2(up[2], -up[1]))
    ear = (_ear(p, _RIGHT_EYE) + _ear(p, _LEFT_EYE)) / 2
    openness = float(np.clip((ear - cfg.eye_closed_ear) / (cfg.eye_open_ear - cfg.eye_closed_ear), 0.0, 1.0))
    width = float(np.linalg.norm(cheek[:2]))
    brow = float(np.linalg.norm(p[285, :2] - p[55, :2]) / width) if width > 0 else None
    return Attention(yaw, pitch, openness, brow, "mesh", t)


@dataclass
class AttentionEstimator:
    """Keeps each student's latest mesh reading and spends the per-frame mesh budget."""

    cfg: AttentionConfig
    _last_mesh: dict[int, Attention] = field(default_factory=dict)
    _last_try: dict[int, float] = field(default_factory=dict)
    meshes_run: int = 0

    def __post_init__(self):
        mp = import_mediapipe()  # heavy import, paid only by code that needs landmarks

        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                     refine_landmarks=False, min_detection_confidence=0.3)

    def warm_up(self) -> None:
        """Start the FaceMesh graph on a blank picture (its first run sets up threads)."""
        self._mesh.process(np.zeros((64, 64, 3), np.uint8))

    def estimate(self, t: float, frame_bgr: np.ndarray, students: Sequence[int],
                 faces: Sequence[Face]) -> list[Attention]:
        c = self.cfg
        due = [i for i, (s, f) in enumerate(zip(students, faces, strict=True))
               if f.size >= c.mesh_min_face_px and t - self._last_try.get(s, -math.inf) >= c.mesh_interval_s]
        due.sort(key=lambda i: self._last_try.get(students[i], -math.inf))
        for i in due[:c.mesh_max_per_frame]:
            s = students[i]
            self._last_try[s] = t
            reading = self._run_mesh(frame_bgr, faces[i], t)
            if reading is not None:
                self._last_mesh[s] = reading
        out = []
        for s, f in zip(students, faces, strict=True):
            m = self._last_mesh.get(s)
            if m is not None and t - m.t <= c.mesh_keep_s:
                out.append(m)
            else:
                out.append(Attention(keypoint_yaw(f), None, None, None, "keypoints", t))
        return out

    def _run_mesh(self, frame_bgr: np.ndarray, face: Face, t: float) -> Attention | None:
        # A square crop: FaceMesh projects its landmarks back correctly only for a square region
        # (MediaPipe warns "NORM_RECT without IMAGE_DIMENSIONS is only supported for the square ROI").
        side = round(max(face.w, face.h) * (1 + 2 * MESH_MARGIN))
        if side < 16:
            return None
        cx, cy = face.x + face.w / 2, face.y + face.h / 2
        shift = np.float32([[1, 0, side / 2 - cx], [0, 1, side / 2 - cy]])
        crop = cv2.warpAffine(frame_bgr, shift, (side, side), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        if self.meshes_run == 0:  # the graph's first real face logs a harmless warning to fd 2
            with native_stderr_silenced():
                result = self._mesh.process(rgb)
        else:
            result = self._mesh.process(rgb)
        self.meshes_run += 1
        if not result.multi_face_landmarks:
            return None
        p = np.array([(lm.x * side, lm.y * side, lm.z * side) for lm in result.multi_face_landmarks[0].landmark],
                     dtype=np.float32)
        return cues_from_landmarks(p, self.cfg, t)

    def close(self) -> None:
        self._mesh.close()
