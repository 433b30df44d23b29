"""The engine on generated meeting galleries it was never tuned on (tests/layouts.py): per
family of layout, the faces it finds, the false boxes and the students it creates; every
participant's student through a 49-tile reshuffle and through a meeting window resized on a
desktop; and flat memory over a long class of churning tracks. Speed is measured by
benchmarks/engine_layouts.py, not asserted here."""

from __future__ import annotations

import numpy as np
import pytest
from engine_support import need_model
from layouts import make_gallery, match_boxes, pair_boxes

from engine.config import load_config

CFG = load_config()
SETTLE_S = 1.0  # a face is a student from its third sighting; the plan is searched on frame 1


@pytest.fixture(scope="module")
def model():
    from engine.classify import ExpressionModel

    return ExpressionModel(need_model())


def analyse(path, model):
    """(t, [StudentFace]) for each analysed frame of a video."""
    from engine.pipeline import FrameAnalyzer
    from engine.sources import open_source

    analyzer = FrameAnalyzer(CFG, model)
    out = []
    try:
        with open_source(str(path), CFG.sampling.fps) as source:
            for frame in source.frames():
                out.append((frame.t, analyzer.analyse(frame)[0]))
    finally:
        analyzer.close()
    return out


@pytest.mark.parametrize(("rows", "cols", "width", "height", "min_recall"), [
    (2, 2, 1280, 720, 0.9), (3, 3, 1920, 1080, 0.9), (4, 4, 1280, 720, 0.9), (5, 5, 1280, 720, 0.9),
    (7, 7, 1920, 1080, 0.9),
    # Issue 11's known gap, held here so that it cannot widen: in these two a few participants' FER
    # pictures (semi-transparent, a hand over the face, a small face on a dahlia) never pass the
    # second look; recall 0.87 and 0.86 with these seeds (0.92-0.94 over 20 s in the benchmark).
    (6, 6, 1280, 720, 0.85), (7, 7, 1280, 720, 0.85),
])
def test_a_gallery_family_gives_one_student_per_participant(rows, cols, width, height, min_recall, model, tmp_path,
                                                            fer_data):
    truth = make_gallery(tmp_path / "g.mp4", rows, cols, width, height, seconds=4, seed=rows)
    frames = analyse(truth.path, model)
    hits = misses = false = 0
    seen = set()  # participants whose face was found at least once
    for t, faces in frames:
        boxes, ids = truth.at(t)
        # A box well inside a participant's FER picture is on its face (FER frames some faces small):
        # counted as benchmarks/engine_layouts.py counts, so a box on a face is neither a miss nor false.
        pairs = pair_boxes(boxes, [sf.face.box for sf in faces], inside=0.9)
        seen |= {ids[ti] for ti, _, _ in pairs}
        if t < SETTLE_S:
            continue
        hits, misses, false = hits + len(pairs), misses + len(boxes) - len(pairs), false + len(faces) - len(pairs)
    settled = sum(1 for t, _ in frames if t >= SETTLE_S)
    recall = hits / (hits + misses)
    assert recall >= min_recall, f"recall {recall:.2f} on {rows}x{cols} {width}x{height}"
    # Counted on the face, none of these galleries has a false box (2026-12-05); the benchmark's
    # worst is 0.17 a frame (4x4 1080p, a box half on a dahlia behind a face).
    assert false / settled <= 0.1, f"{false} false boxes in {settled} frames"
    students = {sf.student for _, faces in frames for sf in faces}
    # No phantom and no participant split in two; a participant never found has no student.
    assert len(seen) - 2 <= len(students) <= len(seen), f"{len(students)} students, {len(seen)} seen"


def test_a_49_tile_gallery_keeps_every_participants_student_through_a_reshuffle(model, tmp_path, fer_data):
    """Every participant moves to another tile at 5 s, taking their name and background along,
    while their FER faces keep changing every 3-6 s (so the face alone does not say who it is):
    each participant is recorded as one student of their own, before and after."""
    from collections import Counter

    truth = make_gallery(tmp_path / "g.mp4", 7, 7, 1280, 720, seconds=10, seed=49, reshuffle_at=5.0)
    before: dict[int, Counter] = {}
    after: dict[int, Counter] = {}
    for t, faces in analyse(truth.path, model):
        if t < SETTLE_S:
            continue
        boxes, ids = truth.at(t)
        for ti, fi, _ in pair_boxes(boxes, [sf.face.box for sf in faces]):
            (before if t < truth.reshuffle_at else after).setdefault(ids[ti], Counter())[faces[fi].student] += 1
    seen = set(before) & set(after)
    assert len(seen) >= 45, f"only {len(seen)} of 49 participants found on both sides of the reshuffle"
    main = {}
    for p in seen:
        every = before[p] + after[p]
        student, n = every.most_common(1)[0]
        assert n >= 0.9 * sum(every.values()), f"participant {p}: {before[p]} before, {after[p]} after"
        assert before[p].most_common(1)[0][0] == after[p].most_common(1)[0][0] == student, (p, before[p], after[p])
        main[p] = student
    assert len(set(main.values())) == len(main)  # nobody shares a student


def test_a_meeting_window_resized_on_a_desktop_keeps_every_participants_student(model, tmp_path, fer_data):
    """A whole-screen capture: half-way through, the meeting window shrinks to 70 % and moves
    onto a desktop with a photo for wallpaper. The gallery is read inside the window (before: not
    at all, so its cells' contexts were lost and 5 of 16 participants became new students)."""
    from collections import Counter

    import cv2
    from layouts import sample_photos

    truth = make_gallery(tmp_path / "g.mp4", 4, 4, 1280, 720, seconds=6, seed=3)
    at, scale, (ox, oy) = 3.0, 0.7, (128, 36)
    wallpaper = cv2.resize(sample_photos()[0], (1280, 720))
    source, resized = cv2.VideoCapture(str(truth.path)), tmp_path / "resized.mp4"
    fps = source.get(cv2.CAP_PROP_FPS)
    out = cv2.VideoWriter(str(resized), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    k = 0
    while True:
        ok, frame = source.read()
        if not ok:
            break
        if k / fps >= at:
            window = cv2.resize(frame, (round(1280 * scale), round(720 * scale)), interpolation=cv2.INTER_AREA)
            frame = wallpaper.copy()
            frame[oy:oy + window.shape[0], ox:ox + window.shape[1]] = window
        out.write(frame)
        k += 1
    out.release()
    before: dict[int, Counter] = {}
    after: dict[int, Counter] = {}
    for t, faces in analyse(resized, model):
        if t < SETTLE_S:
            continue
        boxes, ids = truth.at(t)
        if t >= at:
            boxes = [(x * scale + ox, y * scale + oy, w * scale, h * scale) for x, y, w, h in boxes]
        for ti, fi, _ in pair_boxes(boxes, [sf.face.box for sf in faces]):
            (before if t < at else after).setdefault(ids[ti], Counter())[faces[fi].student] += 1
    seen = set(before) & set(after)
    assert len(seen) >= truth.participants - 2, f"only {len(seen)} of {truth.participants} found on both sides"
    for p in seen:
        assert before[p].most_common(1)[0][0] == after[p].most_common(1)[0][0], (p, before[p], after[p])
    students = {s for side in (before, after) for c in side.values() for s in c}
    assert len(students) <= truth.participants, f"{len(students)} students for {truth.participants} participants"


def test_a_4k_gallery_is_analysed_at_1080p_and_recorded_in_its_own_pixels(model, tmp_path, fer_data, monkeypatch):
    """A 3840x2160 recording is analysed scaled to 1920x1080 ([sampling] max_side), yet every
    recorded box is in the recording's own pixels."""
    from db import connect
    from db.models import Observation
    from engine import pipeline
    from engine.sources import open_source

    analysed = set()
    analyse = pipeline.FrameAnalyzer.analyse

    def seen(self, frame):
        analysed.add(frame.image.shape[:2])
        return analyse(self, frame)

    monkeypatch.setattr(pipeline.FrameAnalyzer, "analyse", seen)
    truth = make_gallery(tmp_path / "g4k.mp4", 3, 3, 3840, 2160, seconds=3, seed=4)
    db = f"sqlite:///{tmp_path / 'g.db'}"
    summary = pipeline.run(open_source(str(truth.path), CFG.sampling.fps), db, CFG,
                           pipeline.RunOptions(progress=False), model=model)
    assert analysed == {(1080, 1920)}
    assert summary.students == truth.participants
    with connect(db)() as s:
        rows = s.query(Observation.t, Observation.box_x, Observation.box_y, Observation.box_w, Observation.box_h).all()
    by_t: dict[float, list] = {}
    for t, *box in rows:
        by_t.setdefault(t, []).append(box)
    hits = misses = false = 0
    for t, boxes in by_t.items():
        m = match_boxes(truth.at(t)[0], boxes)
        hits, misses, false = hits + m.hits, misses + m.misses, false + m.false_boxes
    assert hits / (hits + misses) >= 0.9 and false <= 0.1 * hits, (hits, misses, false)


def test_a_long_class_of_churning_tracks_keeps_the_trackers_memory_flat():
    """Ten simulated minutes at 5 fps of 20 faces, one of them replaced by a stranger in a new
    place every second, with memories shortened to fit (reattach 15 s, re-id 30 s): what
    tracker and re-id keep after 10 minutes is no more than after 5."""
    import dataclasses

    from test_engine_streams import FRAME, _face

    from engine.reid import ReidConfig, StudentGallery
    from engine.track import FaceTracker

    rng = np.random.default_rng(0)
    tracker = FaceTracker(dataclasses.replace(CFG.tracker, reattach_seconds=15.0), fps=5.0)
    gallery = StudentGallery(ReidConfig(memory_s=30.0))
    places = [(float(x), float(y)) for x, y in rng.uniform(0, 260, (20, 2))]
    sizes = []
    for i in range(10 * 60 * 5):
        t = i / 5
        if i % 5 == 0:
            places[int(rng.integers(20))] = tuple(float(v) for v in rng.uniform(0, 260, 2))
        tracked = tracker.update(t, [_face(x, y, 40, 0.9) for x, y in places])
        if i % 5 == 0:  # re-id on every fifth frame keeps the test quick
            gallery.assign_boxes(t, FRAME, [tf.track for tf in tracked], [tf.face.box for tf in tracked])
        if i % 1500 == 1499:
            sizes.append((len(tracker._alias), len(tracker._seen), len(tracker._hits), len(gallery.students),
                          len(gallery.track_student)))
    half, full = np.array(sizes[0]), np.array(sizes[1])
    assert (full <= 1.2 * half + 10).all(), sizes
    assert full[3] < 70  # students of the last half minute only, not all 600 strangers
