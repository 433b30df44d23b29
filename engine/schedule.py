"""When to pay for the detection plan, and how faces are carried in between.

The full plan (``FaceDetector.detect``) can be hundreds of short-range tiles on a gallery or a
ceiling camera: 0.1-1 s a frame on a 2-core laptop, which is what made the engine slower than
real time on footage it had not been tuned on. Faces in a class barely move between analysed
frames, so on every frame each known face is re-found in the crop around it
(``FaceDetector.relocate``: one 128 px model run a face), and the plan's tiles are swept a
share a frame, so that the whole frame has been searched once every ``detect_every_s`` (a new
or lost face is found within that time; ``detect_every_still_s`` while sweeps find nobody new). The cost of a frame is then its faces plus an even
share of the plan, never the whole plan at once; a live class sees no stall. Between two
re-findings (``refind_every_s``) a face whose pixels merely moved is followed without the model
(``engine/motion.py``).

The whole plan still runs at once when there is nobody to carry, when the detector re-plans
(``recalibrate_s``), and when a frame loses half its faces (a cut, a camera move, a new
meeting layout). Except on a live source (a frame deadline), where no frame may hold the view
up for the 0.3-4 s these take: there the re-plan searches its frame a step at a time after
each frame's own work (``FaceDetector.plan_search``), half the faces lost starts a new
sweep at once, at the short period, instead of the whole plan, and with nobody to carry the
whole plan is searched for at most ``WHOLE_LIVE_S`` a frame, each frame going on where the last
stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from engine.config import DetectorConfig
from engine.detect import Face, FaceDetector, Tile, box_overlaps, merge_faces
from engine.motion import follow

LOST_SHARE_REPLAN = 0.5  # a frame that loses this share of its faces runs the whole plan next (live: a new sweep)
CHUNK_TILES = 16  # tiles run together (one model batch) between looks at the clock under a deadline
# Live, with nobody to carry, the whole plan's search stops after this many seconds (its rest
# goes on over the next frames): with the frame's other work it keeps a frame under 1 s.
WHOLE_LIVE_S = 0.6


@dataclass
class SweepLateness:
    """How a frame budget held the whole-frame search back (live sources)."""

    frames_cut: int = 0  # frames that left part of their share of the search to later frames
    longest_sweep_s: float = 0.0  # media seconds the slowest finished sweep took


def _outside_occupied_cells(tiles: list[Tile], faces: list[Face], width: int, height: int) -> list[Tile]:
    """The tiles that do not belong to a gallery cell holding the centre of one of ``faces``
    (a tile over the rest of the frame belongs to the whole frame, never left out)."""
    frame = (0, 0, width, height)
    centres = [(f.x + f.w / 2, f.y + f.h / 2) for f in faces]
    occupied = {(x, y, w, h) for x, y, w, h in {tile.within for tile in tiles} - {frame}
                if any(x <= cx < x + w and y <= cy < y + h for cx, cy in centres)}
    return [tile for tile in tiles if tile.within not in occupied]


class ScheduledDetector:
    """``detect(image, t)`` like :class:`FaceDetector`, at a bounded cost per frame."""

    def __init__(self, detector: FaceDetector, cfg: DetectorConfig, still: bool = False):
        self.detector = detector
        self.still = still  # still pictures: the whole plan on each, at every sweep scale
        self.cfg = cfg
        self._previous: list[Face] = []
        # id() of a face in _previous -> media time the model last re-found it in the crop around
        # it. Only such faces are followed: a box a sweep or the whole plan has just found may be
        # part of a face or a patch of background that passed the second look once; matching its
        # pixels would carry it as it is, while the model on the crop around it corrects the
        # part to the whole face or loses what is not one.
        self._found_at: dict[int, float] = {}
        self._grey: np.ndarray | None = None  # the previous frame, to follow faces in (engine/motion.py)
        self._t: float | None = None
        self._whole_due = True
        self._sweep_at = -math.inf  # media time the sweep in progress started
        self._pending: list[Tile] = []  # its tiles not yet looked at
        self._sweep_size = 0
        self._period = cfg.detect_every_s  # of the sweep in progress
        self._found_new = True  # the sweep in progress found a face nobody was carrying
        self._sweeps = 0  # sweeps started; each looks at the frame at another tile scale
        self._occupied_at = -math.inf  # media time a sweep or the whole plan last searched the occupied cells
        self.lateness = SweepLateness()
        self._replan = None  # a live re-plan in progress (FaceDetector.plan_search), and when it started
        self._replan_t = 0.0
        self.replans_stepped = 0  # re-plans a live source spread over frames

    def detect(self, image: np.ndarray, t: float, deadline: float | None = None) -> list[Face]:
        """Faces in a BGR frame at media time ``t``. With a ``deadline`` (``time.perf_counter``
        seconds) the frame's share of the sweep stops there (after at least one batch of tiles)
        and the rest is left to the next frames; re-finding the known faces is never cut."""
        clock_back = self._t is not None and t < self._t  # a new file, or a looped source
        dt = t - self._t if self._t is not None and not clock_back else 0.0
        self._t = t
        # Kept for the next frame's following; not made when following is off.
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if self.cfg.refind_every_s > 0 else None
        # A live source re-plans a step at a time after each frame's own work (a whole search of
        # the frame is 1-4 s: one frame doing it would hold the live view up that long).
        stepwise = deadline is not None and self.detector.plan is not None and not self.still
        replan_due = self._replan is None and self.detector.plan_due(t)
        if self._whole_due and stepwise and self._previous:
            # Live, half the faces lost (a camera move, a new layout): a new sweep starts now,
            # spread over frames at the short period, rather than the whole plan in this frame.
            self._whole_due, self._sweep_at, self._pending, self._found_new = False, -math.inf, [], True
        if stepwise and not self._previous and self.cfg.detect_every_s > 0:
            # Live, nobody to carry (the class's start, an empty room, a camera turned away): the
            # whole plan, 0.4-0.9 s on a classroom camera and more on a busy laptop, up to
            # WHOLE_LIVE_S; what is left is first in line on the next frames. A re-plan due (every
            # recalibrate_empty_s while nobody was found yet) is stepped as on any live frame.
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            cap = max(deadline, time.perf_counter() + WHOLE_LIVE_S)
            fresh = not self._pending  # else the rest of the last frame's search comes first
            tiles, self._pending = self._pending or self.detector.plan_tiles(rgb, self._sweeps), []
            faces = self._look(rgb, tiles, fresh and self.detector.plan.full_range, cap)
            self._sweep_at, self._found_new, self._occupied_at = -math.inf, True, t
            found_at = {}
            if replan_due or self._replan is not None:
                self._step_replan(rgb, t, deadline, len(faces))
        elif (self._whole_due or clock_back or not self._previous or self.cfg.detect_every_s <= 0 or self.still
                or (replan_due and not stepwise)):
            self._replan = None  # a plan searched on an earlier frame is out of date after this
            faces = self.detector.detect(image, t, trusted=self._previous, every_scale=self.still)
            # The next sweep starts on the next frame: a tile's looks stay detect_every_s apart.
            self._whole_due, self._sweep_at, self._pending, self._found_new = False, -math.inf, [], True
            self._occupied_at = t
            found_at = {}
        else:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            faces, found_at = self._carry(rgb, grey, t, dt, deadline)
            if replan_due or self._replan is not None:
                self._step_replan(rgb, t, deadline, len(faces))
        self._previous, self._found_at, self._grey = faces, found_at, grey
        return faces

    def _step_replan(self, rgb: np.ndarray, t: float, deadline: float, known: int) -> None:
        """Go on with the re-plan (searching the frame it started on) until ``deadline``, at
        least one step; once done the detector follows the new plan from the next frame."""
        if self._replan is None:
            self._replan, self._replan_t = self.detector.plan_search(rgb), t
        try:
            next(self._replan)
            while time.perf_counter() < deadline:
                next(self._replan)
        except StopIteration as done:
            self._replan = None
            self.detector.adopt_plan(done.value, self._replan_t, known)
            self.replans_stepped += 1
            self._sweep_at, self._pending = -math.inf, []  # the next sweep is laid out by the new plan

    def _follow_or_refind(self, rgb: np.ndarray, grey: np.ndarray | None, t: float) -> tuple[list[Face | None], dict[int, float]]:
        """Each known face in this frame (None: lost), and when the model last re-found it:
        followed by its pixels where the model re-found it less than ``refind_every_s`` ago and
        the match is close, else re-found by the model."""
        c, previous = self.cfg, self._previous
        found: list[Face | None] = [None] * len(previous)
        if grey is not None and self._grey is not None and self._grey.shape == grey.shape:
            for i, face in enumerate(previous):
                if t - self._found_at.get(id(face), -math.inf) < c.refind_every_s - 1e-6:
                    found[i] = follow(self._grey, grey, face, c.follow_min_match)
        found_at = {id(g): self._found_at[id(f)] for f, g in zip(previous, found, strict=True) if g is not None}
        refind = [i for i, g in enumerate(found) if g is None]
        for i, g in zip(refind, self.detector.relocate(rgb, [previous[i] for i in refind]), strict=True):
            found[i] = g
            if g is not None:
                found_at[id(g)] = t
        return found, found_at

    def _carry(self, rgb: np.ndarray, grey: np.ndarray | None, t: float, dt: float,
               deadline: float | None) -> tuple[list[Face], dict[int, float]]:
        found, found_at = self._follow_or_refind(rgb, grey, t)
        lost = sum(f is None for f in found)
        if lost and lost >= LOST_SHARE_REPLAN * len(found):
            self._whole_due = True
        carried = [f for f in found if f is not None]
        lost_faces = [f for f, g in zip(self._previous, found, strict=True) if g is None]
        if self._sweep_due(t):
            # Once a sweep every carried face takes the second look again, untrusted: a box
            # that passed it once by luck (a poster, a hand) is not carried for the whole class.
            carried = self.detector.verify(rgb, carried)
        tiles, full_range = self._next_share(rgb, t, dt, carried)
        if lost_faces and not self._whole_due:
            # Where a face was lost, someone may still be, moved or changed: a tile that moved in
            # a gallery reshuffle, a student who stood up. That place is searched now, not when the
            # sweep next reaches it (up to detect_every_still_s later, seconds without that student).
            around = [tile for tile in self._tiles_around(rgb, lost_faces) if tile not in tiles]
            tiles = around + tiles
            full_range = full_range or bool(self.detector.plan and self.detector.plan.full_range)
        new = self._look(rgb, tiles, full_range, deadline)
        known = (box_overlaps([f.xyxy for f in new], [f.xyxy for f in carried])[0] > 0.3).any(axis=1)
        if not known.all():  # a face nobody was carrying
            self._found_new = True
        # Two neighbours' crops can settle on one face, and a swept tile finds known faces again:
        # keep each face once, the whole box with the best score (boxes are cut to the frame).
        faces = merge_faces(carried + new, self.cfg.nms_iou, self.cfg.nms_containment)
        return faces, {id(f): found_at[id(f)] for f in faces if id(f) in found_at}

    def _tiles_around(self, rgb: np.ndarray, faces: list[Face]) -> list[Tile]:
        """The plan's tiles that would find each of ``faces`` again: all tiles of the gallery cell
        holding its centre (a reshuffled tile's new face may sit elsewhere in it), or, outside
        any cell, the tiles holding its centre."""
        centres = [(f.x + f.w / 2, f.y + f.h / 2) for f in faces]
        frame = (0, 0, rgb.shape[1], rgb.shape[0])

        def holds(r, cx, cy):
            return r[0] <= cx < r[0] + r[2] and r[1] <= cy < r[1] + r[3]

        return [tile for tile in self.detector.plan_tiles(rgb, self._sweeps)
                if any(holds(tile if tile.within == frame else tile.within, cx, cy) for cx, cy in centres)]

    def _look(self, rgb: np.ndarray, tiles: list[Tile], full_range: bool, deadline: float | None) -> list[Face]:
        if deadline is None or len(tiles) <= CHUNK_TILES:
            return self.detector.detect_part(rgb, tiles, full_range, trusted=self._previous) if tiles or full_range else []
        new: list[Face] = []
        for i in range(0, len(tiles), CHUNK_TILES):
            if i and time.perf_counter() > deadline:
                self._pending[:0] = tiles[i:]  # first in line on the next frame
                self.lateness.frames_cut += 1
                break
            new += self.detector.detect_part(rgb, tiles[i:i + CHUNK_TILES], full_range and not i, trusted=self._previous)
        return new

    def _sweep_due(self, t: float) -> bool:
        return t - self._sweep_at >= self._period - 1e-6  # media times like 15 * 0.2 are not exact

    def _next_share(self, rgb: np.ndarray, t: float, dt: float, carried: list[Face]) -> tuple[list[Tile], bool]:
        """This frame's tiles of the sweep, and whether it runs the full-range model (once a
        sweep, on its first frame). By the sweep's last frame every tile has been looked at.
        A sweep leaves out the gallery cells that hold a ``carried`` face, except once every
        ``occupied_every_s``."""
        full_range = False
        if self._sweep_due(t):
            if self._sweep_size and self._sweep_at > -math.inf:
                # The sweep ending now took until now, or longer where a deadline left tiles over.
                late = t - self._sweep_at + (self._period if self._pending else 0.0)
                self.lateness.longest_sweep_s = max(self.lateness.longest_sweep_s, late)
            # A scene that brought new faces (a moving camera, students arriving) is swept at the
            # short period; a still one at the long period until a sweep finds someone new.
            self._period = self.cfg.detect_every_s if self._found_new else self.cfg.detect_every_still_s
            self._found_new = False
            # Tiles a late frame left over are looked at with the new sweep's first share.
            tiles = self.detector.plan_tiles(rgb, self._sweeps)
            if t - self._occupied_at >= self.cfg.occupied_every_s - 1e-6:
                self._occupied_at = t
            else:
                tiles = _outside_occupied_cells(tiles, carried, rgb.shape[1], rgb.shape[0])
            self._pending += tiles
            self._sweeps += 1
            self._sweep_size, self._sweep_at = len(self._pending), t
            full_range = bool(self.detector.plan and self.detector.plan.full_range)
        every = self._period
        looked = self._sweep_size - len(self._pending)
        due = math.ceil(self._sweep_size * min(1.0, (t - self._sweep_at + dt) / every)) - looked
        tiles, self._pending = self._pending[:max(0, due)], self._pending[max(0, due):]
        return tiles, full_range
