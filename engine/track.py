"""Identity over time: face boxes of consecutive frames -> one id per person.

supervision's ByteTrack follows boxes from frame to frame (Kalman prediction + IoU matching)
and keeps a lost track for ``lost_seconds`` (a blink that the detector misses, a head turn, a
hand in front of the face). Past that, ByteTrack starts a new id; a student whose camera was
off for a minute then comes back as someone new. So on top of ByteTrack, a new track that
appears where a lost student was last seen (box IoU >= ``reattach_iou``, or one box lying
``reattach_containment`` inside the other, within ``reattach_seconds``) continues that
student's id. Containment matters because the box of one person's face can change size a lot
(a gallery tile's camera re-framed, someone leaning in): on the demo gallery a tile's box went
from 129 px to 51 px (IoU 0.16) and ByteTrack, which matches by IoU, started a new track.

Ids handed out here are "tracker students": the first ByteTrack id of a chain of re-attached
tracks. Appearance re-identification (``engine/reid.py``) runs after this, on these ids.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import supervision as sv

from engine.config import TrackerConfig
from engine.detect import Face, box_overlaps


@dataclass(frozen=True)
class TrackedFace:
    face: Face
    track: int  # stable within the session (after re-attachment)


@dataclass
class _Seen:
    box: np.ndarray  # xyxy
    t: float


class FaceTracker:
    """ByteTrack on face boxes, plus re-attachment of long-lost students by position."""

    def __init__(self, cfg: TrackerConfig, fps: float, still: bool = False):
        self.cfg = cfg
        # Still pictures (a folder of photos) are not a video: ByteTrack would start tracks only
        # on the first and hold every later picture's new faces back as unconfirmed. Each face
        # of a still gets an id of its own; the appearance re-id then says who is who.
        self.still = still
        self._still_ids = 0
        # ByteTrack starts tracks only above its threshold + 0.1; shift it so that
        # ``activation_score`` is the threshold that counts. Its buffer is in frames at 30 fps.
        with warnings.catch_warnings():  # "deprecated": pinned on purpose (requirements.txt says why)
            warnings.simplefilter("ignore", FutureWarning)
            self._byte = sv.ByteTrack(
                track_activation_threshold=max(0.0, cfg.activation_score - 0.1),
                lost_track_buffer=max(1, round(cfg.lost_seconds * 30)),
                minimum_matching_threshold=cfg.matching_iou,
                frame_rate=fps,
            )
        self._alias: dict[int, int] = {}  # ByteTrack id -> tracker student id
        self._seen: dict[int, _Seen] = {}  # tracker student id -> last box and time
        self._alias_seen: dict[int, float] = {}  # ByteTrack id -> last time it was reported
        self._hits: dict[int, int] = {}  # tracker student id -> sightings (confirmed at confirm_hits)
        self._first_frame = True  # ByteTrack reports every box of its first frame at once
        self._spare_id = 0
        self._pruned_at = -math.inf
        self.reattached = 0

    def update(self, t: float, faces: list[Face]) -> list[TrackedFace]:
        """The confirmed faces of one analysed frame with their ids. A track is reported from its
        ``confirm_hits``-th sighting on (ByteTrack itself confirms a track after the first frame
        at its second), so a box that flickers on a bag or a hand for a moment never becomes a
        student and nothing of it is written."""
        if self.still:
            first = self._still_ids + 1
            self._still_ids += len(faces)
            return [TrackedFace(f, first + k) for k, f in enumerate(faces)]
        first, self._first_frame = self._first_frame, False
        if not faces:
            self._byte.update_with_detections(_no_detections())
            return []
        xyxy = np.array([f.xyxy for f in faces], dtype=np.float32)
        dets = sv.Detections(xyxy=xyxy, confidence=np.array([f.score for f in faces], dtype=np.float32),
                             data={"index": np.arange(len(faces))})
        tracked = self._byte.update_with_detections(dets)
        if len(tracked) == 0:
            return []
        out: list[TrackedFace] = []
        present: set[int] = set()
        new: list[tuple[int, int]] = []
        for idx, byte_id in zip(tracked.data["index"], tracked.tracker_id, strict=True):
            sid = self._alias.get(int(byte_id))
            if sid is None or sid in present:
                # A second ByteTrack track on a student already here (an old track revived next to
                # the one it was re-attached to): that face is someone else, or a duplicate box.
                new.append((int(idx), int(byte_id)))
                continue
            present.add(sid)
            out.append(TrackedFace(faces[int(idx)], sid))
        for idx, byte_id in new:
            sid = self._reattach(t, xyxy[idx], present)
            if sid is None:
                sid = byte_id if byte_id not in present and byte_id not in self._seen else self._fresh_id()
            self._alias[byte_id] = sid
            present.add(sid)
            out.append(TrackedFace(faces[idx], sid))
        # ByteTrack reports a new track from its second frame, except on its very first frame,
        # where it reports every box: that report is not counted, so a hand or a bag there for
        # two frames is no more a student than one later in the class.
        counted = 0 if first else 1
        for tf in out:
            self._seen[tf.track] = _Seen(np.array(tf.face.xyxy, dtype=np.float32), t)
            self._hits[tf.track] = self._hits.get(tf.track, 0) + counted
        out = [tf for tf in out if self._hits[tf.track] >= self.cfg.confirm_hits]
        for byte_id in tracked.tracker_id:
            self._alias_seen[int(byte_id)] = t
        self._forget(t)
        return out

    def _fresh_id(self) -> int:
        self._spare_id -= 1  # negative: never one of ByteTrack's (positive, increasing) ids
        return self._spare_id

    def _forget(self, t: float) -> None:
        """Drop what can no longer matter, so a long live class runs in flat memory: ByteTrack
        ids gone for longer than its own buffer, and students too long gone to re-attach."""
        if t - self._pruned_at < self.cfg.lost_seconds:
            return
        self._pruned_at = t
        old = [b for b, seen in self._alias_seen.items() if t - seen > 2 * self.cfg.lost_seconds]
        for b in old:
            self._alias.pop(b, None)
            del self._alias_seen[b]
        for sid in [sid for sid, seen in self._seen.items() if t - seen.t > self.cfg.reattach_seconds]:
            del self._seen[sid]
            self._hits.pop(sid, None)

    def _reattach(self, t: float, box: np.ndarray, present: set[int]) -> int | None:
        sids = [sid for sid, seen in self._seen.items() if sid not in present and t - seen.t <= self.cfg.reattach_seconds]
        if not sids:
            return None
        ious, insides = (m[0] for m in box_overlaps(box, np.stack([self._seen[sid].box for sid in sids])))
        near = (ious >= self.cfg.reattach_iou) | (insides >= self.cfg.reattach_containment)
        scores = np.where(near, ious + insides, 0.0)
        if not scores.max() > 0:
            return None
        self.reattached += 1
        return sids[int(scores.argmax())]  # the first of equals, as students were seen


def _no_detections() -> sv.Detections:
    """An empty detection set that still carries a confidence column (ByteTrack requires it)."""
    return sv.Detections(xyxy=np.empty((0, 4), np.float32), confidence=np.empty(0, np.float32))
