"""Appearance re-identification: a student keeps one key when their tile moves in the gallery.

Meeting apps reshuffle the gallery when someone joins, leaves or speaks. A box tracker then
does the wrong thing twice over: the face that moved gets a new track id (its box is
somewhere else), and the track that stays where the box was now follows someone else's face.
So identity comes from appearance, with the tracker's continuity as a tie-breaker:

* every face crop becomes a small embedding: the HOG of its slightly blurred grey 32x32
  resize (324 numbers, ~50 us a face);
* every known student has a template: a running mean of their recent embeddings, which
  averages out the detector's box jitter. On the demo gallery's detected faces a face's new
  look scores >= 0.70 against its own template 100 % of the time, against another face's
  0.12 % of the time; FER faces with boxes jittered by up to 4 px of 76: 99.3 % and 0.02 %
  (``benchmarks/reid_separation.py``, 2026-12-04), hence the threshold of 0.70;
* each frame, faces and known students are paired by a Hungarian assignment
  (``scipy.optimize.linear_sum_assignment``) on similarity, where a face may take a student
  only when it looks like them (similarity >= ``match_similarity``) or is on the track that
  student was already on, and staying on one's own track earns ``keep_bonus``. A face that
  pairs with nobody is a new student.

Continuity alone (low similarity, same track) keeps a student because a face's look also
changes for reasons that are not a change of person (lighting, pose, the demo's changing FER
faces); but a track whose face clearly matches another known student gives it up to them when
the gallery shows that someone moved: that student was seen elsewhere within ``moved_within_s``
(a reshuffle moves everyone at once), or the track's own student is in this frame on another
face. A student lost a while ago is not handed a continuing track on looks alone: a template is
a mean of several looks, and on the demo such a mean drew an unrelated new face at 0.70 and took
over a student who had never left (27 students for 25 tiles).

In a reshuffle every track gives its student up at once: a track whose face looks like a student
just seen elsewhere, and not like its own, does not keep its own (else one face below the bar
holds the whole cycle of swaps back), and the faces and students left over after the others
moved pair at the lower ``leftover_similarity``.

On a meeting gallery a face also has a **context**: the rest of its cell (the participant's
room or virtual background, their name label, their shoulders), which moves with them in a
reshuffle and stays when their face turns, changes or is lost for a while. It is a small HOG
of the cell's grey 96x52 thumbnail with the face left out (``embed_context``, ~180 us a face).
On generated galleries whose faces change every 3-6 s, a participant's context template from
before a reshuffle scores >= 0.75 against their contexts after it 100 % of the time (1st
percentile 0.81 on 7x7 720p, 0.79 on 5x5 1080p), another participant's 0.04 % and 0 %
(``benchmarks/reid_separation.py --contexts``, 2026-12-04). Where both a face and a student
have one, their similarity is the better of the face's and the context's, the latter counted
``context_similarity - match_similarity`` lower so that both meet their own bar at
``match_similarity``; and a track whose cell now shows another student's context (under
``context_changed`` against its own's) starts afresh.

Contexts are used only once the gallery has shown that they say more than the faces: when a
face on its own track stops looking like its student, its cell's context must mostly stay
(``context_trusted``). On the demo the cell around a face is the face's own FER picture on a
plain tile: it changes with the face, one tile's new picture can look like another tile's
cell, and trusted blindly the contexts made 93 students of its 25 (2026-12-04).

The component is independent of the tracker: ``assign(t, track_ids, crops)`` maps the track
ids of one frame to stable student keys (ints from 1).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from engine.gallery import cell_at

EMBED_SIDE = 32
# HOG with 16 px blocks of 8 px cells on a 32 px face: 3x3 blocks x 4 cells x 9 orientations.
_HOG = cv2.HOGDescriptor((EMBED_SIDE, EMBED_SIDE), (16, 16), (8, 8), (8, 8), 9)
EMBED_DIM = 324
BLUR_SIGMA = 1.0
MIN_CROP_PX = 12  # smaller crops carry no usable appearance
CONTEXT_SIZE = (96, 52)  # a cell's grey thumbnail (w, h), whole squares of CONTEXT_POOL; a 7x7 720p gallery's cells are ~150x85
CONTEXT_BINS = 6  # gradient orientations
CONTEXT_POOL = 4  # thumbnail pixels a side summed into one square
_SQUARES = (CONTEXT_SIZE[1] // CONTEXT_POOL) * (CONTEXT_SIZE[0] // CONTEXT_POOL)
CONTEXT_DIM = CONTEXT_BINS * _SQUARES
# The square each thumbnail pixel is summed into (0.._SQUARES-1, row by row).
_SQUARE_OF = ((np.arange(CONTEXT_SIZE[1]) // CONTEXT_POOL)[:, None] * (CONTEXT_SIZE[0] // CONTEXT_POOL)
              + (np.arange(CONTEXT_SIZE[0]) // CONTEXT_POOL)[None, :])
CONTEXT_BORDER = 0.04  # share of the cell left out at each edge: the app draws the active speaker's frame there
CONTEXT_FACE_MARGIN = 0.2  # the face box grown by this share a side is left out (the face has its own embedding)


@dataclass(frozen=True)
class ReidConfig:
    match_similarity: float = 0.70  # cosine at or above which a face may be a known student seen elsewhere
    keep_bonus: float = 0.10  # a track's own student is preferred by this much over a look-alike
    moved_within_s: float = 3.0  # a continuing track passes to a look-alike seen this recently (a tile moved)
    # A face left on a tile whose student moved, and a student just seen whom no face took, are
    # one person from this similarity on. A different FER face's look reaches 0.60 against a
    # template 0.20 % of the time, the same face's 100 % (benchmarks/reid_separation.py: 300
    # PrivateTest faces, boxes jittered by 4 px); 0.70 held a 3x3 reshuffle's last face back as a
    # new student for two frames (its look scored 0.65).
    leftover_similarity: float = 0.60
    # A gallery cell's context (see the module's docstring) at or above this is the student's.
    context_similarity: float = 0.75
    context_changed: float = 0.5  # ... and under this another participant's (0.5: the same one's 99.9 % are above)
    # Cell contexts count once they have told more than the faces: over the frames of faces on
    # their own student's track that did not look like their student (turned, changed), the
    # share whose context still met context_similarity, as a running mean of rate
    # context_trust_rate over the whole gallery. Where the picture around a face changes with
    # the face (the demo's FER pictures on plain tiles) contexts never earn that trust.
    context_trusted: float = 0.5
    context_trust_rate: float = 0.05
    memory_s: float = 1800.0  # a student unseen for longer is no longer a candidate
    template_rate: float = 0.2  # weight of each new look in a student's running-mean template
    margin: float = 0.1  # crop_face: fraction of the box added on each side (hair line, jaw)


@dataclass(frozen=True)
class Reidentification:
    """A face given back to a student it had been taken from (for logs and tests)."""

    t: float
    track_id: int
    student: int
    previous: int | None  # the student the track had before, None for a new track
    similarity: float


@dataclass
class _Student:
    key: int
    template: np.ndarray
    last_seen: float
    context: np.ndarray  # running mean of the cell contexts; zeros while none was seen


def crop_face(frame: np.ndarray, box: Sequence[float], margin: float = 0.1) -> np.ndarray:
    """The face box grown by ``margin`` on each side, cut to the frame (a view, not a copy)."""
    x, y, w, h = box
    x0, y0 = max(0, int(round(x - margin * w))), max(0, int(round(y - margin * h)))
    x1, y1 = min(frame.shape[1], int(round(x + w + margin * w))), min(frame.shape[0], int(round(y + h + margin * h)))
    return frame[y0:max(y0, y1), x0:max(x0, x1)]


def embed(crops: Sequence[np.ndarray]) -> np.ndarray:
    """(N, EMBED_DIM) float32 unit vectors; a row of zeros for a crop too small to describe."""
    out = np.zeros((len(crops), EMBED_DIM), np.float32)
    for i, crop in enumerate(crops):
        if crop is None or crop.ndim < 2 or min(crop.shape[:2]) < MIN_CROP_PX:
            continue
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        small = cv2.resize(np.ascontiguousarray(grey), (EMBED_SIDE, EMBED_SIDE), interpolation=cv2.INTER_AREA)
        # A slight blur makes the gradients tolerate the few-pixel box jitter of a face detector.
        small = cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)
        v = _HOG.compute(small).ravel()
        # Centre before normalising: HOG entries are all positive, so raw cosines of unrelated
        # faces sit near 0.8; centred, they sit near 0 and the threshold has room.
        v = v - v.mean()
        norm = float(np.linalg.norm(v))
        if norm > 1e-6:
            out[i] = v / norm
    return out


def embed_context(frame: np.ndarray, box: Sequence[float], cell: Sequence[int] | None) -> np.ndarray:
    """(CONTEXT_DIM,) float32 unit vector of the ``cell`` around a face ``box`` (x, y, w, h),
    the face left out; zeros without a cell or when the face is not inside it.

    A small HOG without blocks: the cell's grey thumbnail, its gradients' magnitudes in
    CONTEXT_BINS orientations summed over CONTEXT_POOL px squares. Sums over squares let the
    picture move a pixel or two (a box, a cell edge read a pixel off) without changing much."""
    out = np.zeros(CONTEXT_DIM, np.float32)
    if cell is None:
        return out
    cx, cy, cw, ch = cell
    x, y, w, h = box
    if not (cx <= x + w / 2 < cx + cw and cy <= y + h / 2 < cy + ch):
        return out
    bx, by = int(CONTEXT_BORDER * cw), int(CONTEXT_BORDER * ch)
    x0, y0 = max(0, cx + bx), max(0, cy + by)
    x1, y1 = min(frame.shape[1], cx + cw - bx), min(frame.shape[0], cy + ch - by)
    if x1 - x0 < MIN_CROP_PX or y1 - y0 < MIN_CROP_PX:
        return out
    crop = frame[y0:y1, x0:x1]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    gw, gh = CONTEXT_SIZE
    small = cv2.resize(np.ascontiguousarray(grey), (gw, gh), interpolation=cv2.INTER_AREA).astype(np.float32)
    # Gradients, not levels: a room's edges and a name label's letters tell participants apart;
    # the mean grey of two virtual backgrounds often does not.
    magnitude, angle = cv2.cartToPolar(cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3),
                                       cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3))
    sx, sy = gw / (x1 - x0), gh / (y1 - y0)
    m = CONTEXT_FACE_MARGIN
    fx0, fx1 = int((x - m * w - x0) * sx), int(np.ceil((x + (1 + m) * w - x0) * sx))
    fy0, fy1 = int((y - m * h - y0) * sy), int(np.ceil((y + (1 + m) * h - y0) * sy))
    magnitude[max(0, fy0):max(0, fy1), max(0, fx0):max(0, fx1)] = 0.0
    bins = (angle * (CONTEXT_BINS / np.pi)).astype(np.int32) % CONTEXT_BINS  # unsigned orientation
    per_bin = np.bincount((bins * _SQUARES + _SQUARE_OF).ravel(), magnitude.ravel(), CONTEXT_BINS * _SQUARES)
    # The square root tames a few strong edges; centring puts unrelated cells' cosines near 0.
    v = np.sqrt(per_bin[:CONTEXT_DIM]).astype(np.float32)
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    if norm > 1e-6:
        out[:] = v / norm
    return out


@dataclass
class StudentGallery:
    """Known students' looks, and which track each is on now."""

    config: ReidConfig = field(default_factory=ReidConfig)
    students: dict[int, _Student] = field(default_factory=dict)
    track_student: dict[int, int] = field(default_factory=dict)
    # The latest re-identifications only: a live class runs for hours in flat memory.
    events: deque[Reidentification] = field(default_factory=lambda: deque(maxlen=1000))
    _next_key: int = 1
    _context_trust: float = 0.0  # see ReidConfig.context_trusted

    def assign(self, t: float, track_ids: Sequence[int], crops: Sequence[np.ndarray],
               contexts: np.ndarray | None = None) -> list[int]:
        """Student keys for the faces of one frame (same order as ``track_ids``); ``contexts``:
        their cells' ``embed_context`` rows (zeros where a face has none), None off a gallery."""
        if len(track_ids) != len(crops):
            raise ValueError(f"{len(track_ids)} track ids but {len(crops)} crops")
        if contexts is not None and len(contexts) != len(crops):
            raise ValueError(f"{len(contexts)} contexts for {len(crops)} crops")
        if len(set(track_ids)) != len(track_ids):
            raise ValueError("a track id appears twice in one frame")
        if not track_ids:
            return []
        vectors = embed(crops)
        if contexts is None:
            contexts = np.zeros((len(crops), CONTEXT_DIM), np.float32)
        keys, sims = self._match(t, list(track_ids), vectors, contexts)
        result = []
        for tid, v, ctx, key, sim in zip(track_ids, vectors, contexts, keys, sims, strict=True):
            previous = self.track_student.get(tid)
            if key is None:
                key = self._new_student(v, ctx, t)
            else:
                self._update(self.students[key], v, ctx, t, same_track=key == previous)
                if key != previous:
                    self.events.append(Reidentification(t, tid, key, previous, sim))
            self.track_student[tid] = key
            result.append(key)
        # A student now on a new track is no longer on their old one.
        taken = set(result)
        current = set(track_ids)
        for tid in [tid for tid, key in self.track_student.items() if key in taken and tid not in current]:
            del self.track_student[tid]
        self._forget(t)
        return result

    def _forget(self, t: float) -> None:
        """Students unseen for longer than ``memory_s`` are no candidates any more: drop them and
        the tracks that led to them, so a long live class runs in flat memory."""
        gone = {k for k, s in self.students.items() if t - s.last_seen > self.config.memory_s}
        if not gone:
            return
        for k in gone:
            del self.students[k]
        for tid in [tid for tid, key in self.track_student.items() if key in gone]:
            del self.track_student[tid]

    def assign_boxes(self, t: float, frame: np.ndarray, track_ids: Sequence[int],
                     boxes: Sequence[Sequence[float]], cells: Sequence[Sequence[int]] = ()) -> list[int]:
        """:meth:`assign` for face boxes ``(x, y, w, h)`` in a BGR ``frame`` (crops made here);
        ``cells``: the meeting gallery's cells (x, y, w, h), each face's context is the one holding it."""
        contexts = None
        if cells:
            contexts = np.stack([embed_context(frame, b, cell_holding(cells, b)) for b in boxes]) if boxes else None
        return self.assign(t, track_ids, [crop_face(frame, b, self.config.margin) for b in boxes], contexts)

    def _match(self, t: float, track_ids: list[int], vectors: np.ndarray,
               contexts: np.ndarray) -> tuple[list[int | None], list[float]]:
        c = self.config
        candidates = [s for s in self.students.values() if t - s.last_seen <= c.memory_s]
        if not candidates:
            return [None] * len(track_ids), [0.0] * len(track_ids)
        templates = np.stack([s.template for s in candidates])
        sim = vectors @ templates.T  # (faces, students); 0 for faces too small to embed
        own = np.array([[self.track_student.get(tid) == s.key for s in candidates] for tid in track_ids])
        continuing = np.array([tid in self.track_student for tid in track_ids])
        if contexts.any() and self._context_trust >= c.context_trusted:
            # 0 where a face or a student has no context: the face's own similarity decides.
            student_contexts = np.stack([s.context for s in candidates])
            by_context = contexts @ student_contexts.T
            sim = np.maximum(sim, by_context - (c.context_similarity - c.match_similarity))
            # A track whose cell now shows another participant (a reshuffle moved someone else
            # there: their context is theirs, not this student's) is not this student's by
            # continuity: it starts afresh, as a new track would.
            both = contexts.any(axis=1)[:, None] & student_contexts.any(axis=1)[None, :]
            someone_else = ((by_context >= c.context_similarity) & ~own).any(axis=1)
            changed = (own & both & (by_context < c.context_changed)).any(axis=1) & someone_else
            own &= ~changed[:, None]
            continuing &= ~changed
        looks = sim >= c.match_similarity
        moved = np.array([t - s.last_seen <= c.moved_within_s for s in candidates])
        # A new track may be anyone it looks like; a continuing one keeps its student or passes to
        # a look-alike who was just seen elsewhere. It does not keep them when its face looks like
        # such a look-alike and not like them: a tile that moved, whose old occupant must not be
        # forced on it by a face elsewhere that the assignment could not place (in a reshuffle
        # every track gives its student up at once, and one face below the bar held them all).
        elsewhere = looks & ~own & moved[None, :]
        taken_over = continuing & ~(own & looks).any(axis=1) & elsewhere.any(axis=1)
        allowed = (own & ~taken_over[:, None]) | (looks & (~continuing[:, None] | moved[None, :]))
        keys, sims = self._solve(candidates, sim + c.keep_bonus * own, sim, allowed)
        # A continuing track whose own student went to another face: someone else sits there now,
        # and may be anyone it looks like (a student back after a while, in a reshuffled tile).
        # A face on a new track, or on one whose cell changed participant, that nobody took may
        # be what a reshuffle left over too (its box found afresh, its look not yet settled).
        taken = {k for k in keys if k is not None}
        rows = [r for r, (tid, k) in enumerate(zip(track_ids, keys, strict=True))
                if k is None and (not continuing[r] or self.track_student[tid] in taken)]
        free = [col for col, s in enumerate(candidates) if s.key not in taken]
        if rows and free:
            sub = np.ix_(rows, free)
            # What a reshuffle leaves over: a face on a tile whose student moved away, and a student
            # just seen elsewhere whom no face took. They pair at a lower bar than a look-alike
            # taken from anyone (``leftover_similarity``).
            leftover = (sim >= c.leftover_similarity) & moved[None, :]
            more, more_sims = self._solve([candidates[col] for col in free], sim[sub], sim[sub], (looks | leftover)[sub])
            for r, k, v in zip(rows, more, more_sims, strict=True):
                keys[r], sims[r] = k, v
        return keys, sims

    @staticmethod
    def _solve(candidates: list[_Student], score: np.ndarray, sim: np.ndarray,
               allowed: np.ndarray) -> tuple[list[int | None], list[float]]:
        """The best pairing of faces (rows) and students (columns) among the allowed pairs."""
        # Forbidden pairs get a cost no allowed pairing can beat, and are dropped afterwards.
        cost = np.where(allowed, -score, 1e6)
        rows, cols = linear_sum_assignment(cost)
        keys: list[int | None] = [None] * score.shape[0]
        sims = [0.0] * score.shape[0]
        for r, col in zip(rows, cols, strict=True):
            if allowed[r, col]:
                keys[r], sims[r] = candidates[col].key, float(sim[r, col])
        return keys, sims

    def _new_student(self, v: np.ndarray, ctx: np.ndarray, t: float) -> int:
        key = self._next_key
        self._next_key += 1
        self.students[key] = _Student(key, v.copy(), t, ctx.copy())
        return key

    def _update(self, student: _Student, v: np.ndarray, ctx: np.ndarray, t: float, same_track: bool) -> None:
        student.last_seen = t
        c = self.config
        if same_track and ctx.any() and student.context.any() and v.any() and float(v @ student.template) < c.match_similarity:
            steady = float(ctx @ student.context) >= c.context_similarity
            self._context_trust += c.context_trust_rate * (steady - self._context_trust)
        student.template = self._mixed(student.template, v)
        student.context = self._mixed(student.context, ctx)

    def _mixed(self, template: np.ndarray, v: np.ndarray) -> np.ndarray:
        """A running-mean template after one more look ``v`` (zeros: nothing seen this time, kept)."""
        if not v.any():
            return template
        if not template.any():
            return v.copy()
        mixed = (1 - self.config.template_rate) * template + self.config.template_rate * v
        return mixed / max(float(np.linalg.norm(mixed)), 1e-6)


def cell_holding(cells: Sequence[Sequence[int]], box: Sequence[float]) -> Sequence[int] | None:
    """The cell (x, y, w, h) holding the centre of ``box``, if any."""
    return cell_at(cells, box[0] + box[2] / 2, box[1] + box[3] / 2)
