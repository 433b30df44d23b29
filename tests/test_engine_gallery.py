"""Reading a meeting gallery's layout from the picture, and searching it cell by cell: the cells
must be the tiles the app drew (after video compression), frames that are not galleries must
have none, and the plan must follow a new layout at once."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from layouts import make_gallery, sample_photos

from engine.config import load_config
from engine.detect import DetectionPlan, FaceDetector
from engine.gallery import find_layout

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def _first_frame(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read {path}"
    return frame


def _gray(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def _gallery_frame(tmp_path: Path, rows: int, cols: int, width: int, height: int, seed: int = 0):
    truth = make_gallery(tmp_path / f"g{rows}x{cols}_{height}.mp4", rows, cols, width, height, seconds=0.3,
                         fps=10, seed=seed)
    return truth, _first_frame(truth.path)


def _matched(cells, tiles, slack: int = 4) -> int:
    """Tiles that one found cell matches within ``slack`` pixels on every side."""
    return sum(any(abs(c[0] - t[0]) <= slack and abs(c[1] - t[1]) <= slack
                   and abs(c[0] + c[2] - t[0] - t[2]) <= slack and abs(c[1] + c[3] - t[1] - t[3]) <= slack
                   for c in cells) for t in tiles)


@pytest.mark.parametrize(("rows", "cols", "width", "height"), [
    (2, 2, 1280, 720), (3, 3, 1920, 1080), (4, 4, 1280, 720), (5, 5, 1920, 1080), (6, 6, 1280, 720),
    (7, 7, 1280, 720), (7, 7, 1920, 1080),
])
def test_a_generated_gallerys_cells_are_its_tiles(rows, cols, width, height, tmp_path, fer_csv):
    truth, frame = _gallery_frame(tmp_path, rows, cols, width, height, seed=rows)
    layout = find_layout(_gray(frame))
    found = _matched(layout.cells, truth.tiles)
    # A tile whose picture is dark right up to its edge may merge with the gap or split: it is
    # then searched as an ordinary region, so most, not all, tiles must come out as cells.
    assert found >= 0.85 * len(truth.tiles), f"{found} of {len(truth.tiles)} tiles found as cells"
    assert len(layout.cells) <= len(truth.tiles)
    # No cell outside the tiles: gaps, margins and bars are never searched as cells.
    for c in layout.cells:
        assert any(c[0] >= t[0] - 4 and c[1] >= t[1] - 4 and c[0] + c[2] <= t[0] + t[2] + 4
                   and c[1] + c[3] <= t[1] + t[3] + 4 for t in truth.tiles), f"cell {c} is not inside a tile"


def test_frames_that_are_not_galleries_have_no_cells():
    for photo in sample_photos():
        assert not find_layout(_gray(photo)).is_gallery
    for clip in ("classroom_pan.mp4", "webcam_posed.mp4", "one_person_expressions.mp4"):
        if (REAL / clip).exists():
            assert not find_layout(_gray(_first_frame(REAL / clip))).is_gallery, clip


def test_the_demo_recordings_tiles_are_found_as_cells():
    demo = Path(__file__).resolve().parents[1] / "assets" / "demo_class.mp4"
    layout = find_layout(_gray(_first_frame(demo)))
    # 25 tiles; the two camera-off tiles show only a name on the tile's flat grey and may split.
    assert 20 <= len(layout.cells) <= 25
    assert len({(w, h) for _, _, w, h in layout.cells}) <= 4  # one size, give or take a pixel


def test_the_plan_follows_a_new_layout_without_a_re_plan(tmp_path, fer_csv):
    """Tiles are laid from each frame's own layout: a 3x3 gallery that becomes 4x4 (people
    joined) is searched cell by cell in its new cells by the same plan, and a face filling its
    cell gets a tile larger than the cell (BlazeFace misses faces that fill its input)."""
    cfg = load_config().detector
    detector = FaceDetector(cfg)
    try:
        detector._state.plan = DetectionPlan(full_range=False, tile_sizes=(120,), cell_faces=(0.4, 0.5))
        for rows, cols in ((3, 3), (4, 4)):
            truth, frame = _gallery_frame(tmp_path, rows, cols, 1280, 720, seed=rows)
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            cells = {t.within for t in detector.plan_tiles(rgb) if t.within != (0, 0, 1280, 720)}
            assert _matched(cells, truth.tiles) >= 0.85 * len(truth.tiles), (rows, cols)
        detector._state.plan = DetectionPlan(full_range=False, tile_sizes=(300,), cell_faces=(0.9, 1.0))
        tiles = [t for t in detector.plan_tiles(rgb) if t.within != (0, 0, 1280, 720)]
        assert tiles and all(t.w > t.within[3] for t in tiles)
    finally:
        detector.close()


def _search_counting_pictures(detector: FaceDetector, rgb: np.ndarray) -> tuple[DetectionPlan, int]:
    pictures = 0
    detect = detector._short.detect

    def counted(batch):
        nonlocal pictures
        pictures += len(batch)
        return detect(batch)

    detector._short.detect = counted
    try:
        return detector.search_plan(rgb), pictures
    finally:
        detector._short.detect = detect


def test_the_plan_search_leaves_out_small_scales_only_in_cells_whose_face_it_found(tmp_path, fer_csv):
    """A gallery cell whose webcam face was found is not searched again with smaller tiles,
    nor are the app's bars (the plan never looks at either): on a 5x5 1080p gallery that is
    most of the search. A frame that is not a gallery (a group photo) is searched whole."""
    from layouts import face_photo_collage

    from engine.detect import tile_grid

    detector = FaceDetector(load_config().detector)
    try:
        _, frame = _gallery_frame(tmp_path, 5, 5, 1920, 1080, seed=5)
        plan, pictures = _search_counting_pictures(detector, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        ladder = (1080, 540, 270, 135, 67, 48)
        every_tile = sum(len(tile_grid(1920, 1080, side, 0.25)) for side in ladder)
        assert plan.cell_faces is not None, plan.reason
        assert pictures < 0.5 * every_tile, f"{pictures} pictures of {every_tile} tiles"

        photo = face_photo_collage(seed=1).image
        plan, pictures = _search_counting_pictures(detector, cv2.cvtColor(photo, cv2.COLOR_BGR2RGB))
        every_tile = sum(len(tile_grid(1280, 720, side, 0.25)) for side in (720, 360, 180, 90, 48))
        assert plan.cell_faces is None
        assert pictures >= every_tile  # every tile, and the second look's crops
    finally:
        detector.close()
