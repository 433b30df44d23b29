"""Where the pictures are in a frame: a meeting gallery's tiles, or whatever is not background.

A meeting app (Zoom, Meet, Teams) lays its participants out as a grid of equal tiles separated
by gaps of one flat colour, between a title bar and a toolbar. Searching such a frame with
square tiles sized for its faces, laid over the whole frame, spends most of its model runs on
gaps, bars and tile borders, and on tiles that straddle two participants (a 7x7 gallery at
1280x720 took ~670 tiles a sweep). Searched per tile of the meeting, at the scale that fits it,
the same gallery takes three pictures a participant.

The layout is read from the picture alone, on every sweep (a few ms), so tiles added or
removed, a resized window or a new layout are followed without a re-plan:

* **gaps** are rows, then (inside each band between gap rows) columns, at least GAP_SHARE of
  whose pixels are within BACKGROUND_STEP grey levels of the frame's left and right edges (the
  app's background, which fills margins and gaps; luminance only, since codecs bleed a tile's
  colours into a 4 px gap);
* where that finds no grid (the edges are not one level, or not the app's: a capture of the
  whole screen, the meeting window resized or moved on a desktop), the **window** is looked
  for: the bounding box of the largest joined area of one of the frame's commonest levels,
  searched for gaps at that level (~3 ms at 1280x720 where there is no gallery, ~9 ms where
  there is one; paid by the plan search, and once a sweep by a plan made on a gallery);
* **regions** are the rectangles left between gaps; where at least ``MIN_CELLS`` of them
  share one size (within ``SIZE_TOLERANCE``) they are the gallery's **cells**; the other
  regions (a shared screen, a speaker view, bars with text) are searched as before.

Nothing here is fitted to one app: a frame without such a grid (a classroom camera, a webcam,
a gallery whose tiles touch) simply has no cells, and the detector's plan runs as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

BACKGROUND_STEP = 10  # a pixel this close (grey levels) to the background's is background (video noise ~5)
GAP_SHARE = 0.9  # a row/column is a gap where this share of its pixels is background
MIN_REGION_PX = 16  # narrower runs between borders are gaps, borders or text, not pictures
MIN_CELLS = 4  # a grid has at least this many equal cells (2x2); fewer: no gallery
SIZE_TOLERANCE = 0.08  # cells of one grid differ in width and height by at most this share

Rect = tuple[int, int, int, int]  # x, y, w, h in frame pixels


@dataclass(frozen=True)
class Layout:
    """The pictures in one frame: the gallery's equal ``cells`` (empty when there is no grid)
    and the ``others`` regions that are not background."""

    cells: tuple[Rect, ...]
    others: tuple[Rect, ...]

    @property
    def is_gallery(self) -> bool:
        return bool(self.cells)

    def uniform_cells(self) -> tuple[Rect, ...]:
        """The cells, each at the grid's median size around its own centre. A meeting app frames
        the active speaker's cell, which then reads a few pixels larger on every side; pictures
        of one participant compared across cells and frames must be cut the same."""
        if not self.cells:
            return ()
        w, h = (int(np.median([c[k] for c in self.cells])) for k in (2, 3))
        return tuple((round(x + cw / 2 - w / 2), round(y + ch / 2 - h / 2), w, h) for x, y, cw, ch in self.cells)

    def cell_of(self, x: float, y: float) -> Rect | None:
        """The cell holding the point, if any."""
        return cell_at(self.cells, x, y)


def cell_at(cells: Sequence[Rect], x: float, y: float) -> Rect | None:
    """The cell (x, y, w, h) of ``cells`` holding the point, if any."""
    return next((c for c in cells if c[0] <= x < c[0] + c[2] and c[1] <= y < c[1] + c[3]), None)


def background_level(gray: np.ndarray) -> int | None:
    """The grey level of the frame's left and right edges, where a meeting app's background
    shows (its gaps and margins are one colour); None when the edges are not one colour."""
    h = gray.shape[0]
    edges = np.concatenate([gray[h // 10: h - h // 10, :4].ravel(), gray[h // 10: h - h // 10, -4:].ravel()])
    level = int(np.median(edges))
    return level if np.mean(np.abs(edges - level) <= BACKGROUND_STEP) >= GAP_SHARE else None


def _runs(is_gap: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``[start, end)`` of non-gap indices at least MIN_REGION_PX long."""
    padded = np.concatenate(([True], is_gap, [True]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e)) for s, e in zip(edges[0::2], edges[1::2], strict=True) if e - s >= MIN_REGION_PX]


def find_layout(gray: np.ndarray) -> Layout:
    """The layout of one frame, from its grey levels: the meeting app filling the frame (a
    recording of the app, a capture of its window), else the app's window somewhere in it (a
    capture of the whole screen, the window resized or moved on a desktop)."""
    gray = gray.astype(np.int16)
    layout = _layout_filling(gray)
    if layout.is_gallery:
        return layout
    for (x, y, w, h), level in _flat_areas(gray):
        inner = _layout_filling(gray[y:y + h, x:x + w], level)
        if inner.is_gallery:
            # Around the window (the desktop, other windows) is searched like any picture.
            H, W = gray.shape
            around = [r for r in ((0, 0, W, y), (0, y + h, W, H - y - h), (0, y, x, h), (x + w, y, W - x - w, h))
                      if min(r[2], r[3]) >= MIN_REGION_PX]
            return Layout(_shifted(inner.cells, x, y), _shifted(inner.others, x, y) + tuple(around))
    return layout


def _shifted(rects: Sequence[Rect], dx: int, dy: int) -> tuple[Rect, ...]:
    return tuple((x + dx, y + dy, w, h) for x, y, w, h in rects)


def _flat_areas(gray: np.ndarray, levels: int = 3) -> list[tuple[Rect, int]]:
    """Where an app window may be inside a larger frame, and its background level: for the
    frame's most common grey levels (a window's background, its gaps and margins, is one level
    and joined up), the bounding box of the largest joined area of that level, when it is not
    most of the frame (that was looked at whole) nor too small to hold a gallery. The box may
    take in a little of what surrounds the window where that touches it at the same level."""
    k = 2  # every 2nd pixel: a meeting app's 4 px gaps stay 2 px wide, and joined
    small = gray[::k, ::k]
    # Levels a little apart (a desktop at 38, a dark app at 22) are separate candidates.
    counts = np.convolve(np.bincount(small.ravel().clip(0, 255), minlength=256), np.ones(5), mode="same")
    out: list[tuple[Rect, int]] = []
    area = small.shape[0] * small.shape[1]
    for _ in range(levels):
        level = int(np.argmax(counts))
        if counts[level] <= 0:
            break
        counts[max(0, level - BACKGROUND_STEP):level + BACKGROUND_STEP + 1] = 0
        mask = (np.abs(small - level) <= BACKGROUND_STEP).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n < 2:
            continue
        x, y, w, h = (int(v) for v in stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), :4])
        if area / 9 <= w * h <= 0.9 * area:
            out.append(((x * k, y * k, w * k, h * k), level))
    return out


def _layout_filling(gray: np.ndarray, bg: int | None = None) -> Layout:
    """The layout of a frame that the meeting app fills, its background level ``bg`` (by default
    the level of the frame's left and right edges)."""
    bg = background_level(gray) if bg is None else bg
    if bg is None:
        return Layout((), ((0, 0, gray.shape[1], gray.shape[0]),))
    # Luminance only: video codecs keep it sharp, while colour is halved in resolution and
    # bleeds a tile's colours into a 4 px gap.
    is_bg = np.abs(gray - bg) <= BACKGROUND_STEP
    regions: list[Rect] = []
    for y0, y1 in _runs(is_bg.mean(axis=1) >= GAP_SHARE):
        band = is_bg[y0:y1]
        for x0, x1 in _runs(band.mean(axis=0) >= GAP_SHARE):
            if band[:, x0:x1].mean() < GAP_SHARE:  # not all background: a picture
                regions.append((x0, y0, x1 - x0, y1 - y0))
    cells = _equal_cells(regions)
    return Layout(tuple(cells), tuple(r for r in regions if r not in cells))


def _equal_cells(regions: list[Rect]) -> list[Rect]:
    """The largest group of regions of one size, if it has MIN_CELLS or more."""
    best: list[Rect] = []
    for _, _, w, h in regions:
        same = [r for r in regions if abs(r[2] - w) <= SIZE_TOLERANCE * w and abs(r[3] - h) <= SIZE_TOLERANCE * h]
        if len(same) > len(best):
            best = same
    return best if len(best) >= MIN_CELLS else []
