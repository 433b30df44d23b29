"""The engine's stages one by one, on real inputs: detection of small faces, tracking through
misses, eye-line alignment, attention cues, and the recorder's all-or-nothing batches."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from engine_support import small_faces_scene

from db import connect
from db import repository as repo
from db.models import Alert, SessionStatus
from engine import cli
from engine.align import aligned_crop, eye_roll
from engine.attention import AttentionEstimator, keypoint_yaw
from engine.config import load_config
from engine.detect import Face, FaceDetector
from engine.recorder import Recorder, RecorderError
from engine.scoring import AlertEvent, Scored
from engine.sources import SourceInfo
from engine.track import FaceTracker

CFG = load_config()


def _face(x, y, s, score=0.9, keypoints=None) -> Face:
    if keypoints is None:
        keypoints = np.array([(x + 0.3 * s, y + 0.4 * s), (x + 0.7 * s, y + 0.4 * s), (x + 0.5 * s, y + 0.6 * s),
                              (x + 0.5 * s, y + 0.8 * s), (x, y + 0.45 * s), (x + s, y + 0.45 * s)], np.float32)
    return Face(float(x), float(y), float(s), float(s), score, keypoints)


# -- detection -----------------------------------------------------------------------------------
def recall(faces: list[Face], boxes) -> float:
    hits = sum(any(abs(f.x + f.w / 2 - (x + w / 2)) < w / 2 and abs(f.y + f.h / 2 - (y + h / 2)) < h / 2 for f in faces)
               for x, y, w, h in boxes)
    return hits / len(boxes)


def test_small_faces_are_found_by_tiles(fer_data):
    test = fer_data.split("PrivateTest")
    neutral = test.images[test.labels == 6]
    frame, boxes = small_faces_scene(neutral, seed=0)
    found = {}
    for mode in ("full", "sliced", "auto"):
        detector = FaceDetector(CFG.detector, mode)
        try:
            found[mode] = detector.detect(frame, 0.0)
        finally:
            detector.close()
    assert recall(found["full"], boxes) < 0.5  # the whole-frame model cannot see 16-25 px faces ...
    # ... upscaled tiles can. 15 of these 17 pass the second look in this one frame (16 of 17
    # are found without it): the price of refusing the 0.5-0.7 boxes on bags, hands and petals.
    assert recall(found["sliced"], boxes) >= 0.85
    assert recall(found["auto"], boxes) >= 0.85
    assert len(found["auto"]) <= len(boxes) + 1  # and they are faces, not texture


def test_one_small_face_does_not_buy_a_tile_scale_but_a_row_of_them_does():
    """The plan's tile sides (one per cluster of face sizes): four faces of 50-65 px and one of
    14 px (the dim classroom's plan frame) keep to the large faces' tiles; with a second and
    third far face the small faces' 48 px tiles join them."""
    detector = FaceDetector(CFG.detector, "auto")
    try:
        near = [(65.0, 0.9), (60.0, 0.85), (55.0, 0.8), (50.0, 0.85)]
        one_far = detector._tile_sides(near + [(14.0, 0.8)], 480)
        far_row = detector._tile_sides(near + [(14.0, 0.8), (15.0, 0.8), (13.0, 0.75)], 480)
    finally:
        detector.close()
    assert one_far == (172,)  # 3x the typical (median) 57.5 px face
    assert far_row == (48, 172)


def test_detect_command_prints_boxes_as_json(fer_data, tmp_path, capsys):
    test = fer_data.split("PrivateTest")
    face = cv2.resize(test.images[test.labels == 3][0], (160, 160), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((360, 480, 3), 40, np.uint8)
    canvas[100:260, 160:320] = face[:, :, None]
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), canvas)
    assert cli.main(["detect", str(image), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 1 and set(out[0]) == {"box", "score"}
    x, y, w, h = out[0]["box"]
    assert 140 <= x + w / 2 - 80 <= 180 and 80 <= y + h / 2 - 80 <= 140 and 0.5 <= out[0]["score"] <= 1


# -- tracking ------------------------------------------------------------------------------------
def test_a_student_keeps_one_id_through_misses_and_a_long_absence():
    tracker = FaceTracker(CFG.tracker, fps=5.0)
    a, b = _face(100, 100, 80), _face(400, 100, 80)
    ids = {}
    t = 0.0
    for i in range(60):  # 12 s; face a blinks out of detection now and then, b is always there
        t = i / 5
        seen = [b] if i % 7 in (3, 4) else [a, b]
        for tf in tracker.update(t, seen):
            ids.setdefault(tf.face.x, set()).add(tf.track)
    # Then a is gone for 30 s (camera off: longer than lost_seconds) and comes back in place.
    for i in range(150):
        tracker.update(12 + i / 5, [b])
    back = tracker.update(42.2, [a, b])
    back = tracker.update(42.4, [a, b])
    for tf in back:
        ids[tf.face.x].add(tf.track)
    assert len(ids[100.0]) == 1 and len(ids[400.0]) == 1 and ids[100.0] != ids[400.0]
    assert tracker.reattached == 1
    # Someone new in another place is someone new.
    c = _face(100, 300, 80)
    for t in (42.6, 42.8):  # a new face is a student from its third sighting (confirm_hits 2 + ByteTrack's own one)
        tracker.update(t, [a, b, c])
    new = {tf.face.y: tf.track for tf in tracker.update(43.0, [a, b, c])}
    assert new[300.0] not in ids[100.0] | ids[400.0]


def test_a_box_seen_on_two_frames_never_becomes_a_student():
    """Issue 11's phantoms: a box that lasts two frames (a hand, a bag the detector scored once or
    twice) is never reported, so nothing of it is written, on the video's first frames too
    (where ByteTrack reports every box at once); a face that stays is reported from its third
    sighting (confirm_hits 2 + ByteTrack's own one)."""
    tracker = FaceTracker(CFG.tracker, fps=5.0)
    face = _face(100, 100, 80)
    reported = []
    for i in range(30):
        t = i / 5
        flicker = [_face(300 + 70 * (i // 3), 200, 60)] if i % 3 < 2 else []  # two frames on, one off, each time elsewhere
        reported.append(tracker.update(t, [face, *flicker]))
    assert [len(r) for r in reported[:2]] == [0, 0] and all(len(r) == 1 for r in reported[2:])
    assert {tf.face.x for r in reported for tf in r} == {100.0}  # the flicker never once


def test_a_frames_record_takes_only_columns_with_a_value_for_every_face():
    """engine/frame_faces.py: each stage adds a column to one record per frame; a column one value
    short (a stage that dropped a face) is refused instead of shifting the rest onto other faces."""
    from engine.attention import Attention
    from engine.frame_faces import FrameFaces
    from engine.quality import FaceQuality

    faces = (_face(10, 10, 50), _face(200, 10, 60))
    rows = FrameFaces(1.0, faces).with_columns(track=[7, 9])
    with pytest.raises(ValueError, match="1 values for 2 faces"):
        rows.with_columns(student=[3])
    with pytest.raises(ValueError, match="no column 'studnet'"):
        rows.with_columns(studnet=[3, 4])
    rows = rows.with_columns(student=[3, 4], probs=[None, None])
    with pytest.raises(ValueError, match="not scored"):
        list(rows)
    cues = [Attention(float(k), 0.0, None, None, "keypoints", 1.0) for k in (5, -5)]
    quality = [FaceQuality(f.size / 100, 500.0, 120.0, 30.0, True, None) for f in faces]
    rows = rows.with_columns(attention=cues, quality=quality)
    assert [r.yaw for r in rows.readings()] == [5.0, -5.0] and [r.student for r in rows.readings()] == [3, 4]
    scored = [Scored(s, None, None, 0.5, None) for s in (3, 4)]
    rows = rows.with_columns(scored=scored)
    assert [(sf.student, sf.face.x, sf.attention.yaw, sf.scored.student) for sf in rows] == [
        (3, 10.0, 5.0, 3), (4, 200.0, -5.0, 4)]
    assert rows[1].quality.score == 0.6 and len(rows) == 2


# -- alignment -----------------------------------------------------------------------------------
def test_alignment_levels_the_eye_line():
    frame = np.full((300, 300), 128, np.uint8)
    right_eye, left_eye = (120, 130), (180, 160)  # eye line tilted by atan(30/60) = 26.6 degrees
    for x, y in (right_eye, left_eye):
        cv2.circle(frame, (x, y), 4, 0, -1)
    kps = np.array([right_eye, left_eye, (150, 170), (145, 200), (100, 150), (200, 170)], np.float32)
    face = Face(100.0, 100.0, 100.0, 100.0, 0.9, kps)
    assert eye_roll(face) == pytest.approx(math.degrees(math.atan2(30, 60)))
    crop = aligned_crop(frame, face, CFG.align)
    assert crop.shape == (120, 120)  # 10 % margin on each side
    ys, xs = np.nonzero(crop < 60)
    left_blob, right_blob = ys[xs < 60], ys[xs >= 60]
    assert len(left_blob) and len(right_blob)
    assert abs(left_blob.mean() - right_blob.mean()) < 2  # level after alignment (was 30 px apart)


# -- attention -----------------------------------------------------------------------------------
def test_keypoint_yaw_sign_and_zero():
    assert keypoint_yaw(_face(0, 0, 100)) == pytest.approx(0.0, abs=1e-6)
    kps = _face(0, 0, 100).keypoints.copy()
    kps[2, 0] += 15  # nose towards the image's right
    assert keypoint_yaw(_face(0, 0, 100, keypoints=kps)) > 15


def test_mesh_reads_a_real_face_and_its_mirror(fer_data):
    test = fer_data.split("PrivateTest")
    detector = FaceDetector(CFG.detector, "full")
    yaws = []
    try:
        picked = 0
        for img in test.images[test.labels == 6][:40]:
            face = cv2.resize(img, (200, 200), interpolation=cv2.INTER_CUBIC)
            canvas = np.full((400, 400), 60, np.uint8)
            canvas[100:300, 100:300] = face
            pair = []
            for view in (canvas, canvas[:, ::-1]):
                bgr = cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_GRAY2BGR)
                faces = detector.detect(bgr)
                if len(faces) != 1:
                    break
                est = AttentionEstimator(CFG.attention)
                cue = est.estimate(0.0, bgr, [1], faces)[0]
                est.close()
                if cue.method != "mesh":
                    break
                pair.append(cue)
            if len(pair) == 2 and abs(pair[0].yaw) > 8:
                yaws.append((pair[0].yaw, pair[1].yaw, pair[0].eye_openness))
                picked += 1
            if picked == 4:
                break
    finally:
        detector.close()
    assert len(yaws) >= 3
    for yaw, mirrored, eyes in yaws:
        assert np.sign(yaw) == -np.sign(mirrored) and abs(yaw + mirrored) < 8  # a mirror turns the head the other way
        assert eyes is not None and 0 <= eyes <= 1


def test_mesh_budget_per_frame():
    cfg = CFG.attention
    estimator = AttentionEstimator(cfg)
    frame = np.full((200, 2000, 3), 90, np.uint8)  # no real faces: every mesh attempt is spent, and counted
    faces = [_face(20 + 150 * k, 40, 100) for k in range(12)]
    try:
        cues = estimator.estimate(0.0, frame, list(range(12)), faces)
        assert estimator.meshes_run == cfg.mesh_max_per_frame
        assert all(c.method == "keypoints" and c.pitch is None for c in cues)
        estimator.estimate(0.2, frame, list(range(12)), faces)
        assert estimator.meshes_run == 2 * cfg.mesh_max_per_frame  # the others' turn
        small = [_face(20 + 30 * k, 40, cfg.mesh_min_face_px - 10) for k in range(3)]
        estimator.estimate(5.0, frame, [100, 101, 102], small)
        assert estimator.meshes_run == 2 * cfg.mesh_max_per_frame  # too small for a mesh
    finally:
        estimator.close()


# -- recorder ------------------------------------------------------------------------------------
def _scored(key, emotion="happy"):
    probs = np.full(7, 0.05, np.float32)
    probs[3] = 0.7
    return Scored(key, probs, emotion, 0.9, 0.1)


def _info():
    return SourceInfo("video", "/videos/x.mp4", 640, 360, 10.0, 25.0, False)


def test_recorder_writes_students_observations_and_alerts_per_batch(db_url):
    from datetime import datetime

    db = db_url
    rec = Recorder(connect(db), CFG.recorder)
    sid = rec.start(_info(), "m.keras", 5.0, title="t")
    from engine.attention import Attention

    att = Attention(3.0, None, None, None, "keypoints", 0.0)
    for i in range(3):
        rec.observe(i / 5, datetime(2026, 1, 1), _face(10, 10, 50), _scored(7), att)
        rec.observe(i / 5, datetime(2026, 1, 1), _face(100, 10, 50), _scored(9), att)
    rec.alert([AlertEvent("confused", 9, "open", 0.4, "{name} looks confused."),
               AlertEvent("confused", None, "open", 0.4, "The class looks confused.")])
    with connect(db)() as s:
        assert repo.students(s, sid) == []  # nothing before the flush
    rec.flush(0.4, 3)
    rec.alert([AlertEvent("confused", 9, "close", 1.0, "{name} is fine.")])
    rec.flush(1.0, 5)
    rec.finish(SessionStatus.complete, "", 1.0, 5)
    rec.close()
    with connect(db)() as s:
        students = repo.students(s, sid)
        assert [st.label for st in students] == ["Student 1", "Student 2"]
        frame = repo.observations_frame(s, sid)
        assert len(frame) == 6 and set(frame["student"]) == {"Student 1", "Student 2"}
        alerts = {(a.student_id, a.kind): a for a in s.query(Alert).all()}
        student_alert = alerts[(students[1].id, "confused")]
        assert student_alert.message == "Student 2 looks confused." and student_alert.end_t == 1.0
        assert alerts[(None, "confused")].end_t == 1.0  # closed when the session finished
        session = repo.get_session(s, sid)
        assert session.frames_analyzed == 5 and session.status == SessionStatus.complete


def test_a_failed_batch_leaves_nothing_behind(db_url):
    from datetime import datetime

    from engine.attention import Attention

    db = db_url
    rec = Recorder(connect(db), CFG.recorder)
    sid = rec.start(_info(), "m.keras", 5.0)
    att = Attention(None, None, None, None, "keypoints", 0.0)
    rec.observe(0.0, datetime(2026, 1, 1), _face(10, 10, 50), _scored(1), att)
    # wall_time is NOT NULL (emotion no longer is: attention-only sessions store none)
    rec.observe(0.0, None, _face(90, 10, 50), _scored(2), att)
    with pytest.raises(RecorderError):
        rec.flush(0.2, 1)
    rec.finish(SessionStatus.failed, "write failed", 0.2, 1)
    rec.close()
    with connect(db)() as s:
        assert repo.students(s, sid) == []  # the new students went with the batch
        assert len(repo.observations_frame(s, sid)) == 0
        assert repo.get_session(s, sid).status == SessionStatus.failed



def test_a_face_whose_box_shrinks_in_place_stays_the_same_student():
    # On the demo gallery a tile's box went from 129 px to 51 px when its picture changed
    # (IoU 0.16): ByteTrack starts a new track, re-attachment by containment keeps the student.
    tracker = FaceTracker(CFG.tracker, fps=5.0)
    big, small = _face(1080, 561, 129), _face(1129, 622, 51)
    before = {tf.track for i in range(5) for tf in tracker.update(i / 5, [big])}
    after = {tf.track for i in range(5, 10) for tf in tracker.update(i / 5, [small])}
    assert len(before) == 1 and after == before
    assert tracker.reattached == 1


def test_flip_average_is_the_mean_of_a_face_and_its_mirror_in_one_call():
    from engine.classify import ExpressionModel

    model = ExpressionModel()
    x = np.random.default_rng(3).random((5, 48, 48, 1), dtype=np.float32)
    mirror = x[:, :, ::-1]
    both = model.predict(x, flip_average=True)
    assert np.allclose(both, (model.predict(x) + model.predict(mirror)) / 2, atol=1e-5)
    assert np.allclose(both, model.predict(mirror, flip_average=True), atol=1e-5)  # mirror-blind
    assert np.allclose(both.sum(axis=1), 1.0, atol=1e-5)
    assert model.predict(x[:0], flip_average=True).shape == (0, 7)
    assert CFG.classify.flip_average  # the engine reads faces this way unless told otherwise
