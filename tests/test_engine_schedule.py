"""The detection schedule and the paced expression reads: what they save must cost nothing the
teacher would notice (the same boxes, every tile looked at in time, every face read)."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest
from engine_support import small_faces_scene
from layouts import face_photo_collage

from engine.blazeface import ShortRangeDetector, ThreadChoice
from engine.classify import PacedReader
from engine.config import load_config
from engine.detect import Face, FaceDetector, Tile, tile_grid
from engine.schedule import CHUNK_TILES, ScheduledDetector

CFG = load_config()


def _pictures(fer_data) -> np.ndarray:
    """128 px pictures as the plan and the crops make them: tiles of a ceiling-camera scene and
    of a photo collage, at several tile sizes."""
    test = fer_data.split("PrivateTest")
    scene, _ = small_faces_scene(test.images[test.labels == 6], seed=1)
    collage = face_photo_collage(n=10, width=960, height=540, seed=4).image
    out = []
    for frame, sides in ((scene, (48, 64, 96)), (collage, (128, 200, 320))):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        for side in sides:
            for x, y, w, h in tile_grid(rgb.shape[1], rgb.shape[0], side, 0.4):
                if w == h:
                    out.append(cv2.resize(rgb[y:y + h, x:x + w], (128, 128), interpolation=cv2.INTER_LINEAR))
    return np.array(out)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_batched_short_range_model_gives_mediapipes_boxes(fer_data, threads):
    """With either thread count the detector may choose (blazeface.ThreadChoice)."""
    import mediapipe as mp

    pictures = _pictures(fer_data)
    ours = ShortRangeDetector(0.5, threads).detect(pictures)
    theirs = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5)
    faces = 0
    try:
        for picture, found in zip(pictures, ours, strict=True):
            ref = theirs.process(picture).detections or []
            assert len(found) == len(ref)
            for d in ref:
                b = d.location_data.relative_bounding_box
                match = min(found, key=lambda f: abs(f.x - b.xmin) + abs(f.y - b.ymin))
                assert match.score == pytest.approx(d.score[0], abs=1e-4)
                assert (match.x, match.y, match.w, match.h) == pytest.approx((b.xmin, b.ymin, b.width, b.height), abs=1e-4)
                kps = np.array([(k.x, k.y) for k in d.location_data.relative_keypoints])
                assert np.abs(match.keypoints - kps).max() < 1e-4
                faces += 1
    finally:
        theirs.close()
    assert faces >= 15  # the comparison saw faces, not only empty tiles
    assert ShortRangeDetector(0.5).detect([]) == []


def test_the_thread_count_in_use_is_the_cheaper_one_measured_and_the_other_is_looked_at_again():
    choice = ThreadChoice((1, 2), retry_every=5)
    first, second = choice.pick(), choice.pick()
    assert (first, second) == (1, 1)  # 1 is not measured until a call records it
    choice.record(1, 0.010, 4)
    assert choice.pick() == 2  # then 2, which has no figure yet
    choice.record(2, 0.020, 4)  # 5 ms a picture against 2.5 ms: twice as dear
    picks = [choice.pick() for _ in range(40)]
    assert picks.count(2) == 4 and picks.count(1) == 36  # looked at every 5 x 2 calls
    choice.record(2, 0.400, 4)  # 100 ms a picture (a busy machine): 30x dearer, looked at every 5 x 8 calls
    picks = [choice.pick() for _ in range(80)]
    assert picks.count(2) == 2
    for _ in range(20):  # the machine is free again: 2 threads now take 1 ms a picture
        choice.record(2, 0.004, 4)
    assert choice.pick() == 2


class _CountingModel:
    """An expression model that answers each face with its own mean pixel, and counts."""

    def __init__(self):
        self.faces_read = 0

    def predict(self, x, flip_average=False):
        self.faces_read += len(x)
        return np.repeat(x.reshape(len(x), -1).mean(axis=1, keepdims=True), 7, axis=1).astype(np.float32)


def _read_frames(reader: PacedReader, keys_at, interval: float, frames: int = 50):
    """Reads ``keys_at(frame)`` on ``frames`` frames at 5 fps, asserting nobody's reading is
    older than ``interval``; the faces read on each frame, and each frame's probabilities."""
    model, last_read, per_frame, out = reader.model, {}, [], []
    for frame in range(frames):
        t, keys = frame * 0.2, keys_at(frame)
        inputs = np.full((len(keys), 48, 48, 1), frame, np.float32)  # every frame's pixels differ
        before = model.faces_read
        probs = reader.read(t, keys, lambda due, inputs=inputs: inputs[due])
        per_frame.append(model.faces_read - before)
        out.append(probs)
        for k, p in zip(keys, probs, strict=True):
            if p[0] == frame:
                last_read[k] = t
            assert t - last_read[k] <= interval + 1e-9  # nobody's reading is older than the interval
    return per_frame, out


def test_paced_reads_spread_the_model_over_frames_and_keep_readings_fresh():
    reader = PacedReader(_CountingModel(), interval_s=0.4, flip_average=False)

    def keys_at(frame):
        return list(range(25)) + ([100, 101] if frame >= 20 else [])  # two students join at frame 20

    per_frame, probs = _read_frames(reader, keys_at, 0.4)
    assert probs[20][-1][0] == probs[20][-2][0] == 20  # a face seen for the first time is read at once
    assert max(per_frame[1:]) <= 15 and sum(per_frame) < 0.6 * sum(len(keys_at(f)) for f in range(50))
    every = PacedReader(_CountingModel(), interval_s=0.0, flip_average=False)
    for frame in range(3):
        every.read(frame * 0.2, [1, 2], lambda due: np.zeros((len(due), 48, 48, 1), np.float32))
    assert every.model.faces_read == 6  # 0 = every face on every frame


def test_paced_reads_of_a_crowded_frame_stop_growing_with_its_faces():
    """49 faces at 60 reads a second: each is read every ~0.82 s (not 0.4), at most ~12 a
    frame, and nobody's reading is older than that; with 20 faces the bound changes nothing."""
    for faces, interval in ((49, 49 / 60), (20, 0.4)):
        reader = PacedReader(_CountingModel(), interval_s=0.4, flip_average=False, max_per_s=60)
        per_frame, _ = _read_frames(reader, lambda frame, faces=faces: list(range(faces)), interval)
        assert max(per_frame[1:]) <= math.ceil(faces * 0.2 / interval) + 1, per_frame
        assert sum(per_frame[1:]) <= 1.05 * 49 * faces * 0.2 / interval + faces, faces


class _StubDetector:
    """The FaceDetector calls the schedule makes, recorded; faces stay where they were."""

    def __init__(self, tiles, faces, full_range=False):
        self.tiles, self.faces = tiles, faces
        self.plan = type("Plan", (), {"full_range": full_range})()
        self.whole, self.looked, self.full_range_runs, self.lose, self.verified = [], [], 0, set(), 0
        self.newcomers = []  # what detect_part finds, one list a call

    def plan_due(self, t):
        return False

    def detect(self, image, t, trusted=(), every_scale=False):
        self.whole.append(t)
        return list(self.faces)

    def verify(self, rgb, faces, trusted=()):
        self.verified += 1
        return faces

    def relocate(self, rgb, faces):
        return [None if i in self.lose else f for i, f in enumerate(faces)]

    def plan_tiles(self, rgb, variant=0):
        return list(self.tiles)

    def detect_part(self, rgb, tiles, full_range, trusted=()):
        self.looked.append(list(tiles))
        self.full_range_runs += full_range
        return self.newcomers.pop() if self.newcomers else []


def _faces(n):
    return [Face(40.0 * i, 10.0, 30.0, 30.0, 0.9, np.zeros((6, 2), np.float32)) for i in range(n)]


def _frame_tiles(n):
    """Tiles over the whole 200x20 test frame (no gallery cells)."""
    return [Tile(i, 0, 10, 10, (0, 0, 200, 20)) for i in range(n)]


def test_sweeps_leave_out_the_gallery_cells_that_hold_a_face_but_search_them_now_and_then():
    """A cell holding a carried face is searched every occupied_every_s, an empty one every
    sweep, and a cell whose face is lost is empty from the next sweep on."""
    cells = [(50 * k, 0, 50, 20) for k in range(4)]
    tiles = [Tile(c[0] + dx, 0, 20, 20, c) for c in cells for dx in (0, 25)]
    faces = [Face(50.0 * k + 17, 2.0, 16.0, 16.0, 0.9, np.zeros((6, 2), np.float32)) for k in range(3)]  # cells 0-2
    stub = _StubDetector(tiles, faces)
    cfg = CFG.detector.__class__(**{**CFG.detector.__dict__, "detect_every_s": 1.0, "detect_every_still_s": 1.0,
                                    "occupied_every_s": 3.0})
    schedule = ScheduledDetector(stub, cfg)
    image = np.zeros((20, 200, 3), np.uint8)

    def run(schedule, stub, frames, lose_at=None):
        per_frame = []  # the tiles each frame looked at
        for frame in range(frames):
            stub.lose = {1} if frame == lose_at else set()  # e.g. that webcam turned off
            before = len(stub.looked)
            schedule.detect(image, frame * 0.2)
            per_frame.append(stub.looked[-1] if len(stub.looked) > before else [])
        return per_frame

    def sweep_cells(per_frame, first):  # the cells the sweep starting at this frame looked at (5 frames a sweep)
        looked = [tile for share in per_frame[first:first + 5] for tile in share]
        assert len(looked) == len(set(looked))  # nothing twice
        return {cells.index(tile.within) for tile in looked}

    per_frame = run(schedule, stub, 31, lose_at=23)
    assert stub.whole == [0.0]
    assert sweep_cells(per_frame, 1) == sweep_cells(per_frame, 6) == sweep_cells(per_frame, 11) == {3}
    assert sweep_cells(per_frame, 16) == {0, 1, 2, 3}  # 3.2 s: occupied_every_s after the whole plan searched all
    assert {cells.index(tile.within) for tile in per_frame[23]} == {1, 3}  # the lost face's cell at once ...
    assert set(tiles[2:4]) <= set(per_frame[23])  # ... all of it
    assert sweep_cells(per_frame, 21) == {1, 3}
    assert sweep_cells(per_frame, 26) == {1, 3}  # and the sweep after the loss searches the emptied cell
    assert len(schedule._previous) == 2

    stub = _StubDetector(tiles, faces)
    schedule = ScheduledDetector(stub, CFG.detector.__class__(**{**cfg.__dict__, "occupied_every_s": 0.0}))
    assert sweep_cells(run(schedule, stub, 6), 1) == {0, 1, 2, 3}  # 0: every cell in every sweep


def test_where_a_face_is_lost_is_searched_on_that_frame():
    """Outside a gallery: the tiles holding the lost face's centre (and the full-range model,
    where the plan has it) that very frame, not when the sweep comes round to them."""
    frame = (0, 0, 200, 20)
    tiles = [Tile(20 * i, 0, 20, 20, frame) for i in range(10)]
    faces = [Face(40.0 * k + 2, 2.0, 16.0, 16.0, 0.9, np.zeros((6, 2), np.float32)) for k in range(4)]
    stub = _StubDetector(tiles, faces, full_range=True)
    cfg = CFG.detector.__class__(**{**CFG.detector.__dict__, "detect_every_s": 2.0, "detect_every_still_s": 2.0})
    schedule = ScheduledDetector(stub, cfg)
    image = np.zeros((20, 200, 3), np.uint8)
    schedule.detect(image, 0.0)  # the whole plan
    schedule.detect(image, 0.2)  # the first share of a sweep (full range on its first frame)
    schedule.detect(image, 0.4)
    runs = stub.full_range_runs
    stub.lose = {3}  # the face centred at x = 130
    schedule.detect(image, 0.6)
    assert stub.looked[-1] == [tiles[6], tiles[2]]  # the only tile holding that centre, then the sweep's share
    assert stub.full_range_runs == runs + 1
    stub.lose = set()
    schedule.detect(image, 0.8)
    assert tiles[6] not in stub.looked[-1] and stub.full_range_runs == runs + 1  # once, at the loss


def test_the_sweep_looks_at_every_tile_once_per_detect_every_s_a_share_a_frame():
    tiles = _frame_tiles(103)
    stub = _StubDetector(tiles, _faces(4), full_range=True)
    cfg = CFG.detector.__class__(**{**CFG.detector.__dict__, "detect_every_s": 1.0, "detect_every_still_s": 1.0})
    schedule = ScheduledDetector(stub, cfg)
    image = np.zeros((20, 200, 3), np.uint8)
    for frame in range(31):  # 6 s at 5 fps
        schedule.detect(image, frame * 0.2)
    assert stub.whole == [0.0]  # the whole plan once, at the start; after that only shares
    sweeps = [stub.looked[k:k + 5] for k in range(0, 30, 5)]  # frames 1-5, 6-10, ...
    assert len(stub.looked) == 30
    for sweep in sweeps:
        looked = [tile for share in sweep for tile in share]
        assert sorted(looked) == sorted(tiles)  # every tile, once
        assert max(len(s) for s in sweep) <= math.ceil(len(tiles) / 5)  # an even share a frame
    assert stub.full_range_runs == 6  # the full-range model once a sweep ...
    assert stub.verified == 6  # ... and a second look at the faces carried
    stub.lose = {0, 1}  # half the faces cannot be re-found: a cut or a new layout
    schedule.detect(image, 6.2)
    schedule.detect(image, 6.4)
    assert stub.whole == [0.0, 6.4]
    assert stub.looked[-1] == tiles[:21]  # and the sweep starts again on the frame after


def test_a_frame_past_its_deadline_leaves_the_rest_of_its_share_to_later_frames():
    """Live: a frame over its budget looks at one batch of its share, re-finds every known face,
    and the tiles it left are looked at first on the next frames; the lateness is counted."""
    tiles = _frame_tiles(100)
    stub = _StubDetector(tiles, _faces(4))
    cfg = CFG.detector.__class__(**{**CFG.detector.__dict__, "detect_every_s": 1.0, "detect_every_still_s": 1.0})
    schedule = ScheduledDetector(stub, cfg)
    image = np.zeros((20, 200, 3), np.uint8)
    schedule.detect(image, 0.0)  # the whole plan
    for frame in range(1, 6):  # past the deadline from the start: one batch a frame
        faces = schedule.detect(image, frame * 0.2, deadline=time.perf_counter() - 1.0)
        assert len(faces) == 4  # known faces are never dropped for the budget
        assert len(stub.looked[-1]) == CHUNK_TILES
    assert schedule.lateness.frames_cut == 5
    first_five = [tile for share in stub.looked for tile in share]
    assert first_five == tiles[:5 * CHUNK_TILES]  # in order: nothing skipped, nothing twice
    for frame in range(6, 12):  # time to spare again: the leftovers first, then the next sweep
        schedule.detect(image, frame * 0.2, deadline=time.perf_counter() + 60.0)
    looked = [tile for share in stub.looked for tile in share]
    assert looked[:len(tiles)] == tiles  # the first sweep finished, late
    assert schedule.lateness.longest_sweep_s > cfg.detect_every_s


def test_a_live_re_plan_is_spread_over_frames_and_no_frame_pays_the_whole_search(tmp_path, fer_csv):
    """Live (a deadline): the detector's periodic re-plan searches one frame a step at a time
    after each frame's own work, instead of the whole multi-scale search (1-4 s) in one frame;
    the faces are carried meanwhile, and the new plan is followed once it is made. Files (no
    deadline) keep re-planning in one frame."""
    from layouts import make_gallery

    truth = make_gallery(tmp_path / "g.mp4", 3, 3, 1280, 720, seconds=3, fps=5, seed=3)
    cap = cv2.VideoCapture(str(truth.path))
    frames = [cap.read()[1] for _ in range(truth.n_frames)]
    cap.release()
    cfg = CFG.detector.__class__(**{**CFG.detector.__dict__, "recalibrate_s": 1.0})
    detector = FaceDetector(cfg)
    pictures: list[int] = []
    run = detector._short.detect

    def counted(batch):
        pictures[-1] += len(batch)
        return run(batch)

    detector._short.detect = counted
    try:
        schedule = ScheduledDetector(detector, cfg)
        pictures.append(0)
        schedule.detect(frames[0], 0.0)  # the first plan: searched whole, as it must be
        whole_search = pictures[0]
        counts = []
        for i, frame in enumerate(frames[1:], start=1):
            pictures.append(0)
            # past the deadline from the start: one step of the re-plan a frame
            counts.append(len(schedule.detect(frame, i * 0.2, deadline=time.perf_counter() - 1.0)))
        assert schedule.replans_stepped >= 1, detector.plan_history
        assert any("searched a step a frame" in line for line in detector.plan_history)
        # The faces known when it was adopted count as found: else the plan would be taken for
        # one made on an empty frame and searched again every recalibrate_empty_s.
        assert detector._state.found >= 8
        assert max(pictures[1:]) < whole_search / 3, (whole_search, pictures)
        assert min(counts[2:]) >= 8, counts  # the 9 faces are carried all along
    finally:
        detector.close()


def test_a_live_frame_that_loses_half_its_faces_starts_a_sweep_instead_of_the_whole_plan():
    """A file runs the whole plan on the frame after one that lost half its faces; a live
    source (a deadline) starts a new sweep there instead, spread over frames within their budget."""
    tiles = _frame_tiles(100)
    cfg = CFG.detector.__class__(**{**CFG.detector.__dict__, "detect_every_s": 1.0, "detect_every_still_s": 2.0})
    image = np.zeros((20, 200, 3), np.uint8)
    for live in (False, True):
        stub = _StubDetector(tiles, _faces(4))
        schedule = ScheduledDetector(stub, cfg)
        schedule.detect(image, 0.0)  # the whole plan
        for frame in range(1, 4):
            schedule.detect(image, frame * 0.2, deadline=time.perf_counter() + 60.0 if live else None)
        stub.lose = {0, 1, 2}  # a camera move: three of the four faces lost at once
        schedule.detect(image, 0.8, deadline=time.perf_counter() + 60.0 if live else None)
        stub.lose = set()
        looked = len(stub.looked)
        schedule.detect(image, 1.0, deadline=time.perf_counter() - 1.0 if live else None)
        if live:
            assert stub.whole == [0.0]
            assert stub.looked[looked:] == [tiles[:CHUNK_TILES]]  # a new sweep's first batch, the budget spent
        else:
            assert stub.whole == [0.0, 1.0]


def test_sweeps_slow_down_while_nobody_new_appears_and_speed_up_when_someone_does():
    tiles = _frame_tiles(100)
    stub = _StubDetector(tiles, _faces(4))
    cfg = CFG.detector.__class__(**{**CFG.detector.__dict__, "detect_every_s": 1.0, "detect_every_still_s": 2.0})
    schedule = ScheduledDetector(stub, cfg)
    image = np.zeros((20, 200, 3), np.uint8)
    shares = []
    for frame in range(40):
        if frame == 21:
            stub.newcomers = [[Face(500.0, 10.0, 30.0, 30.0, 0.9, np.zeros((6, 2), np.float32))]]  # someone joins
        before = len(stub.looked)
        schedule.detect(image, frame * 0.2)
        shares.append(len(stub.looked[-1]) if len(stub.looked) > before else 0)
    def sweep(first, frames):  # the whole plan, in even shares over these frames
        part = shares[first:first + frames]
        return sum(part) == len(tiles) and max(part) - min(part) <= 2

    assert sweep(1, 5)  # the first sweep: the short period (the whole plan had just run)
    assert sweep(6, 10) and sweep(16, 10)  # nobody new: sweeps take twice as long
    # frame 21 finds a newcomer: the sweep after the one in progress is short again, the next long
    assert sweep(26, 5) and max(shares[31:]) <= 11


def test_a_face_that_appears_mid_class_is_found_within_detect_every_s():
    later = face_photo_collage(n=6, width=960, height=540, min_px=50, max_px=80, seed=9)
    first = later.image.copy()
    x, y, w, h = later.boxes[0]
    first[y:y + h, x:x + w] = cv2.GaussianBlur(first, (0, 0), 8)[y:y + h, x:x + w]  # nobody there yet
    detector = FaceDetector(CFG.detector, "sliced")
    schedule = ScheduledDetector(detector, CFG.detector)
    try:
        def found_at(frame):
            return any(abs(f.x + f.w / 2 - (x + w / 2)) < w / 2 and abs(f.y + f.h / 2 - (y + h / 2)) < h / 2
                       for f in schedule.detect(frame, t))

        for k in range(5):
            t = k * 0.2
            assert not found_at(first)
        seen = []
        for k in range(5, 5 + round(CFG.detector.detect_every_s / 0.2) + 2):
            t = k * 0.2
            seen.append(found_at(later.image))
        assert any(seen)
        assert len(schedule._previous) >= 6  # the others are carried all along
    finally:
        detector.close()


def test_a_live_frame_with_nobody_to_carry_searches_the_plan_for_a_bounded_time_and_goes_on_next_frame(monkeypatch):
    """A file runs the whole plan on a frame with nobody to carry; a live source searches it for at
    most WHOLE_LIVE_S (a classroom camera's whole plan took 0.9-1.4 s on a busy laptop, the whole
    latency past 1 s) and the next frames go on where it stopped, until every tile was looked at."""
    from engine import schedule as schedule_module

    monkeypatch.setattr(schedule_module, "WHOLE_LIVE_S", 0.05)
    tiles = _frame_tiles(5 * CHUNK_TILES)

    class Slow(_StubDetector):
        def detect_part(self, rgb, tiles, full_range, trusted=()):
            time.sleep(0.03)  # a batch of tiles: two fit in the frame's time
            return super().detect_part(rgb, tiles, full_range, trusted)

    image = np.zeros((20, 200, 3), np.uint8)
    for live in (False, True):
        stub = Slow(tiles, [], full_range=True)
        schedule = ScheduledDetector(stub, CFG.detector)
        per_frame = []
        for frame in range(4):
            before = len(stub.looked)
            schedule.detect(image, frame * 0.2, deadline=time.perf_counter() + 0.01 if live else None)
            per_frame.append([tile for part in stub.looked[before:] for tile in part])
        if not live:
            assert len(stub.whole) == 4 and stub.looked == []  # the whole plan on each frame
            continue
        assert stub.whole == []  # never the whole plan in one frame
        assert all(0 < len(looked) < len(tiles) for looked in per_frame[:2])
        first_pass = [tile for looked in per_frame for tile in looked][:len(tiles)]
        assert first_pass == tiles  # each frame went on where the last one stopped
        assert stub.full_range_runs == 2  # once a pass over the plan, with its first batch
