"""The demo recording (assets/demo_class.mp4), its truth CSV and the gallery renderer that
made them (assets/make_demo_class.py), which tests and benchmarks reuse."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.labels import EMOTIONS

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "assets" / "demo_class.mp4"
TRUTH = REPO / "assets" / "demo_class_truth.csv"
SIZE = (1280, 720)
FPS = 5.0
DURATION = 100.0
TILES = 25
PRIVATE_TEST_SIZE = 3589


def _demo_module():
    """assets/ is not a package: load the script as a module, as other tests do."""
    if "make_demo_class" in sys.modules:
        return sys.modules["make_demo_class"]
    spec = importlib.util.spec_from_file_location("make_demo_class", REPO / "assets" / "make_demo_class.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo():
    return _demo_module()


@pytest.fixture(scope="module")
def truth() -> list[dict]:
    with open(TRUTH, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("tile", "row", "col", "x", "y", "w", "h", "fer_index"):
            r[k] = int(r[k])
        r["start"], r["end"] = float(r["start"]), float(r["end"])
    return rows


def _read_frames(path: Path, times: list[float], fps: float) -> dict[float, np.ndarray]:
    """Decode sequentially (seeking in mp4v is not frame-exact) and keep the frames at ``times``."""
    wanted = {int(round(t * fps)): t for t in times}
    cap = cv2.VideoCapture(str(path))
    out, i = {}, 0
    try:
        while len(out) < len(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if i in wanted:
                out[wanted[i]] = frame
            i += 1
    finally:
        cap.release()
    return out


# --- the recording -------------------------------------------------------------------------

def test_demo_video_opens_with_expected_geometry_and_length():
    cap = cv2.VideoCapture(str(VIDEO))
    try:
        assert cap.isOpened(), f"OpenCV cannot open {VIDEO}"
        assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == SIZE
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
        decoded = 0
        while cap.grab():
            decoded += 1
    finally:
        cap.release()
    assert decoded == int(DURATION * FPS)
    assert decoded / FPS == pytest.approx(DURATION)


def test_demo_video_is_small_enough_for_the_repository():
    assert VIDEO.stat().st_size < 10e6


# --- its truth -----------------------------------------------------------------------------

def test_truth_columns_are_the_generators(demo):
    with open(TRUTH, newline="") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == demo.TRUTH_COLUMNS


def test_truth_segments_cover_the_whole_timeline_of_every_tile(truth):
    by_tile: dict[int, list[dict]] = {}
    for r in truth:
        by_tile.setdefault(r["tile"], []).append(r)
    assert sorted(by_tile) == list(range(TILES))
    for tile, rows in by_tile.items():
        rows.sort(key=lambda r: r["start"])
        assert rows[0]["start"] == 0.0, f"tile {tile} starts late"
        assert rows[-1]["end"] == DURATION, f"tile {tile} ends early"
        for a, b in zip(rows, rows[1:], strict=False):
            assert a["end"] == b["start"], f"tile {tile}: gap or overlap at {a['end']}s"
        for r in rows:
            assert r["end"] > r["start"]


def test_truth_labels_and_face_indices_are_valid(truth, demo):
    for r in truth:
        assert r["label"] in (*EMOTIONS, demo.ABSENT)
        if r["label"] == demo.ABSENT:
            assert r["fer_index"] == -1
        else:
            assert 0 <= r["fer_index"] < PRIVATE_TEST_SIZE
    faces = [r["fer_index"] for r in truth if r["fer_index"] >= 0]
    assert len(faces) == len(set(faces)), "a FER face is reused: students would look alike"
    assert {r["label"] for r in truth} >= set(EMOTIONS), "every emotion appears at least once"
    assert any(r["label"] == demo.ABSENT for r in truth), "camera-off stretches are part of the demo"


def test_truth_boxes_are_the_gallery_layout_and_inside_the_frame(truth, demo):
    tiles = demo.layout(SIZE, (5, 5))
    for r in truth:
        x, y, w, h = r["x"], r["y"], r["w"], r["h"]
        assert 0 <= x and 0 <= y and x + w <= SIZE[0] and y + h <= SIZE[1]
        assert (x, y, w, h) == tiles[r["tile"]].face_box
        assert (r["row"], r["col"]) == (tiles[r["tile"]].row, tiles[r["tile"]].col)


def test_truth_faces_are_the_fer_faces_with_those_labels(truth, fer_data):
    """With ../shared present: each fer_index's PrivateTest label is the truth label, and the
    video really shows that face in that tile at that time."""
    test = fer_data.split("PrivateTest")
    assert len(test.labels) == PRIVATE_TEST_SIZE
    shown = [r for r in truth if r["fer_index"] >= 0]
    for r in shown:
        assert EMOTIONS[int(test.labels[r["fer_index"]])] == r["label"], r

    # A sample of segments, checked on a decoded frame in the middle of each.
    sample = shown[::9]
    frames = _read_frames(VIDEO, [round((r["start"] + r["end"]) / 2 * 2) / 2 for r in sample], FPS)
    for r in sample:
        frame = frames[round((r["start"] + r["end"]) / 2 * 2) / 2]
        crop = cv2.cvtColor(frame[r["y"]:r["y"] + r["h"], r["x"]:r["x"] + r["w"]], cv2.COLOR_BGR2GRAY)
        small = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
        own = np.corrcoef(small.ravel(), test.images[r["fer_index"]].astype(np.float32).ravel())[0, 1]
        others = [np.corrcoef(small.ravel(), test.images[o["fer_index"]].astype(np.float32).ravel())[0, 1]
                  for o in sample if o is not r]
        assert own > 0.95, f"tile {r['tile']} at {r['start']}-{r['end']}s does not show face {r['fer_index']}"
        assert own > max(others)


# --- the reusable renderer -----------------------------------------------------------------

def _synthetic_face(seed: int) -> np.ndarray:
    """A smooth 48x48 grey 'face' (gradient and ellipses): survives mp4v compression well."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    img = 60 + 2.5 * (xx if seed % 2 else yy)
    img = img.astype(np.float32)
    cv2.ellipse(img, (24, 24), (16, 20), 0, 0, 360, float(rng.integers(150, 220)), -1)
    cv2.circle(img, (17, 19), 3, 30.0, -1)
    cv2.circle(img, (31, 19), 3, 30.0, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_render_gallery_draws_each_face_in_its_tile(tmp_path, demo):
    faces = {0: _synthetic_face(1), 1: _synthetic_face(2)}
    schedule = [
        demo.Segment(tile=0, start=0.0, end=2.0, label="happy", face=0),
        demo.Segment(tile=3, start=0.0, end=1.0, label="absent"),
        demo.Segment(tile=3, start=1.0, end=2.0, label="sad", face=1),
    ]
    size, grid, fps = (320, 240), (2, 2), 5.0
    path = tmp_path / "gallery.mp4"
    rows = demo.render_gallery(path, faces, schedule, size=size, grid=grid, fps=fps)

    assert [(r["tile"], r["start"], r["end"], r["label"], r["fer_index"]) for r in rows] == [
        (0, 0.0, 2.0, "happy", 0), (3, 0.0, 1.0, "absent", -1), (3, 1.0, 2.0, "sad", 1)]
    cap = cv2.VideoCapture(str(path))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == size
    cap.release()

    tiles = demo.layout(size, grid)
    frames = _read_frames(path, [0.4, 1.4], fps)
    assert len(frames) == 2

    def crop(frame, tile):
        x, y, w, h = tiles[tile].face_box
        return cv2.cvtColor(frame[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY).astype(np.float32)

    def expected(face, tile):
        w = tiles[tile].face_box[2]
        return cv2.resize(face, (w, w), interpolation=cv2.INTER_CUBIC).astype(np.float32)

    early, late = frames[0.4], frames[1.4]
    # The face is in its tile (brightness drift is at most 6 grey levels, plus codec noise)...
    assert np.abs(crop(early, 0) - expected(faces[0], 0)).mean() < 10
    assert np.abs(crop(late, 3) - expected(faces[1], 3)).mean() < 10
    # ...and not where it is not: camera off at first, a tile nobody joined stays empty.
    assert np.abs(crop(early, 3) - expected(faces[1], 3)).mean() > 30
    assert crop(early, 1).std() < 3


def test_render_gallery_is_deterministic(tmp_path, demo):
    faces = [_synthetic_face(3)]
    schedule = [demo.Segment(tile=1, start=0.0, end=1.0, label="neutral", face=0)]
    a = demo.render_gallery(tmp_path / "a.mp4", faces, schedule, size=(160, 120), grid=(1, 2), fps=5.0)
    b = demo.render_gallery(tmp_path / "b.mp4", faces, schedule, size=(160, 120), grid=(1, 2), fps=5.0)
    assert a == b
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_render_gallery_refuses_a_bad_schedule(tmp_path, demo):
    face = [_synthetic_face(4)]
    with pytest.raises(ValueError, match="outside"):
        demo.render_gallery(tmp_path / "x.mp4", face, [demo.Segment(9, 0, 1, "happy", 0)], grid=(2, 2))
    with pytest.raises(ValueError, match="not an emotion"):
        demo.render_gallery(tmp_path / "x.mp4", face, [demo.Segment(0, 0, 1, "bored", 0)], grid=(2, 2))
    with pytest.raises(ValueError, match="face must be None"):
        demo.render_gallery(tmp_path / "x.mp4", face, [demo.Segment(0, 0, 1, "absent", 0)], grid=(2, 2))


def test_demo_schedule_is_reproducible_and_covers_the_timeline(demo):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(EMOTIONS), 3000)
    a = demo.demo_schedule(labels, duration=60.0, tiles=6, seed=5)
    assert a == demo.demo_schedule(labels, duration=60.0, tiles=6, seed=5)
    for tile in range(6):
        segs = sorted((s for s in a if s.tile == tile), key=lambda s: s.start)
        assert segs[0].start == 0.0 and segs[-1].end == 60.0
        assert all(x.end == y.start for x, y in zip(segs, segs[1:], strict=False))
        for s in segs:
            assert s.label == demo.ABSENT or EMOTIONS[labels[s.face]] == s.label


def test_the_generator_without_data_says_so_in_one_line(tmp_path):
    import subprocess

    out = tmp_path / "demo.mp4"
    run = subprocess.run([sys.executable, str(REPO / "assets" / "make_demo_class.py"), "--data",
                          str(tmp_path / "missing.csv.gz"), "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: data not found: {tmp_path / 'missing.csv.gz'}"]
    assert not out.exists()
