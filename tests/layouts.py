"""Synthetic meeting-app galleries (Zoom / Meet look) and face collages, with their truth.

Imported by tests and benchmarks (``sys.path`` holds ``tests/``)::

    from layouts import make_gallery, face_photo_collage, match_boxes

    truth = make_gallery("/tmp/g.mp4", rows=5, cols=5, width=1280, height=720, seconds=10)
    boxes, ids = truth.at(3.2)              # the face boxes (x, y, w, h) shown at 3.2 s, per tile
    hits, misses, false_boxes = match_boxes(boxes, found_boxes)

A gallery is a grid of 16:9 tiles with uniform gaps on a dark meeting background, between a
title bar and a toolbar. Each tile shows one *participant*: a virtual background cut from one
of scikit-learn's sample photos, shoulders, and a FER2013 PrivateTest face (48x48 grey,
upscaled, tinted, ellipse-masked with a soft edge) of 35-55 % of the tile height that drifts a
few pixels and slowly changes scale; the participant's name is in a small label at the
bottom left. Each participant cycles through a few FER faces of different expressions, one
every 3-6 s (FER2013 has no identities: "same participant" means "same tile content and
name", not the same person). ``reshuffle_at`` moves every participant to another tile at that
time, as meeting apps do when someone joins or speaks. One tile at a time has the
active-speaker frame.

The truth box of a face is the square its FER picture is drawn in (BlazeFace's box covers
about the lower 82 % of a FER picture, so a found face overlaps its truth box by IoU ~0.6-0.8).
Everything is seeded; the same arguments give the same frames and truth.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `training` (the FER loader) from tests and benchmarks alike
    sys.path.insert(0, str(ROOT))

DEFAULT_FER = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"

NAMES = (
    "Amara Okafor", "Ben Carter", "Chloe Martin", "Dmitri Volkov", "Elena Rossi", "Farid Haddad",
    "Grace Lee", "Hiro Tanaka", "Isla Murray", "Jonas Berg", "Kofi Mensah", "Lena Novak",
    "Mateo Garcia", "Nadia Karim", "Oscar Lund", "Priya Nair", "Quinn Walsh", "Rosa Mendes",
    "Sami Aho", "Tara Singh", "Umar Farouk", "Vera Ivanova", "Wen Li", "Ximena Ruiz",
    "Yusuf Demir", "Zoe Adams", "Arjun Rao", "Bea Santos", "Carl Meyer", "Dina Cohen",
)

# Meeting-app look (BGR).
BACKGROUND = (26, 26, 26)
BAR_COLOUR = (38, 38, 38)
TEXT_COLOUR = (240, 240, 240)
SPEAKER_COLOUR = (80, 200, 90)
LEAVE_COLOUR = (50, 50, 220)
SHIRTS = ((120, 70, 40), (60, 60, 60), (40, 90, 150), (150, 150, 150), (90, 40, 100), (30, 30, 120),
          (100, 120, 40), (200, 200, 200), (60, 100, 60), (20, 20, 20))
TINTS = ((0.80, 0.92, 1.10), (0.85, 0.95, 1.05), (0.75, 0.88, 1.00), (0.90, 0.95, 1.00), (0.70, 0.82, 0.95))
TOOLBAR = ("Mute", "Stop Video", "Participants", "Chat", "Share Screen", "Record", "Reactions")
FACES_PER_PARTICIPANT = 3


# ----------------------------------------------------------------------------- sources


@functools.lru_cache(maxsize=2)
def fer_faces(path: str | os.PathLike = DEFAULT_FER) -> tuple[np.ndarray, np.ndarray]:
    """FER2013 PrivateTest ``(images (N, 48, 48) uint8, labels (N,))`` without blank pictures.

    Loaded once per process (``training.data`` also keeps a parsed copy in ~/.cache).
    ``labels`` index ``training.labels.EMOTIONS``; the returned indices below are into these
    arrays, which keep the split's order with the blank pictures (contrast < 20) left out."""
    from training.data import load

    test = load(path).split("PrivateTest")
    images = np.asarray(test.images, np.uint8)
    keep = images.reshape(len(images), -1).std(axis=1) >= 20
    return images[keep], np.asarray(test.labels)[keep]


@functools.lru_cache(maxsize=1)
def sample_photos() -> tuple[np.ndarray, ...]:
    """scikit-learn's bundled sample photos (a temple, a flower) as BGR images; no face in them."""
    from sklearn.datasets import load_sample_images

    return tuple(cv2.cvtColor(img, cv2.COLOR_RGB2BGR) for img in load_sample_images().images)


def _photo_cut(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A random crop (30-100 % of a sample photo, the target's aspect, maybe mirrored) at w x h."""
    photo = sample_photos()[int(rng.integers(len(sample_photos())))]
    ph, pw = photo.shape[:2]
    aspect = w / h
    ch = int(ph * rng.uniform(0.3, 1.0))
    cw = int(ch * aspect)
    if cw > pw:
        cw, ch = pw, int(pw / aspect)
    x, y = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
    cut = photo[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        cut = cut[:, ::-1]
    out = cv2.resize(np.ascontiguousarray(cut), (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3:  # "blur my background"
        out = cv2.GaussianBlur(out, (0, 0), max(1.0, h / 60))
    return out


@functools.lru_cache(maxsize=64)
def _soft_ellipse(side: int) -> np.ndarray:
    """(side, side, 1) float32 alpha: an ellipse filling the square with a feathered edge."""
    mask = np.zeros((side, side), np.float32)
    c = (side - 1) / 2
    cv2.ellipse(mask, (round(c), round(c)), (max(1, round(side * 0.47)), max(1, round(side * 0.5))), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.6, side / 30))
    return mask[:, :, None]


def _face_patch(cache: dict, fer: int, side: int, tint: tuple[float, float, float]) -> np.ndarray:
    key = (fer, side, tint)
    patch = cache.get(key)
    if patch is None:
        grey = cv2.resize(fer_faces()[0][fer], (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        patch = cache[key] = grey[:, :, None] * np.asarray(tint, np.float32)
    return patch


def _blend(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x: int, y: int, clip) -> None:
    """Alpha-blend ``patch`` (float32) at (x, y), clipped to the rectangle ``clip`` (x0, y0, x1, y1)."""
    h, w = patch.shape[:2]
    x0, y0, x1, y1 = max(x, clip[0]), max(y, clip[1]), min(x + w, clip[2]), min(y + h, clip[3])
    if x0 >= x1 or y0 >= y1:
        return
    p = patch[y0 - y:y1 - y, x0 - x:x1 - x]
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x]
    roi = frame[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1.0 - a) + p * a, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class GalleryGeometry:
    tiles: tuple[tuple[int, int, int, int], ...]  # x, y, w, h in reading order
    gap: int
    top_bar: int
    toolbar: int


def gallery_geometry(rows: int, cols: int, width: int, height: int) -> GalleryGeometry:
    """16:9 tiles, as large as fit, uniform gaps, the grid centred between title bar and toolbar."""
    if rows < 1 or cols < 1:
        raise ValueError("a gallery needs at least one row and one column")
    gap = max(4, round(height / 160))
    top_bar, toolbar = max(20, round(height * 0.035)), max(36, round(height * 0.07))
    avail_h = height - top_bar - toolbar
    tile_w = min((width - gap * (cols + 1)) // cols, ((avail_h - gap * (rows + 1)) // rows) * 16 // 9)
    tile_h = tile_w * 9 // 16
    if tile_h < 24:
        raise ValueError(f"{rows}x{cols} tiles do not fit in {width}x{height}")
    x0 = (width - (cols * tile_w + (cols - 1) * gap)) // 2
    y0 = top_bar + (avail_h - (rows * tile_h + (rows - 1) * gap)) // 2
    tiles = tuple((x0 + c * (tile_w + gap), y0 + r * (tile_h + gap), tile_w, tile_h)
                  for r in range(rows) for c in range(cols))
    return GalleryGeometry(tiles, gap, top_bar, toolbar)


# ----------------------------------------------------------------------------- gallery


@dataclass(frozen=True)
class GalleryTruth:
    """What a gallery video shows, frame by frame (frame ``i`` is at ``i / fps`` seconds).

    ``boxes[i, k]`` is the face box (x, y, w, h, pixels) on tile ``k`` in frame ``i``;
    ``ids[i, k]`` the participant shown there (index into ``names``); ``faces[i, k]`` the FER
    picture (index into :func:`fer_faces`) and ``labels[i, k]`` its emotion (index into
    ``training.labels.EMOTIONS``); ``pictures[p]`` are participant ``p``'s FER pictures (of
    different emotions). Every tile shows a face in every frame."""

    path: Path
    width: int
    height: int
    fps: float
    rows: int
    cols: int
    tiles: tuple[tuple[int, int, int, int], ...]
    names: tuple[str, ...]
    boxes: np.ndarray  # (frames, tiles, 4) int32
    ids: np.ndarray  # (frames, tiles) int32
    faces: np.ndarray  # (frames, tiles) int32
    labels: np.ndarray  # (frames, tiles) int32
    pictures: tuple[tuple[int, ...], ...]  # each participant's FER pictures, cycled in this order
    reshuffle_at: float | None = None

    @property
    def n_frames(self) -> int:
        return len(self.boxes)

    @property
    def participants(self) -> int:
        return self.rows * self.cols

    def frame_index(self, t: float) -> int:
        """The frame shown at media time ``t`` (seconds)."""
        return min(self.n_frames - 1, max(0, round(t * self.fps)))

    def at(self, t: float) -> tuple[list[tuple[int, int, int, int]], list[int]]:
        """``(boxes, participant ids)`` of the frame shown at ``t``, in tile order."""
        i = self.frame_index(t)
        return [tuple(int(v) for v in b) for b in self.boxes[i]], [int(p) for p in self.ids[i]]

    def tile_of(self, x: float, y: float) -> int | None:
        """The tile holding the point (x, y), or None (gaps, bars)."""
        for k, (tx, ty, tw, th) in enumerate(self.tiles):
            if tx <= x < tx + tw and ty <= y < ty + th:
                return k
        return None


@dataclass(frozen=True)
class _Participant:
    name: str
    background: np.ndarray  # tile-sized BGR
    fer: tuple[int, ...]  # FER picture indices, cycled
    changes: np.ndarray  # times at which the next picture comes on
    size: float  # face side / tile height
    period: float  # seconds of one slow zoom cycle
    phase: float
    offset: tuple[float, float]  # face centre offset from its place, fraction of the tile
    wobble: tuple[float, float, float, float]  # drift periods (s) and phases for x, y
    shirt: tuple[int, int, int]
    tint: tuple[float, float, float]

    def picture_at(self, t: float) -> int:
        return self.fer[int(np.searchsorted(self.changes, t, side="right")) % len(self.fer)]


def _participants(n: int, tile_w: int, tile_h: int, seconds: float, rng: np.random.Generator) -> list[_Participant]:
    images, labels = fer_faces()
    by_label = [rng.permutation(np.flatnonzero(labels == e)).tolist() for e in range(int(labels.max()) + 1)]
    out = []
    for p in range(n):
        # Different expressions for one participant, common ones more often (disgust is rare in FER).
        emotions = rng.choice(len(by_label), size=FACES_PER_PARTICIPANT, replace=False,
                              p=np.array([len(b) for b in by_label], float) / sum(len(b) for b in by_label))
        fer = tuple(int(by_label[e].pop()) for e in emotions)
        first = rng.uniform(1.0, 6.0)
        changes = np.cumsum(np.concatenate([[first], rng.uniform(3.0, 6.0, size=int(seconds / 3) + 2)]))
        name = NAMES[p % len(NAMES)] + (f" ({p // len(NAMES) + 1})" if p >= len(NAMES) else "")
        out.append(_Participant(
            name=name, background=_photo_cut(rng, tile_w, tile_h), fer=fer, changes=changes,
            size=float(rng.uniform(0.38, 0.50)), period=float(rng.uniform(8.0, 16.0)),
            phase=float(rng.uniform(0, 2 * math.pi)),
            offset=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.04, 0.04))),
            wobble=(float(rng.uniform(2.5, 6.0)), float(rng.uniform(0, 2 * math.pi)),
                    float(rng.uniform(3.0, 7.0)), float(rng.uniform(0, 2 * math.pi))),
            shirt=SHIRTS[int(rng.integers(len(SHIRTS)))], tint=TINTS[int(rng.integers(len(TINTS)))],
        ))
    return out


def _face_box(p: _Participant, tile: tuple[int, int, int, int], t: float) -> tuple[int, int, int, int]:
    """Where participant ``p``'s face picture is drawn at ``t`` on ``tile``: slow zoom (+-8 %),
    a drift of a few pixels, always inside the tile and above the name label."""
    tx, ty, tw, th = tile
    side = round(th * p.size * (1 + 0.08 * math.sin(2 * math.pi * t / p.period + p.phase)))
    side = max(12, min(side, th - 8, tw - 8))
    amp = max(2.0, 0.025 * th)
    cx = tx + tw * (0.5 + p.offset[0]) + amp * math.sin(2 * math.pi * t / p.wobble[0] + p.wobble[1])
    cy = ty + th * (0.45 + p.offset[1]) + 0.6 * amp * math.sin(2 * math.pi * t / p.wobble[2] + p.wobble[3])
    x = int(round(min(max(cx - side / 2, tx + 3), tx + tw - 3 - side)))
    y = int(round(min(max(cy - side / 2, ty + 3), ty + th - 3 - side)))
    return x, y, side, side


def _font_scale(tile_h: int) -> float:
    return float(np.clip(tile_h / 260, 0.3, 0.6))


def _name_label(frame: np.ndarray, tile, name: str) -> None:
    """Zoom's name label: small translucent dark box at the tile's bottom left, white text."""
    tx, ty, tw, th = tile
    scale = _font_scale(th)
    (w, h), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    pad = max(2, round(h * 0.35))
    x0, y1 = tx + 2, ty + th - 2
    x1, y0 = min(tx + tw - 2, x0 + w + 2 * pad), y1 - h - base - 2 * pad
    roi = frame[y0:y1, x0:x1]
    roi[:] = (roi * 0.35).astype(np.uint8)
    cv2.putText(frame, name, (x0 + pad, y1 - pad - base), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOUR, 1, cv2.LINE_AA)


def _chrome(width: int, height: int, geo: GalleryGeometry, title: str) -> np.ndarray:
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    scale = float(np.clip(height / 1800, 0.38, 0.65))
    cv2.rectangle(frame, (0, 0), (width - 1, geo.top_bar - 1), BAR_COLOUR, -1)
    cv2.putText(frame, title, (10, geo.top_bar - geo.top_bar // 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                TEXT_COLOUR, 1, cv2.LINE_AA)
    y0 = height - geo.toolbar
    cv2.rectangle(frame, (0, y0), (width - 1, height - 1), BAR_COLOUR, -1)
    x = 16
    for label in TOOLBAR:
        (w, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(frame, (x + w // 2 - 7, y0 + geo.toolbar // 5), (x + w // 2 + 7, y0 + geo.toolbar // 2),
                      (200, 200, 200), 1)
        cv2.putText(frame, label, (x, height - geo.toolbar // 6), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    TEXT_COLOUR, 1, cv2.LINE_AA)
        x += w + 28
    (w, h), _ = cv2.getTextSize("Leave", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(frame, (width - w - 34, y0 + geo.toolbar // 4), (width - 14, height - geo.toolbar // 4),
                  LEAVE_COLOUR, -1)
    cv2.putText(frame, "Leave", (width - w - 24, y0 + (geo.toolbar + h) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                TEXT_COLOUR, 1, cv2.LINE_AA)
    return frame


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    if n < 2:
        return np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def make_gallery(path: str | os.PathLike, rows: int, cols: int, width: int, height: int, seconds: float,
                 fps: float = 10, seed: int = 0, reshuffle_at: float | None = None,
                 title: str = "Class meeting - Gallery view") -> GalleryTruth:
    """Write a ``rows`` x ``cols`` gallery video (``width`` x ``height``, OpenCV ``mp4v``,
    ``seconds`` long at ``fps``) to ``path`` and return its :class:`GalleryTruth`.

    Participant ``p`` starts on tile ``p``; at ``reshuffle_at`` seconds every participant moves
    to another tile (a derangement), taking its face, background and name along."""
    rng = np.random.default_rng(seed)
    geo = gallery_geometry(rows, cols, width, height)
    n = rows * cols
    tile_w, tile_h = geo.tiles[0][2], geo.tiles[0][3]
    people = _participants(n, tile_w, tile_h, seconds, rng)
    n_frames = max(1, int(round(seconds * fps)))
    shuffle = _derangement(n, rng)
    speaker_changes = np.cumsum(rng.uniform(2.0, 5.0, size=int(seconds / 2) + 2))
    speakers = rng.integers(0, n, size=len(speaker_changes) + 1)

    def seating(t: float) -> np.ndarray:  # participant on each tile
        return shuffle if reshuffle_at is not None and t >= reshuffle_at else np.arange(n)

    # The still parts of each seating: chrome plus every participant's virtual background.
    bases: dict[bool, np.ndarray] = {}
    for moved in {False, reshuffle_at is not None and reshuffle_at < seconds}:
        base = _chrome(width, height, geo, title)
        for k, (tx, ty, tw, th) in enumerate(geo.tiles):
            base[ty:ty + th, tx:tx + tw] = people[int((shuffle if moved else np.arange(n))[k])].background
        bases[moved] = base

    boxes = np.zeros((n_frames, n, 4), np.int32)
    ids = np.zeros((n_frames, n), np.int32)
    faces = np.zeros((n_frames, n), np.int32)
    labels_of = fer_faces()[1]
    cache: dict = {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path} with the mp4v codec")
    try:
        for i in range(n_frames):
            t = i / fps
            seats = seating(t)
            frame = bases[bool(seats is shuffle)].copy()
            for k, tile in enumerate(geo.tiles):
                p = people[int(seats[k])]
                tx, ty, tw, th = tile
                clip = (tx, ty, tx + tw, ty + th)
                x, y, s, _ = _face_box(p, tile, t)
                roi = frame[ty:ty + th, tx:tx + tw]  # a view: drawing on it is clipped to the tile
                cx, bottom = x - tx + s // 2, y - ty + s
                cv2.ellipse(roi, (cx, bottom + round(0.75 * s)), (round(1.05 * s), round(0.8 * s)), 0, 0, 360,
                            p.shirt, -1, cv2.LINE_AA)
                neck = tuple(int(120 * c) for c in p.tint)
                cv2.rectangle(roi, (cx - s // 6, bottom - s // 6), (cx + s // 6, bottom + s // 6), neck, -1)
                fer = p.picture_at(t)
                patch = _face_patch(cache, fer, s, p.tint)
                _blend(frame, patch, _soft_ellipse(s), x, y, clip)
                _name_label(frame, tile, p.name)
                boxes[i, k] = (x, y, s, s)
                ids[i, k] = seats[k]
                faces[i, k] = fer
            speaker = int(speakers[int(np.searchsorted(speaker_changes, t, side="right"))])
            sx, sy, sw, sh = geo.tiles[int(np.flatnonzero(seats == speaker)[0])]
            cv2.rectangle(frame, (sx, sy), (sx + sw - 1, sy + sh - 1), SPEAKER_COLOUR, max(2, geo.gap // 2))
            minutes, secs = divmod(int(t), 60)
            cv2.putText(frame, f"{minutes:02d}:{secs:02d}", (width - 70, geo.top_bar - geo.top_bar // 3),
                        cv2.FONT_HERSHEY_SIMPLEX, float(np.clip(height / 1800, 0.38, 0.65)), TEXT_COLOUR, 1,
                        cv2.LINE_AA)
            writer.write(frame)
    finally:
        writer.release()
    return GalleryTruth(path=path, width=width, height=height, fps=float(fps), rows=rows, cols=cols,
                        tiles=geo.tiles, names=tuple(p.name for p in people), boxes=boxes, ids=ids, faces=faces,
                        labels=labels_of[faces].astype(np.int32), pictures=tuple(p.fer for p in people),
                        reshuffle_at=reshuffle_at)


# ----------------------------------------------------------------------------- stills


@dataclass(frozen=True)
class Collage:
    """A group photo: ``image`` (BGR) with a FER face in each of ``boxes`` (x, y, w, h)."""

    image: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    faces: list[int]  # index into fer_faces()


def face_photo_collage(n: int = 12, width: int = 1280, height: int = 720, min_px: int = 40, max_px: int = 120,
                       seed: int = 0, path: str | os.PathLike | None = None) -> Collage:
    """``n`` FER faces of random sizes (``min_px``-``max_px``, square) pasted without overlap
    (a margin of a quarter face between them) onto a cut of a scikit-learn sample photo,
    tinted and ellipse-masked like the gallery's. Written to ``path`` when given."""
    rng = np.random.default_rng(seed)
    images, _ = fer_faces()
    image = _photo_cut(rng, width, height)
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(n):
        for _attempt in range(500):
            s = int(rng.integers(min_px, max_px + 1))
            x, y = int(rng.integers(0, width - s + 1)), int(rng.integers(0, height - s + 1))
            m = s // 4
            if all(x + s + m <= bx or bx + bw + m <= x or y + s + m <= by or by + bh + m <= y
                   for bx, by, bw, bh in boxes):
                boxes.append((x, y, s, s))
                break
        else:
            raise ValueError(f"cannot place {n} faces of {min_px}-{max_px} px in {width}x{height} without overlap")
    faces = [int(i) for i in rng.choice(len(images), size=n, replace=False)]
    cache: dict = {}
    for (x, y, s, _), fer in zip(boxes, faces, strict=True):
        patch = _face_patch(cache, fer, s, TINTS[int(rng.integers(len(TINTS)))])
        _blend(image, patch, _soft_ellipse(s), x, y, (0, 0, width, height))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), image):
            raise OSError(f"cannot write {path}")
    return Collage(image, boxes, faces)


# ----------------------------------------------------------------------------- scoring


class Match(NamedTuple):
    hits: int  # truth boxes matched by a found box
    misses: int  # truth boxes nothing matched
    false_boxes: int  # found boxes matching no truth box


def pair_boxes(truth_boxes, found_boxes, iou: float = 0.3, inside: float | None = None) -> list[tuple[int, int, float]]:
    """One-to-one pairs ``(truth index, found index, IoU)`` with IoU >= ``iou``, chosen by the
    Hungarian assignment on IoU (``supervision.box_iou_batch`` + ``scipy``). Boxes are (x, y, w, h).

    ``inside``: a found box may also pair with a truth box that holds at least this share of its
    area. For pasted pictures (:func:`face_photo_collage`) the truth box is the whole 48x48 FER
    picture, and FER's framing varies: a head tilted or leaning on an arm fills a third to a
    half of its picture, and the detector's box on that face (looked at: it is the face) has an
    IoU under 0.3 with the picture's square. Eligible pairs are assigned first, closer ones
    before others."""
    truth = np.asarray(truth_boxes, float).reshape(-1, 4)
    found = np.asarray(found_boxes, float).reshape(-1, 4)
    if not len(truth) or not len(found):
        return []
    import supervision as sv
    from scipy.optimize import linear_sum_assignment

    def xyxy(b):
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)

    t, f = xyxy(truth), xyxy(found)
    overlap = sv.box_iou_batch(t, f)
    eligible = overlap >= iou
    if inside is not None:
        iw = np.clip(np.minimum(t[:, None, 2], f[None, :, 2]) - np.maximum(t[:, None, 0], f[None, :, 0]), 0, None)
        ih = np.clip(np.minimum(t[:, None, 3], f[None, :, 3]) - np.maximum(t[:, None, 1], f[None, :, 1]), 0, None)
        eligible |= iw * ih >= inside * (found[:, 2] * found[:, 3])[None, :]
    rows, cols = linear_sum_assignment(overlap + eligible, maximize=True)
    return [(int(r), int(c), float(overlap[r, c])) for r, c in zip(rows, cols, strict=True) if eligible[r, c]]


def match_boxes(truth_boxes, found_boxes, iou: float = 0.3, inside: float | None = None) -> Match:
    """``(hits, misses, false_boxes)`` of ``found_boxes`` against ``truth_boxes`` (both x, y, w, h);
    ``iou`` and ``inside`` as :func:`pair_boxes` takes them."""
    hits = len(pair_boxes(truth_boxes, found_boxes, iou, inside))
    n_truth, n_found = len(np.asarray(truth_boxes).reshape(-1, 4)), len(np.asarray(found_boxes).reshape(-1, 4))
    return Match(hits, n_truth - hits, n_found - hits)
