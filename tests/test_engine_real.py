"""The engine on pictures and clips nobody here made (../shared/data/real, truth counted by eye
in its README) and on pictures with no face at all: the precision promises of issue 11, held
by the whole engine (`engine.pipeline.run`, as `python -m engine process` runs it). Each case
skips with a reason where its file is absent (the folder is never committed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from engine_support import REPO, need_model
from layouts import face_photo_collage, match_boxes, sample_photos

from db import connect
from db.models import Observation
from engine.config import load_config
from engine.pipeline import RunOptions, run
from engine.sources import open_source

REAL = REPO.parent / "shared" / "data" / "real"
CFG = load_config()


@pytest.fixture(scope="module")
def model():
    from engine.classify import ExpressionModel

    return ExpressionModel(need_model())


def _real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} not found (real footage lives in ../shared/data/real, never in the repository)")
    return path


def _run(path: Path, model, tmp_path: Path):
    db = f"sqlite:///{tmp_path / (path.stem + '.db')}"
    with open_source(str(path), CFG.sampling.fps) as source:
        return run(source, db, CFG, RunOptions(progress=False), model=model), db


def test_a_real_zoom_gallery_gives_exactly_its_28_faces(model, tmp_path):
    summary, _ = _run(_real("zoom_actors.jpg"), model, tmp_path)
    assert summary.students == 28


@pytest.mark.parametrize("clip", ["one_person_expressions.mp4", "one_person_phone.mp4", "webcam_posed.mp4"])
def test_a_one_person_clip_gives_exactly_one_student(clip, model, tmp_path):
    summary, _ = _run(_real(clip), model, tmp_path)
    assert summary.students == 1


@pytest.fixture(scope="module")
def classroom(model, tmp_path_factory):
    """One engine run of the panning classroom clip, shared by the tests that read its session."""
    return _run(_real("classroom_pan.mp4"), model, tmp_path_factory.mktemp("classroom"))


def test_a_panning_classroom_camera_gives_about_its_25_people(classroom):
    summary, _ = classroom
    assert 20 <= summary.students <= 30  # ~25 different people over the clip, within 20 %


@pytest.mark.parametrize(("name", "variant", "low", "high"), [
    ("classroom_pan.mp4", "dim", 20, 30),  # faces score lower in the dark: the second look must still pass them
    ("zoom_actors.jpg", "compressed", 28, 28),
])
def test_real_footage_changed_as_a_schools_own_would_differ_keeps_its_count(name, variant, low, high, model,
                                                                              tmp_path):
    """benchmarks/real_variations.py's cases at their cheapest: the same people, through a dim
    camera with sensor noise or a stream at a low bit rate, are as many students."""
    from benchmarks.real_variations import varied

    summary, _ = _run(varied(_real(name), variant, tmp_path), model, tmp_path)
    assert low <= summary.students <= high


def test_the_classroom_clip_records_its_evidence_and_the_report_says_how_much_was_readable(classroom, tmp_path,
                                                                                            monkeypatch):
    """Issue 14: every observation carries its quality and a verdict; the unreadable ones (small
    far faces, heads down over books) claim no emotion or confusion; the report's coverage note
    says how much was read and why not the rest."""
    import re

    from dashboard_support import APP, password_hash
    from sqlalchemy import func, select
    from streamlit.testing.v1 import AppTest

    from dashboard.auth import USER_KEY, SignedInUser
    from dashboard.config import ENV_DB, ENV_UPLOADS
    from db import repository as repo

    summary, db = classroom
    with connect(db)() as s:
        o = Observation
        rows = s.execute(select(o.readable, o.unreadable_reason, o.emotion, o.confusion, o.blur, o.brightness,
                                o.contrast, o.detector_score)).all()
        reasons = dict(s.execute(select(o.unreadable_reason, func.count()).group_by(o.unreadable_reason)).all())
    assert len(rows) == summary.faces > 0
    assert all(r.readable is not None and r.blur is not None and r.brightness is not None and r.contrast is not None
               and 0 < r.detector_score <= 1 for r in rows)
    assert all(r.unreadable_reason is None for r in rows if r.readable)
    assert all(r.emotion is None and r.confusion is None for r in rows if not r.readable)
    unread = sum(1 for r in rows if not r.readable)
    print(f"classroom_pan: {len(rows)} readings, {unread / len(rows):.0%} unreadable: {reasons}")
    assert 0 < unread < len(rows)  # small far faces are not read; the near ones are
    with connect(db)() as s:
        repo.add_user(s, "admin", password_hash(), "admin")
    monkeypatch.setenv(ENV_DB, db)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[USER_KEY] = SignedInUser("admin", "admin")
    at.switch_page("views/report.py").run()
    assert not at.exception, at.exception
    note = next(c.value for c in at.caption if "Emotion read for" in c.value)
    share = f"{(len(rows) - unread) / len(rows):.0%}"
    assert re.search(rf"Emotion read for {share} of student-minutes in view; otherwise ", note), note


def test_photos_without_faces_give_none(model, tmp_path):
    for k, photo in enumerate(sample_photos()):
        path = tmp_path / f"photo{k}.png"
        cv2.imwrite(str(path), photo)
        summary, db = _run(path, model, tmp_path)
        assert summary.students == 0 and summary.faces == 0, f"sample photo {k}"


def test_group_photos_find_most_faces_with_few_false_boxes(model, tmp_path, fer_csv):
    """FER2013 faces pasted onto scikit-learn's photos (40-120 px in 1280x720), ten pictures
    analysed as one folder, as a teacher would upload them."""
    folder = tmp_path / "photos"
    truths = {}
    for seed in range(10):
        collage = face_photo_collage(n=12, width=1280, height=720, seed=seed, path=folder / f"group{seed:02d}.png")
        truths[seed] = collage.boxes
    summary, db = _run(folder, model, tmp_path)
    with connect(db)() as s:
        rows = [tuple(r) for r in s.query(Observation.t, Observation.box_x, Observation.box_y, Observation.box_w,
                                            Observation.box_h)]
    assert len({r[0] for r in rows}) <= 10
    strict, on_face = [0, 0, 0], [0, 0, 0]  # hits, misses, false boxes
    for k, boxes in truths.items():
        # The folder's pictures in name order, one media "frame" each (the folder source's clock).
        t = k / CFG.sampling.fps
        found = [r[1:] for r in rows if abs(r[0] - t) < 1e-6]
        for total, m in ((strict, match_boxes(boxes, found)), (on_face, match_boxes(boxes, found, inside=0.9))):
            total[:] = [a + b for a, b in zip(total, m, strict=True)]
    # A truth box is the whole pasted FER picture; a box inside it is on that picture's face (FER's
    # framing varies: a tilted head fills half its picture, IoU < 0.3 with the square). Both shown.
    print(f"group photos: recall {strict[0] / sum(strict[:2]):.3f} with {strict[2]} false boxes (IoU >= 0.3); "
          f"{on_face[0] / sum(on_face[:2]):.3f} with {on_face[2]} (a box inside a pasted picture counts)")
    hits, misses, false = on_face
    # Issue 11's target: at least 95 % of the faces, at most one false box per five pictures.
    assert hits / (hits + misses) >= 0.95, f"recall {hits / (hits + misses):.3f} ({misses} of {hits + misses} missed)"
    assert false <= 2, f"{false} false boxes in 10 pictures"
