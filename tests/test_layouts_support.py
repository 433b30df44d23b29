"""The synthetic meeting galleries and collages of tests/layouts.py tell the truth about their frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from layouts import face_photo_collage, fer_faces, gallery_geometry, make_gallery, match_boxes


def read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(frame)
        ok, frame = cap.read()
    cap.release()
    return frames


def face_likeness(image: np.ndarray, box, fer: int) -> float:
    """Correlation of the middle of ``box`` in ``image`` with FER picture ``fer`` drawn at that size."""
    x, y, w, h = (int(v) for v in box)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    crop = grey[y:y + h, x:x + w].astype(float)
    ref = cv2.resize(fer_faces()[0][fer], (w, h), interpolation=cv2.INTER_CUBIC).astype(float)
    m = slice(h // 5, h - h // 5), slice(w // 5, w - w // 5)  # inside the soft ellipse
    a, b = crop[m].ravel(), ref[m].ravel()
    if a.shape != b.shape or a.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def gallery(fer_csv, tmp_path_factory):
    path = tmp_path_factory.mktemp("layouts") / "g.mp4"
    truth = make_gallery(path, 2, 3, 640, 360, seconds=8, fps=10, seed=3, reshuffle_at=6)
    return truth, read_frames(path)


def test_the_video_has_the_declared_frames_size_and_tiles(gallery):
    truth, frames = gallery
    assert len(frames) == truth.n_frames == 80
    assert {f.shape for f in frames} == {(360, 640, 3)}
    assert truth.boxes.shape == (80, 6, 4) and truth.ids.shape == truth.faces.shape == (80, 6)
    # 16:9 tiles, uniform gaps, inside the frame.
    xs = sorted({t[0] for t in truth.tiles})
    ys = sorted({t[1] for t in truth.tiles})
    w, h = truth.tiles[0][2:]
    assert {t[2:] for t in truth.tiles} == {(w, h)} and abs(w / h - 16 / 9) < 0.03
    assert len({b - a - w for a, b in zip(xs, xs[1:], strict=False)} | {b - a - h for a, b in zip(ys, ys[1:], strict=False)}) == 1
    assert all(0 <= x and x + w <= 640 and 0 <= y and y + h <= 360 for x, y, _, _ in truth.tiles)
    assert truth.at(7.95) == truth.at(8.5)  # past the end: the last frame


def test_truth_boxes_lie_on_the_faces_drawn(gallery):
    truth, frames = gallery
    on, off = [], []
    for i in (0, 25, 79):
        for k, box in enumerate(truth.boxes[i]):
            x, y, s, _ = box
            assert truth.tile_of(x + s / 2, y + s / 2) == k
            tx, ty, tw, th = truth.tiles[k]
            assert tx <= x and x + s <= tx + tw and ty <= y and y + s <= ty + th
            assert 0.3 <= s / th <= 0.6  # a webcam face in a tile
            on.append(face_likeness(frames[i], box, truth.faces[i, k]))
            off.append(face_likeness(frames[i], (x + s // 2, y, s, s), truth.faces[i, k]))
    assert min(on) > 0.8, on
    assert np.median(off) < 0.5, off


def test_faces_drift_zoom_and_change_expression(gallery):
    truth, _ = gallery
    before = truth.boxes[:60]  # before the reshuffle
    assert np.all(np.ptp(before[:, :, 0], axis=0) >= 2)  # every face drifts sideways
    assert np.all(np.ptp(before[:, :, 2], axis=0) >= 1)  # ... and changes scale
    assert np.all(np.ptp(before[:, :, 0], axis=0) <= 20)  # by a few pixels only
    assert all(len(set(truth.faces[:60, k])) >= 2 for k in range(6))  # a new expression every 3-6 s
    assert np.all(truth.labels == fer_faces()[1][truth.faces])


def test_reshuffle_moves_every_participant_with_its_face_and_background(gallery):
    truth, frames = gallery
    assert np.all(truth.ids[:60] == np.arange(6))
    after = truth.ids[60]
    assert sorted(after) == list(range(6)) and not np.any(after == np.arange(6))
    assert np.all(truth.ids[60:] == after)
    for k in range(6):  # each participant's own faces go with it
        assert set(truth.faces[:60, k]) <= set(truth.pictures[k])
        assert set(truth.faces[60:, k]) <= set(truth.pictures[after[k]])
        assert len({fer_faces()[1][f] for f in truth.pictures[k]}) == len(truth.pictures[k])  # distinct emotions

    def corner(frame, k):  # a bit of virtual background, away from the face and the frames
        x, y, _, _ = truth.tiles[k]
        return frame[y + 6:y + 18, x + 6:x + 18].astype(float)

    pre, post = frames[55], frames[65]
    for k, p in enumerate(after):
        assert np.abs(corner(post, k) - corner(pre, p)).mean() < 12
    assert max(np.abs(corner(post, k) - corner(pre, k)).mean() for k in range(6)) > 12


def test_collage_boxes_hold_faces_inside_the_photo_without_overlap(fer_csv, tmp_path):
    c = face_photo_collage(10, width=800, height=500, seed=5, path=tmp_path / "c.png")
    assert c.image.shape == (500, 800, 3) and (tmp_path / "c.png").exists()
    assert len(c.boxes) == len(set(c.faces)) == 10
    for i, (x, y, w, h) in enumerate(c.boxes):
        assert w == h and 40 <= w <= 120
        assert 0 <= x and x + w <= 800 and 0 <= y and y + h <= 500
        assert face_likeness(c.image, (x, y, w, h), c.faces[i]) > 0.8
    assert match_boxes(c.boxes, c.boxes, iou=0.01).hits == 10  # disjoint: each matches only itself
    assert c.image.reshape(-1, 3).std(axis=0).min() > 20  # a photo behind, not a plain background


def test_match_boxes_counts_hits_misses_and_false_boxes():
    truth = [(0, 0, 10, 10), (100, 100, 20, 20), (200, 0, 30, 30)]
    found = [(1, 1, 10, 10), (104, 102, 18, 18), (400, 400, 10, 10), (50, 50, 5, 5)]
    assert match_boxes(truth, found) == (2, 1, 2)
    assert match_boxes(truth, []) == (0, 3, 0)
    assert match_boxes([], found) == (0, 0, 4)
    assert match_boxes(truth, found, iou=0.9) == (0, 3, 4)
    # One found box between two faces counts once.
    assert match_boxes([(0, 0, 10, 10), (8, 0, 10, 10)], [(4, 0, 10, 10)]) == (1, 1, 0)
    # A small box inside a pasted picture (a tilted FER face fills half of it): IoU 0.25, fully inside.
    picture, face = [(0, 0, 100, 100)], [(30, 30, 50, 50)]
    assert match_boxes(picture, face) == (0, 1, 1)
    assert match_boxes(picture, face, inside=0.9) == (1, 0, 0)
    assert match_boxes(picture, [(80, 80, 50, 50)], inside=0.9) == (0, 1, 1)  # mostly outside: no
    assert match_boxes(picture, [(30, 30, 50, 50), (40, 40, 30, 30)], inside=0.9) == (1, 0, 1)  # one each


def test_geometry_fits_every_benchmark_layout():
    for rows in range(2, 8):
        for width, height in ((1280, 720), (1920, 1080)):
            geo = gallery_geometry(rows, rows, width, height)
            assert len(geo.tiles) == rows * rows
            x0, y0 = geo.tiles[0][:2]
            x1 = geo.tiles[-1][0] + geo.tiles[-1][2]
            y1 = geo.tiles[-1][1] + geo.tiles[-1][3]
            assert x0 >= geo.gap and x1 <= width - geo.gap
            assert y0 >= geo.top_bar and y1 <= height - geo.toolbar
