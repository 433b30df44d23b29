"""Property-based: detect -> track -> re-identify never raises on any stream of boxes, and
one frame never holds one student twice (the crash a real classroom clip found:
"a track id appears twice in one frame")."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from engine_support import need_model
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.config import load_config
from engine.detect import Face, merge_faces
from engine.reid import StudentGallery
from engine.sources import Frame, Source, SourceInfo
from engine.track import FaceTracker

CFG = load_config()
FRAME = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)

box = st.tuples(st.floats(0, 300), st.floats(0, 220), st.floats(12, 80), st.floats(0.5, 1.0))
# Boxes crowding one spot, duplicated, vanishing and coming back: frames of 0-12 boxes drawn
# from a small pool of places, so the same places recur, overlap and swap.
frames = st.lists(st.lists(st.sampled_from(range(6)), max_size=12), min_size=1, max_size=40)


def _face(x, y, size, score):
    kps = np.tile(np.array([[x + size / 2, y + size / 2]], np.float32), (6, 1))
    return Face(x, y, size, size, score, kps)


CELLS = [(0, 0, 160, 120), (160, 0, 160, 120), (0, 120, 160, 120), (160, 120, 160, 120)]  # a 2x2 gallery


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=st.lists(box, min_size=6, max_size=6), stream=frames,
       gaps=st.lists(st.sampled_from([0.2, 0.2, 3.0, 15.0]), min_size=40, max_size=40), merged=st.booleans(),
       gallery_cells=st.booleans())
# The shape of the crash: the very same box twice in one frame, frame after frame, on a gallery.
@example(pool=[(40.0, 30.0, 40.0, 0.9)] * 6, stream=[[0, 0, 1, 1]] * 4, gaps=[0.2] * 40, merged=False,
         gallery_cells=True)
def test_any_stream_of_boxes_gives_one_student_per_face(pool, stream, gaps, merged, gallery_cells):
    """Detect -> track -> re-identify: the boxes as they come (duplicates reach the tracker) or
    merged as the detector merges its tiles' finds, with and without a gallery's cells (and so
    their contexts)."""
    tracker, gallery, t = FaceTracker(CFG.tracker, fps=5.0), StudentGallery(), 0.0
    d = CFG.detector
    for frame, gap in zip(stream, gaps, strict=False):
        t += gap
        faces = [_face(*pool[i]) for i in frame]
        if merged:
            faces = merge_faces(faces, d.nms_iou, d.nms_containment)
        tracked = tracker.update(t, faces)
        ids = [tf.track for tf in tracked]
        assert len(ids) == len(set(ids)), f"one student twice in a frame at {t}: {ids}"
        keys = gallery.assign_boxes(t, FRAME, ids, [tf.face.box for tf in tracked], CELLS if gallery_cells else ())
        assert len(keys) == len(set(keys))



class _SlowLive(Source):
    """A live source that delivers one frame every 0.5 s while 5 a second were asked: what a
    camera source does when each frame's analysis takes longer than the frame interval."""

    def __init__(self, image: np.ndarray, frames: int):
        super().__init__(5.0)
        self.image, self.count = image, frames
        self.info = SourceInfo("camera", "camera 9", image.shape[1], image.shape[0], None, 30.0, True)

    def frames(self):
        for i in range(self.count):
            yield Frame(i, 0.5 * i, datetime.now(UTC).replace(tzinfo=None), self.image)


def test_a_live_class_that_cannot_keep_up_says_so_on_the_session(tmp_path):
    from db import connect
    from db.models import ClassSession
    from engine.classify import ExpressionModel
    from engine.pipeline import RunOptions, run

    db = f"sqlite:///{tmp_path / 'live.db'}"
    summary = run(_SlowLive(FRAME, 24), db, CFG, RunOptions(progress=False), model=ExpressionModel(need_model()))
    assert summary.status == "complete"
    with connect(db)() as s:
        note = s.get(ClassSession, summary.session_id).note
    assert "analysed 2.1 frames a second of the 5 asked" in note


class _ThreadWatch(_SlowLive):
    """Notes OpenCV's thread count while the engine pulls each frame."""

    seen: list[int]

    def frames(self):
        import cv2

        self.seen = []
        for frame in super().frames():
            self.seen.append(cv2.getNumThreads())
            yield frame


def test_a_run_keeps_opencv_to_one_thread_and_gives_the_count_back(tmp_path):
    """engine.pipeline.opencv_threads says why (its small calls' idle threads take the cores from the models')."""
    import cv2

    from engine.pipeline import RunOptions, run

    cv2.setNumThreads(2)
    source = _ThreadWatch(FRAME, 4)
    summary = run(source, f"sqlite:///{tmp_path / 'c.db'}", CFG.replace("privacy", emotions=False), RunOptions(progress=False))
    assert summary.status == "complete"
    assert source.seen == [1, 1, 1, 1]
    assert cv2.getNumThreads() == 2
