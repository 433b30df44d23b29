"""Face detection with MediaPipe BlazeFace, for close-ups and for rooms of tiny faces.

Two ways to look at a frame:

* **full**: the full-range model (192 px input) on the whole frame. Cheap, good for a
  webcam or a room where faces are a sizeable part of the picture.
* **sliced**: the short-range model (128 px input) on overlapping square tiles whose side is
  about ``tile_face_ratio`` times the face size, upscaled to 128 px when smaller. BlazeFace
  finds faces that fill roughly 20-80 % of its input, so a 5x5 gallery (faces ~1/6 of the
  frame) or a ceiling camera (faces of 12-25 px) needs tiles; boxes from neighbouring tiles
  are merged by non-maximum suppression that prefers boxes not cut by a tile edge.

In **auto** mode a :class:`DetectionPlan` is chosen by a one-off search over tile sizes on an
early frame (full range, then tiles halving in size) and kept for ``recalibrate_s`` seconds,
so the decision is not re-made every frame.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import cv2
import numpy as np
import supervision as sv

from engine.blazeface import INPUT as SHORT_RANGE_INPUT
from engine.blazeface import RawFace, ShortRangeDetector
from engine.config import DetectorConfig
from engine.gallery import Layout, Rect, find_layout
from engine.runtime import import_mediapipe

CLUSTER_SCORE_GAP = 0.15  # see FaceDetector._tile_sides
MIN_CLUSTER_FACES = 2  # see FaceDetector._tile_sides
SWEEP_SCALES = (1.0, 0.8, 1.2)  # tile sides of successive sweeps, relative to the plan's (see plan_tiles)
IN_CELLS_SHARE = 0.8  # a plan searches a gallery cell by cell when this share of its faces are in cells
# Pictures the plan search runs between two of its steps (~30-60 ms on a 2-core laptop): a live
# source spreads a re-plan over frames a step at a time (engine/schedule.py).
SEARCH_STEP = 32
CELL_FACE_SHARE = 0.15  # a face this share of its cell's short side or more is the cell's webcam framing (see _search_ladder)
# MediaPipe's keypoint order; "right" is the person's right (the image's left in a frontal face).
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")


@dataclass(frozen=True)
class Face:
    """One detected face in frame pixels."""

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: np.ndarray  # (6, 2) pixels, in KEYPOINTS order
    cut: bool = False  # touches the inside edge of the tile it came from (may be part of a face)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (round(self.x), round(self.y), round(self.w), round(self.h))

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)

    @property
    def size(self) -> float:
        return max(self.w, self.h)

    def scaled(self, k: float) -> Face:
        """The same face in a picture ``k`` times as large."""
        return replace(self, x=self.x * k, y=self.y * k, w=self.w * k, h=self.h * k, keypoints=self.keypoints * k)


@dataclass(frozen=True)
class DetectionPlan:
    """How frames are searched until the next re-plan."""

    full_range: bool  # run the full-range model on the whole frame
    tile_sizes: tuple[int, ...] = ()  # short-range tiles of these sides; a side >= the frame = whole frame
    reason: str = ""
    # Made on a frame with no face at all (an empty room, a minimised meeting window): a stopgap,
    # searched again every recalibrate_empty_s even once it finds faces, since it was not chosen for them.
    provisional: bool = False
    # Made on a meeting gallery (engine/gallery.py): the faces' typical and largest (90th
    # percentile) size as a share of their cell's short side, so each cell is searched at the scale that fits it.
    cell_faces: tuple[float, float] | None = None

    @property
    def mode(self) -> str:
        return "sliced" if self.tile_sizes else "full"


@dataclass
class _PlanState:
    plan: DetectionPlan | None = None
    planned_at: float = -math.inf
    found: int = 0
    history: list[str] = field(default_factory=list)
    layout: Layout | None = None  # the gallery layout the plan's tiles were last laid on


class Tile(NamedTuple):
    """A square (or edge-cut) part of the frame the short-range model looks at; ``within`` is
    the picture it belongs to (a gallery cell, or the frame): a face touching one of the
    tile's sides inside ``within`` may be cut by the tile, one touching ``within``'s own side is not."""

    x: int
    y: int
    w: int
    h: int
    within: Rect


def tile_grid(width: int, height: int, side: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Square tiles ``(x, y, w, h)`` covering the frame, neighbours sharing ``overlap`` of a side;
    the last row/column is flush with the frame edge. A side >= the frame gives one tile."""

    def starts(extent: int) -> list[int]:
        if side >= extent:
            return [0]
        stride = max(1, side * (1.0 - overlap))
        n = math.ceil((extent - side) / stride) + 1
        return sorted({round(v) for v in np.linspace(0, extent - side, n)})

    return [(x, y, min(side, width), min(side, height)) for y in starts(height) for x in starts(width)]


def _app_bar(region: Rect, width: int, height: int) -> bool:
    """A meeting app's title bar or toolbar: a strip across the whole frame, under an eighth of its height."""
    return region[2] >= 0.9 * width and region[3] < height / 8


def _only_over(tile: Rect, cells: set[Rect], layout: Layout) -> bool:
    """Whether ``tile`` overlaps some of ``cells`` and nothing else of the ``layout`` but its
    flat background."""
    over = [c for c in (*layout.cells, *layout.others) if _overlap(tile, c)]
    return bool(over) and all(c in cells for c in over)


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _cell_tiles(cell: Rect, side: int, overlap: float, width: int, height: int) -> list[Tile]:
    """Square tiles of ``side`` over a gallery cell: a grid inside it where the cell is longer
    than the side, one tile centred on it (kept inside the frame) where it is not."""
    def starts(origin: int, extent: int, frame: int) -> list[int]:
        if side >= extent:
            return [min(max(0, origin + (extent - side) // 2), frame - side)]
        return [origin + s for s in sorted({x for x, _, _, _ in tile_grid(extent, side, side, overlap)})]

    return [Tile(x, y, side, side, cell) for y in starts(cell[1], cell[3], height) for x in starts(cell[0], cell[2], width)]


def _model_picture(tile: np.ndarray) -> np.ndarray:
    """A tile as the short-range model takes it: padded square (right and bottom, black) and
    resized bilinearly to its 128 px input, the resize the detector was measured with
    (docs/engine.md; area averaging for large tiles found fewer faces on generated galleries:
    recall 0.889 vs 0.901, 6 false boxes vs 4 in 24 frames)."""
    th, tw = tile.shape[:2]
    if th != tw:
        side = max(th, tw)
        tile = cv2.copyMakeBorder(tile, 0, side - th, 0, side - tw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.resize(tile, (SHORT_RANGE_INPUT, SHORT_RANGE_INPUT), interpolation=cv2.INTER_LINEAR)


def _to_frame(found: list[RawFace], x0: int, y0: int, extent: tuple[int, int],
              inside: tuple[int, int] | None = None,
              inner_edges: tuple[bool, bool, bool, bool] = (False, False, False, False)) -> list[Face]:
    """Detections of a picture covering ``extent`` frame pixels from (x0, y0) as frame faces;
    a box within 2 px of an ``inner_edges`` side of the ``inside`` part (the tile without its
    padding) is marked cut."""
    ew, eh = extent
    iw, ih = inside or extent
    margin = 2.0
    faces = []
    for d in found:
        x, y, bw, bh = d.x * ew, d.y * eh, d.w * ew, d.h * eh
        cut = ((inner_edges[0] and x <= margin) or (inner_edges[1] and y <= margin)
               or (inner_edges[2] and x + bw >= iw - margin) or (inner_edges[3] and y + bh >= ih - margin))
        kps = (d.keypoints * np.array([ew, eh], np.float32) + np.array([x0, y0], np.float32)).astype(np.float32)
        faces.append(Face(x0 + x, y0 + y, bw, bh, d.score, kps, cut))
    return faces


def box_overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pair of an (n, 4) and an (m, 4) array of xyxy boxes: their IoU, and the share
    of the smaller box that lies inside the other (a face part inside a whole face, a face's box
    shrunk when its camera re-framed), both (n, m)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b))), np.zeros((len(a), len(b)))
    return sv.box_iou_batch(a, b), sv.box_iou_batch(a, b, overlap_metric=sv.OverlapMetric.IOS)


def _xyxy(faces: list[Face]) -> np.ndarray:
    return np.array([f.xyxy for f in faces], np.float64).reshape(-1, 4)


def merge_faces(faces: list[Face], iou: float, containment: float) -> list[Face]:
    """Greedy NMS over boxes from several tiles/models.

    Whole (not tile-cut) boxes win over cut ones, then higher scores win; a box overlapping a
    kept one by more than ``iou`` is the same face. A box lying mostly (``containment``) inside
    another is a face part (an eye region found by a small tile): the larger whole box stays.
    """
    order = sorted(faces, key=lambda f: (f.cut, -f.score))
    ious, inside = (m.tolist() for m in box_overlaps(_xyxy(order), _xyxy(order)))  # lists: quicker to index one by one
    kept: list[int] = []  # indices into order
    for j, f in enumerate(order):
        for n, i in enumerate(kept):
            if ious[j][i] > iou:
                break
            if inside[j][i] > containment:
                if not f.cut and f.w * f.h > order[i].w * order[i].h:
                    kept[n] = j
                break
        else:
            kept.append(j)
    return [order[i] for i in kept]


def clip_to_frame(faces: list[Face], width: int, height: int) -> list[Face]:
    """Boxes cut to the frame (BlazeFace boxes of faces at an edge reach outside it)."""
    out = []
    for f in faces:
        x0, y0 = max(0.0, f.x), max(0.0, f.y)
        x1, y1 = min(float(width), f.x + f.w), min(float(height), f.y + f.h)
        if x1 - x0 >= 1 and y1 - y0 >= 1:
            out.append(Face(x0, y0, x1 - x0, y1 - y0, f.score, f.keypoints, f.cut))
    return out


class FaceDetector:
    """Finds faces in BGR frames according to a fixed mode or an auto-chosen plan."""

    def __init__(self, cfg: DetectorConfig, mode: str | None = None):
        mp = import_mediapipe()  # heavy import, paid only by code that detects

        self.cfg = cfg
        self.mode = mode or cfg.mode
        if self.mode not in ("auto", "full", "sliced"):
            raise ValueError(f"detector mode must be auto, full or sliced, not {self.mode!r}")
        fd = mp.solutions.face_detection
        # MediaPipe's own threshold is set a little under ours: our filter is the one that counts,
        # and it is applied the same way to both models.
        floor = max(0.05, cfg.min_score - 0.1)
        self._full = fd.FaceDetection(model_selection=1, min_detection_confidence=floor)
        # The short-range model runs hundreds of times a second (tiles, crops): in batches,
        # outside MediaPipe's one-picture graph (engine/blazeface.py; same model, same boxes).
        self._short = ShortRangeDetector(cfg.min_score, cfg.threads or None)
        self._state = _PlanState()

    # -- public ----------------------------------------------------------------------------
    def detect(self, image: np.ndarray, t: float = 0.0, trusted: list[Face] = (), every_scale: bool = False) -> list[Face]:
        """Faces in one BGR frame that pass the second look; ``t`` (media seconds) tells auto
        mode when to re-plan; ``trusted`` faces (verified a moment ago) need no second look.
        ``every_scale``: the plan's tiles at each of SWEEP_SCALES, as successive sweeps of a
        video would look at them (a still picture has no later frame to find a face in)."""
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        plan = self._plan_for(rgb, t)
        faces = self.verify(rgb, self._run_plan(rgb, plan), trusted)
        for variant in range(1, len(SWEEP_SCALES)) if every_scale else ():
            # Each scale's boxes take the second look on their own: a face passes if it does at any scale.
            more = self.detect_part(rgb, self.plan_tiles(rgb, variant), False, trusted=faces)
            faces = merge_faces(faces + more, self.cfg.nms_iou, self.cfg.nms_containment)
        self._state.found = max(self._state.found, len(faces))
        return faces

    def plan_due(self, t: float) -> bool:
        """Whether the next ``detect`` at media time ``t`` re-plans (searches every scale)."""
        st = self._state
        if self.mode == "full":
            return st.plan is None
        settled = st.plan is not None and st.found and not st.plan.provisional
        every = self.cfg.recalibrate_s if settled else self.cfg.recalibrate_empty_s
        return st.plan is None or t - st.planned_at >= every

    def plan_tiles(self, rgb: np.ndarray, variant: int = 0) -> list[Tile]:
        """Every tile the current plan looks at in this frame. On a meeting gallery each cell is
        searched at the scale its faces were found at, the rest of the frame with the plan's
        tile sizes, gaps and flat bars not at all; the layout is read from this very frame, so a
        changed layout (tiles added, a resized window) is followed at once.

        ``variant`` (a sweep's number) scales the tiles by one of SWEEP_SCALES: a face the model
        scores just under the second look's bar at one tile position and scale usually passes
        at another, so successive sweeps do not all miss the same face."""
        plan = self._state.plan
        scale = SWEEP_SCALES[variant % len(SWEEP_SCALES)]
        sides = tuple(max(self.cfg.min_tile_px, round(side * scale)) for side in plan.tile_sizes) if plan else ()
        h, w = rgb.shape[:2]
        layout = self._layout(rgb) if plan and plan.cell_faces else None
        self._state.layout = layout
        if not layout or not layout.is_gallery:
            frame = (0, 0, w, h)
            return [Tile(*t, frame) for side in sides for t in tile_grid(w, h, side, self.cfg.tile_overlap)]
        typical, largest = plan.cell_faces
        tiles = []
        for cell in layout.cells:
            short = min(cell[2], cell[3])
            # A face filling its cell needs a tile larger than the cell (BlazeFace misses faces
            # that fill its whole input): such a tile is centred on the cell, over the gaps.
            side = min(w, h, max(self.cfg.min_tile_px, round(max(self.cfg.tile_face_ratio * typical, 1.6 * largest)
                                                                 * short * scale)))
            # Neighbouring tiles share at least the largest face (with room), so each face is whole in one.
            overlap = min(0.75, max(self.cfg.tile_overlap, 1.2 * largest * short / side))
            tiles += _cell_tiles(cell, side, overlap, w, h)
        # The rest (a shared screen, a cell the gaps split in two, bars with text) by the frame's
        # own tiles that reach it: not cut to the region, so a face across a split is whole in one.
        # Left out: a region thinner than the plan's faces, and the app's title bar and toolbar
        # (strips across the whole frame, under an eighth of its height).
        frame = (0, 0, w, h)
        for side in sides:
            others = [r for r in layout.others if min(r[2], r[3]) >= side / self.cfg.tile_face_ratio
                      and not _app_bar(r, w, h)]
            tiles += [Tile(*t, frame) for t in tile_grid(w, h, side, self.cfg.tile_overlap)
                      if any(_overlap(t, r) for r in others)]
        return tiles

    @staticmethod
    def _layout(rgb: np.ndarray) -> Layout:
        return find_layout(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))

    def detect_part(self, rgb: np.ndarray, tiles: list[Tile], full_range: bool,
                    trusted: list[Face] = ()) -> list[Face]:
        """Faces in part of the plan (some of its ``tiles``, and the full-range model if asked)
        of one RGB frame, second look passed. A box cut by a tile edge is left out: with the
        plan's overlap the face is whole in a neighbouring tile, which may be in another part."""
        faces = self._run_model(self._full, rgb) if full_range else []
        faces += [f for f in self._run_tiles(rgb, tiles) if not f.cut]
        merged = merge_faces(self._filter(faces), self.cfg.nms_iou, self.cfg.nms_containment)
        return self.verify(rgb, clip_to_frame(merged, rgb.shape[1], rgb.shape[0]), trusted)

    def verify(self, rgb: np.ndarray, faces: list[Face], trusted: list[Face] = ()) -> list[Face]:
        """The faces that pass the second look (config.toml [detector] verify_* says why and how):
        the mean of the box's score and of the short-range model's score on each crop around it
        (0 where a crop shows no face there). A box over ``verify_below`` passes as it is; so does
        one lying on a ``trusted`` face (verified a moment ago)."""
        c = self.cfg
        on_trusted = (box_overlaps(_xyxy(faces), _xyxy(list(trusted)))[0] > 0.5).any(axis=1)
        doubtful = [i for i, f in enumerate(faces) if f.score < c.verify_below and not on_trusted[i]]
        looks = {i: [faces[i].score] for i in doubtful}
        for ratio in c.verify_crop_ratios:
            for i, g in zip(doubtful, self._find_in_crops(rgb, [faces[i] for i in doubtful], ratio), strict=True):
                looks[i].append(g.score if g else 0.0)
        return [f for i, f in enumerate(faces) if i not in looks or sum(looks[i]) / len(looks[i]) >= c.verify_mean]

    def relocate(self, rgb: np.ndarray, faces: list[Face]) -> list[Face | None]:
        """Each face near where ``faces`` were, in this frame, from the crops around it
        (``verify_crop_ratios`` times its size, in turn until one finds it); None where none
        holds a face there."""
        found: list[Face | None] = [None] * len(faces)
        for ratio in self.cfg.verify_crop_ratios:
            missing = [i for i, f in enumerate(found) if f is None]
            if not missing:
                break
            for i, g in zip(missing, self._find_in_crops(rgb, [faces[i] for i in missing], ratio), strict=True):
                found[i] = g
        return found

    def _find_in_crops(self, rgb: np.ndarray, faces: list[Face], ratio: float) -> list[Face | None]:
        """The short-range model on the square crop of ``ratio`` times each face's size around
        it, resized to the model's input: the detection whose centre is nearest the crop's."""
        h, w = rgb.shape[:2]
        crops, pictures = [], []
        for face in faces:
            cx, cy = face.x + face.w / 2, face.y + face.h / 2
            side = max(ratio * face.size, self.cfg.min_face_px * ratio)
            x0, y0 = int(max(0, round(cx - side / 2))), int(max(0, round(cy - side / 2)))
            x1, y1 = int(min(w, round(cx + side / 2))), int(min(h, round(cy + side / 2)))
            if x1 - x0 < 4 or y1 - y0 < 4:
                crops.append(None)
                continue
            crops.append((x0, y0, x1 - x0, y1 - y0))
            pictures.append(cv2.resize(rgb[y0:y1, x0:x1], (SHORT_RANGE_INPUT, SHORT_RANGE_INPUT),
                                       interpolation=cv2.INTER_LINEAR))  # as verify_* was measured
        results = iter(self._short.detect(pictures))
        out: list[Face | None] = []
        for face, crop in zip(faces, crops, strict=True):
            if crop is None:
                out.append(None)
                continue
            x0, y0, cw, ch = crop
            found = self._filter(_to_frame(next(results), x0, y0, (cw, ch)))
            cx, cy = face.x + face.w / 2, face.y + face.h / 2
            near = [f for f in found
                    if abs(f.x + f.w / 2 - cx) < 0.5 * face.size and abs(f.y + f.h / 2 - cy) < 0.5 * face.size]
            best = min(near, key=lambda f: (f.x + f.w / 2 - cx) ** 2 + (f.y + f.h / 2 - cy) ** 2) if near else None
            clipped = clip_to_frame([best], w, h) if best else []
            out.append(clipped[0] if clipped else None)
        return out

    @property
    def plan(self) -> DetectionPlan | None:
        return self._state.plan

    @property
    def cells(self) -> tuple[Rect, ...]:
        """The meeting gallery's cells (``Layout.uniform_cells``) as the plan's tiles were last
        laid on them (every sweep, and wherever a face was lost); none off a gallery."""
        layout = self._state.layout
        return layout.uniform_cells() if layout is not None and self._state.plan and self._state.plan.cell_faces else ()

    @property
    def plan_history(self) -> list[str]:
        return list(self._state.history)

    def warm_up(self) -> None:
        """Run both models once on a blank picture (their first run sets up threads)."""
        blank = np.zeros((SHORT_RANGE_INPUT, SHORT_RANGE_INPUT, 3), np.uint8)
        self._full.process(blank)
        self._short.detect(blank[None])

    def close(self) -> None:
        self._full.close()

    # -- planning --------------------------------------------------------------------------
    def _plan_for(self, rgb: np.ndarray, t: float) -> DetectionPlan:
        st = self._state
        if self.plan_due(t):
            if self.mode == "full":
                st.plan = DetectionPlan(full_range=True, reason="full mode")
            else:
                st.plan = self.search_plan(rgb)
                st.history.append(f"t={t:.1f}s: {st.plan.reason}")
            st.planned_at, st.found = t, 0
        return st.plan

    def search_plan(self, rgb: np.ndarray) -> DetectionPlan:
        """Look at one frame at every scale and pick the cheapest plan that finds its faces."""
        steps = self.plan_search(rgb)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def adopt_plan(self, plan: DetectionPlan, t: float, found: int) -> None:
        """Follow ``plan`` from media time ``t`` on (one that :meth:`plan_search` made over several
        frames); ``found``: the faces known now, as :meth:`detect` counts them after a re-plan
        (none would keep re-planning every ``recalibrate_empty_s``)."""
        st = self._state
        st.plan, st.planned_at, st.found = plan, t, found
        st.history.append(f"t={t:.1f}s: {plan.reason} (searched a step a frame)")

    def plan_search(self, rgb: np.ndarray) -> Generator[None, None, DetectionPlan]:
        """:meth:`search_plan` in steps: it yields after each batch of at most SEARCH_STEP
        pictures and returns the plan, so a live source can spread the search over frames."""
        h, w = rgb.shape[:2]
        full = self._filter(self._run_model(self._full, rgb))
        ladder, side = [], min(h, w)
        while True:
            ladder.append(max(side, self.cfg.min_tile_px))
            if side <= self.cfg.min_tile_px:
                break
            side //= 2
        layout = self._layout(rgb)
        tiled, skipped, verified = yield from self._search_ladder(rgb, ladder, layout)

        def passing(trusted: list[Face]) -> list[Face]:
            # Plan on what passes the second look: a plan chosen for a flower's petals or a poster
            # would send small tiles over every frame after it.
            merged = merge_faces(full + self._filter(tiled), self.cfg.nms_iou, self.cfg.nms_containment)
            return self.verify(rgb, merged, trusted=trusted)

        everything = passing(verified)
        cell_faces = self._cell_faces(layout, everything)
        if skipped and cell_faces is None:
            # The cells' small scales were left out for a gallery that, with all its faces, is not
            # one: the search is finished as on any other frame.
            for i in range(0, len(skipped), SEARCH_STEP):
                tiled += [f for f in self._run_tiles(rgb, skipped[i:i + SEARCH_STEP]) if not f.cut]
                yield
            everything = passing(everything)
            cell_faces = self._cell_faces(layout, everything)
        if not everything:
            sides = () if self.mode == "auto" else (min(h, w),)
            return DetectionPlan(full_range=True, tile_sizes=sides, reason="no face found yet: full range only",
                                 provisional=True)
        in_full = int((box_overlaps(_xyxy(everything), _xyxy(full))[0] > self.cfg.nms_iou).any(axis=1).sum())
        if self.mode == "auto" and in_full >= self.cfg.full_range_share * len(everything):
            return DetectionPlan(full_range=True, reason=f"full range finds {in_full} of {len(everything)} faces")
        sides = self._tile_sides([(f.size, f.score) for f in everything], min(h, w))
        return DetectionPlan(
            full_range=False, tile_sizes=sides, cell_faces=cell_faces,
            reason=f"sliced: full range finds {in_full} of {len(everything)} faces "
                   f"(sizes {min(f.size for f in everything):.0f}-{max(f.size for f in everything):.0f} px); "
                   f"tiles of {', '.join(map(str, sides))} px"
                   + (f"; a gallery: each cell at faces of {cell_faces[0]:.0%} (up to {cell_faces[1]:.0%}) of its side"
                      if cell_faces else ""),
        )

    def _search_ladder(self, rgb: np.ndarray, ladder: list[int],
                       layout: Layout) -> Generator[None, None, tuple[list[Face], list[Tile], list[Face]]]:
        """Whole (not tile-cut) boxes of the short-range model over the frame at each side of
        ``ladder`` (largest first), the tiles left out, and the gallery faces that passed the
        second look on the way.

        The search uses less overlap than tracking: a face cut at one scale is whole at the
        next. On a meeting gallery a cell whose webcam face has been found (and passed the
        second look) is not searched at the smaller scales: the plan follows each cell at the
        scale of the gallery's typical face (``plan_tiles``), so a smaller face there would not
        be followed anyway, and those small tiles, most of the search on a 1080p gallery (the 67
        and 48 px tiles are ~2,400 of ~2,800 pictures on a 5x5), find eyes, ears and name strips."""
        h, w = rgb.shape[:2]
        # Cells whose webcam face has been found, and the app's bars, which the plan never looks at.
        settled = {r for r in layout.others if _app_bar(r, w, h)} if layout.is_gallery else set()
        verified: list[Face] = []
        tiled: list[Face] = []
        skipped: list[Tile] = []
        for side in ladder:
            tiles = [Tile(*t, (0, 0, w, h)) for t in tile_grid(w, h, side, 0.25)]
            if settled:
                # Left out: a tile over settled cells and bars (and the flat gaps between them) only.
                skip = [_only_over(t, settled, layout) for t in tiles]
                skipped += [t for t, s in zip(tiles, skip, strict=True) if s]
                tiles = [t for t, s in zip(tiles, skip, strict=True) if not s]
            found = []
            for i in range(0, len(tiles), SEARCH_STEP):
                found += [f for f in self._run_tiles(rgb, tiles[i:i + SEARCH_STEP]) if not f.cut]
                yield
            tiled += found
            if not layout.is_gallery:
                continue
            merged = merge_faces(self._filter(found), self.cfg.nms_iou, self.cfg.nms_containment)
            for f in self.verify(rgb, clip_to_frame(merged, w, h), trusted=verified):
                verified.append(f)
                cell = layout.cell_of(f.x + f.w / 2, f.y + f.h / 2)
                if cell and f.size >= CELL_FACE_SHARE * min(cell[2], cell[3]):
                    settled.add(cell)
        return tiled, skipped, verified

    @staticmethod
    def _cell_faces(layout: Layout, faces: list[Face]) -> tuple[float, float] | None:
        """The faces' typical and largest size as a share of their cell's short side, when the
        frame is a meeting gallery holding (nearly) all of them; else None."""
        shares = []
        for f in faces:
            cell = layout.cell_of(f.x + f.w / 2, f.y + f.h / 2)
            if cell:
                shares.append(f.size / min(cell[2], cell[3]))
        if not shares or len(shares) < IN_CELLS_SHARE * len(faces):
            return None
        # The 90th percentile, not the largest: one odd box (two faces as one) would make every cell's tiles overlap more.
        return float(np.median(shares)), float(np.percentile(shares, 90))

    def _tile_sides(self, found: list[tuple[float, float]], min_side: int) -> tuple[int, ...]:
        """One tile side per cluster of face sizes within a factor of 2 of each other.

        A cluster is left out when others exist and it holds under 10 % of the faces or fewer
        than ``MIN_CLUSTER_FACES``, or its median score trails the best cluster's by more than
        ``CLUSTER_SCORE_GAP``: small tiles over a gallery of large faces find eyes, ears and
        name strips at scores of 0.5-0.65 while the faces score 0.8-0.95, and every extra scale
        costs a full pass of tiles (the 73 px scale alone is ~450 tiles on a 720p frame). One
        face alone does not buy a scale: on the real classroom pan made dim (a gamma-darkened
        copy, benchmarks/real_variations.py) the plan frame's 5 faces held one of 14 px, whose
        48 px tiles took the plan from 176 tiles to 677 and halved the speed for the same faces
        a frame; a room with many far faces shows several on the plan frame."""
        groups: list[list[tuple[float, float]]] = []
        for size, score in sorted(found, reverse=True):  # anchored on the largest: a group spans its top face's half
            if groups and 2 * size >= groups[-1][0][0]:
                groups[-1].append((size, score))
            else:
                groups.append([(size, score)])
        best = max(float(np.median([sc for _, sc in g])) for g in groups)
        big = [g for g in groups if len(g) >= max(MIN_CLUSTER_FACES, 0.1 * len(found))
               and float(np.median([sc for _, sc in g])) >= best - CLUSTER_SCORE_GAP]
        big = big or [max(groups, key=len)]
        return tuple(sorted({self._side_for([sz for sz, _ in g], min_side) for g in big}))

    def _side_for(self, group: list[float], min_side: int) -> int:
        typical = float(np.median(group))
        side = max(self.cfg.min_tile_px, round(self.cfg.tile_face_ratio * typical))
        # A tile must hold its largest face whole with room to spare, and never exceed the frame.
        side = max(side, round(1.6 * max(group)))
        return min(side, min_side)

    # -- running ---------------------------------------------------------------------------
    def _run_plan(self, rgb: np.ndarray, plan: DetectionPlan) -> list[Face]:
        faces: list[Face] = []
        if plan.full_range:
            faces += self._run_model(self._full, rgb)
        faces += self._run_tiles(rgb, self.plan_tiles(rgb))
        merged = merge_faces(self._filter(faces), self.cfg.nms_iou, self.cfg.nms_containment)
        return clip_to_frame(merged, rgb.shape[1], rgb.shape[0])

    def _run_tiles(self, rgb: np.ndarray, tiles: list[Tile | tuple[int, int, int, int]]) -> list[Face]:
        h, w = rgb.shape[:2]
        pictures = [_model_picture(rgb[t[1]:t[1] + t[3], t[0]:t[0] + t[2]]) for t in tiles]
        faces: list[Face] = []
        for tile, found in zip(tiles, self._short.detect(pictures), strict=True):
            x0, y0, tw, th = tile[:4]
            bx, by, bw, bh = tile[4] if len(tile) > 4 else (0, 0, w, h)
            edges = (x0 > bx, y0 > by, x0 + tw < bx + bw, y0 + th < by + bh)
            faces += _to_frame(found, x0, y0, (max(tw, th),) * 2, (tw, th), edges)
        return faces

    @staticmethod
    def _run_model(model, rgb: np.ndarray) -> list[Face]:
        """A MediaPipe detector on the whole RGB frame."""
        result = model.process(rgb)
        return _to_frame([RawFace(d.location_data.relative_bounding_box.xmin, d.location_data.relative_bounding_box.ymin,
                                  d.location_data.relative_bounding_box.width,
                                  d.location_data.relative_bounding_box.height, float(d.score[0]),
                                  np.array([(k.x, k.y) for k in d.location_data.relative_keypoints], np.float32))
                          for d in result.detections or ()], 0, 0, (rgb.shape[1], rgb.shape[0]))

    def _filter(self, faces: list[Face]) -> list[Face]:
        c = self.cfg
        return [
            f for f in faces
            if f.score >= c.min_score and min(f.w, f.h) >= c.min_face_px and f.w > 0 and f.h > 0
            and max(f.w / f.h, f.h / f.w) <= c.max_aspect
        ]
