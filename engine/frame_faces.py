"""One analysed frame's faces as one record: a row per face, a column per stage.

The stages run in the data's order (detect -> track -> re-identify -> classify -> attention ->
quality -> score) and each adds its column to the frame's record, as supervision's
``Detections`` carries boxes, tracker ids and data through a slicer, a tracker and the
annotators. A column must hold a value for every row (``with_columns`` refuses one that does
not), so one stage cannot shift another's values onto the wrong face, the fault that parallel
lists zipped by hand invite.

The identities a face passes through, from the detector's row to the report:

* ``track``: the tracker's id (engine/track.py), one face followed from frame to frame through
  brief misses; ByteTrack's own ids stay inside the tracker.
* ``student``: who re-identification (engine/reid.py) says that track is: one person across
  tracks, lost and found again, or moved to another gallery tile. Equal to ``track`` when
  re-identification is off.
* "Student N" in the database: the recorder (engine/recorder.py) numbers students in the order
  it first writes them; nothing in the engine sees that number.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from engine.attention import Attention
from engine.detect import Face
from engine.quality import FaceQuality
from engine.scoring import Reading, Scored


@dataclass(frozen=True)
class StudentFace:
    """One student's face in one analysed frame, with everything the engine read from it (a
    row of :class:`FrameFaces`)."""

    student: int
    face: Face
    attention: Attention
    scored: Scored
    quality: FaceQuality | None = None  # how good the evidence was (engine/quality.py)


@dataclass(frozen=True)
class FrameFaces:
    """The faces of the frame at media time ``t``; every column but ``face`` is empty until its
    stage has run, then as long as ``face``. Iterating gives :class:`StudentFace` rows once the
    frame is scored."""

    t: float
    face: tuple[Face, ...] = ()
    track: tuple[int, ...] = ()
    student: tuple[int, ...] = ()
    probs: tuple[np.ndarray | None, ...] = ()  # (7,) per face; None in attention-only mode
    attention: tuple[Attention, ...] = ()
    quality: tuple[FaceQuality, ...] = ()
    scored: tuple[Scored, ...] = ()

    def __len__(self) -> int:
        return len(self.face)

    def with_columns(self, **columns: Sequence) -> FrameFaces:
        """This record with the given columns set; each must have one value per face."""
        for name, values in columns.items():
            if name not in _COLUMNS:
                raise ValueError(f"FrameFaces has no column {name!r}")
            if len(values) != len(self):
                raise ValueError(f"column {name!r} has {len(values)} values for {len(self)} faces")
        return replace(self, **{name: tuple(values) for name, values in columns.items()})

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        return [f.box for f in self.face]

    def readings(self) -> list[Reading]:
        """What the scorer takes: each student's expression, head pose, eyes and readability."""
        return [Reading(s, p, a.yaw, a.pitch, a.eye_openness, a.brow, q.readable)
                for s, p, a, q in zip(self.student, self.probs, self.attention, self.quality, strict=True)]

    def __getitem__(self, i: int) -> StudentFace:
        if len(self.scored) != len(self):
            raise ValueError("the frame's faces are not scored yet")
        return StudentFace(self.student[i], self.face[i], self.attention[i], self.scored[i], self.quality[i])

    def __iter__(self) -> Iterator[StudentFace]:
        return (self[i] for i in range(len(self)))


_COLUMNS = frozenset(f.name for f in fields(FrameFaces)) - {"t", "face"}  # what stages add
