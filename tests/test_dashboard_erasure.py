"""Erasure across a course (issue 13): one named student in every session of a course, or the
whole course, by the course's owner or an admin only (not a co-teacher, not another teacher),
confirmed by typing the name, written to the audit log. Checked by counting rows in every table of
a real SQLite and PostgreSQL database, then through the Course overview page (AppTest). And the app
refuses to open when served by plain ``streamlit run dashboard/app.py`` (no cookie binding, no upload
gate)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest
from dashboard_support import APP, REPO, free_port, password_hash
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest
from test_dashboard_trust import open_session, run_once

from dashboard import data, web_session
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from dashboard.demo import seed_demo
from db import connect
from db import repository as repo
from db.models import (
    Alert,
    AlertMark,
    AuditEvent,
    ClassSession,
    Course,
    CourseShare,
    Observation,
    Student,
    StudentMerge,
)

ADMIN, ALICE, BOB, CAROL = (SignedInUser("admin", "admin"), SignedInUser("alice", "teacher"),
                            SignedInUser("bob", "teacher"), SignedInUser("carol", "teacher"))
TABLES = (ClassSession, Student, Observation, Alert, AlertMark, StudentMerge, Course, CourseShare)


def school(url: str) -> SimpleNamespace:
    """Alice's course "Biology 9B" (two sessions; shared with Carol) and Bob's "Chemistry 10" (one).
    "Ada" is named in both of Alice's sessions (in the second, another track was merged into her)
    and in Bob's; "Ben" only in Alice's first. Ada's first-session alert carries Alice's and Carol's
    marks; each session has a class-wide alert too."""
    a1 = seed_demo(url, seconds=6.0, title="Biology week 1", with_evaluation=False)
    a2 = seed_demo(url, seconds=6.0, title="Biology week 2", with_evaluation=False)
    b = seed_demo(url, seconds=6.0, title="Chemistry week 1", with_evaluation=False)
    with connect(url)() as s:
        for name, role in (("admin", "admin"), ("alice", "teacher"), ("bob", "teacher"), ("carol", "teacher")):
            repo.add_user(s, name, password_hash(), role)
        bio, chem = repo.course_for(s, ALICE, "Biology 9B"), repo.course_for(s, BOB, "Chemistry 10")
        for sid, course in ((a1, bio), (a2, bio), (b, chem)):
            repo.set_session_course(s, sid, course.id)
        repo.share_course(s, bio.id, "carol")
        r1, r2, rb = repo.students(s, a1), repo.students(s, a2), repo.students(s, b)
        for student, name in ((r1[0], "Ada"), (r2[1], "Ada"), (r1[2], "Ben"), (rb[0], "Ada")):
            repo.rename_student(s, student.id, name)
        repo.merge_students(s, r2[1].id, r2[3].id, "alice", allow_co_present=True)  # one more track of Ada
        ada_alert = repo.open_alert(s, a1, "disengaged", 1.0, "{name} looks away", student_id=r1[0].id)
        for sid in (a1, a2, b):
            repo.open_alert(s, sid, "confused", 2.0, "the class looks confused")
        repo.open_alert(s, b, "disengaged", 1.0, "{name} looks away", student_id=rb[0].id)
        s.commit()
        repo.mark_alert(s, ada_alert.id, "alice", True)
        repo.mark_alert(s, ada_alert.id, "carol", False)
        ada = {r1[0].id, r2[1].id, r2[3].id}
        return SimpleNamespace(url=url, a1=a1, a2=a2, b=b, bio=bio.id, chem=chem.id, ada=ada, ben=r1[2].id,
                               bob_ada=rb[0].id, ada_alert=ada_alert.id)


def counts(url: str) -> dict[str, int]:
    with connect(url)() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in TABLES}


def rows_of_students(s, ids) -> dict[str, int]:
    """Rows in any table that belong to these students."""
    alert_ids = select(Alert.id).where(Alert.student_id.in_(ids))
    merged = (StudentMerge.keep_id.in_(ids)) | (StudentMerge.merged_id.in_(ids))
    return {name: s.scalar(select(func.count()).select_from(t).where(cond)) for name, t, cond in (
        ("students", Student, Student.id.in_(ids)), ("observations", Observation, Observation.student_id.in_(ids)),
        ("alerts", Alert, Alert.student_id.in_(ids)), ("marks", AlertMark, AlertMark.alert_id.in_(alert_ids)),
        ("merges", StudentMerge, merged))}


def rows_of_sessions(s, ids) -> int:
    return sum(s.scalar(select(func.count()).select_from(t).where(t.session_id.in_(ids)))
               for t in (Student, Observation, Alert, StudentMerge)) + s.scalar(
        select(func.count()).select_from(ClassSession).where(ClassSession.id.in_(ids)))


def erasures(s) -> list[AuditEvent]:
    return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == "erasure").order_by(AuditEvent.id)))


# --- the repository and the data layer (SQLite and PostgreSQL) ------------------------------------

def test_a_named_student_is_erased_across_the_course_by_its_owner_only(db_url):
    w = school(db_url)
    before = counts(db_url)
    f = connect(db_url)
    # Refused: a co-teacher, another teacher (who cannot even see the course), a wrong confirmation.
    with pytest.raises(repo.ErasureRefused, match="co-teacher cannot"):
        data.erase_course_student(f, w.bio, "Ada", "Ada", CAROL)
    with pytest.raises(data.NotVisible):
        data.erase_course_student(f, w.bio, "Ada", "Ada", BOB)
    with connect(db_url)() as s, pytest.raises(repo.ErasureRefused, match="no course"):
        repo.erase_course_student(s, BOB, w.bio, "Ada", "Ada")
    for typed in ("ada", "", "Ben"):
        with pytest.raises(repo.ErasureRefused, match="nothing was erased"):
            data.erase_course_student(f, w.bio, "Ada", typed, ALICE)
    assert counts(db_url) == before
    assert not data.may_erase_course(f, w.bio, CAROL) and data.may_erase_course(f, w.bio, ALICE)
    assert data.may_erase_course(f, w.bio, ADMIN) and not data.may_erase_course(f, w.bio, BOB)

    # What the page shows before: "Student N" is never offered, names are.
    assert data.named_students_in_course(f, w.bio, ALICE) == ["Ada", "Ben"]
    shown = data.course_student_count(f, w.bio, "Ada", ALICE)
    assert (shown.sessions, shown.students, shown.alerts, shown.marks, shown.merges) == (2, 3, 1, 2, 1)
    with connect(db_url)() as s:
        assert rows_of_students(s, w.ada)["observations"] == shown.observations > 0

    done = data.erase_course_student(f, w.bio, "Ada", " Ada ", ALICE)
    assert done == shown
    with connect(db_url)() as s:
        assert rows_of_students(s, w.ada) == {"students": 0, "observations": 0, "alerts": 0, "marks": 0, "merges": 0}
        assert s.scalar(select(func.count()).select_from(Student).join(ClassSession)
                        .where(ClassSession.course_id == w.bio, Student.name == "Ada")) == 0
        # Everyone else is untouched: Ben, Bob's Ada, the class-wide alerts.
        assert rows_of_students(s, {w.ben})["observations"] > 0 and s.get(Student, w.ben).name == "Ben"
        assert s.get(Student, w.bob_ada).name == "Ada" and rows_of_students(s, {w.bob_ada})["alerts"] == 1
    after = counts(db_url)
    assert before["observations"] - after["observations"] == shown.observations
    assert {k: before[k] - after[k] for k in ("students", "alerts", "alert_marks", "student_merges")} == {
        "students": 3, "alerts": 1, "alert_marks": 2, "student_merges": 1}
    assert after["class_sessions"] == before["class_sessions"] and after["courses"] == before["courses"]
    with connect(db_url)() as s:
        (event,) = erasures(s)
        assert (event.username, event.target) == ("alice", "course Biology 9B")
        assert "3 student rows in 2 sessions" in event.detail and "Ada" not in event.detail  # the name is not kept
    assert data.named_students_in_course(f, w.bio, ALICE) == ["Ben"]


def test_a_whole_course_is_erased_by_its_owner_or_an_admin(db_url):
    w = school(db_url)
    before = counts(db_url)
    f = connect(db_url)
    with pytest.raises(repo.ErasureRefused, match="co-teacher cannot"):
        data.erase_course(f, w.bio, "Biology 9B", CAROL)
    with pytest.raises(data.NotVisible):
        data.erase_course(f, w.bio, "Biology 9B", BOB)
    with pytest.raises(repo.ErasureRefused, match="nothing was erased"):
        data.erase_course(f, w.bio, "Biology", ALICE)
    assert counts(db_url) == before

    with connect(db_url)() as s:
        bob_rows = rows_of_sessions(s, [w.b])
    shown = data.course_count(f, w.bio, ALICE)
    assert (shown.sessions, shown.students, shown.merges, shown.marks) == (2, 12, 1, 2)
    done, sources = data.erase_course(f, w.bio, "Biology 9B", ALICE)
    assert done == shown and len(sources) == 2  # the erased sessions' sources: kept recordings go too
    with connect(db_url)() as s:
        assert rows_of_sessions(s, [w.a1, w.a2]) == 0
        assert s.get(Course, w.bio) is None
        assert s.scalar(select(func.count()).select_from(CourseShare)) == 0
        assert s.scalar(select(func.count()).select_from(AlertMark)) == 0  # the marks were on Ada's alert only
        assert rows_of_sessions(s, [w.b]) == bob_rows  # Bob's course is untouched
        (event,) = erasures(s)
        assert (event.username, event.target) == ("alice", "course Biology 9B")
        assert event.detail.startswith("the whole course: 2 sessions, 12 students")
    after = counts(db_url)
    assert before["class_sessions"] - after["class_sessions"] == 2 and after["courses"] == before["courses"] - 1

    # An admin may erase any course, though not while one of its classes is being recorded.
    live = seed_demo(db_url, seconds=6.0, title="Chemistry live", with_evaluation=False, live=True)
    with connect(db_url)() as s:
        repo.set_session_course(s, live, w.chem)
    with pytest.raises(repo.ErasureRefused, match="still being recorded"):
        data.erase_course(f, w.chem, "Chemistry 10", ADMIN)
    with connect(db_url)() as s:
        repo.finish_session(s, live, repo.SessionStatus.complete)
    assert data.erase_course(f, w.chem, "Chemistry 10", ADMIN)[0].sessions == 2
    with connect(db_url)() as s:
        assert rows_of_sessions(s, [w.b, live]) == 0
        assert [e.username for e in erasures(s)] == ["alice", "admin"]


# --- the Course overview page (AppTest, SQLite) ---------------------------------------------------

def page(url: str, tmp_path, monkeypatch, user: SignedInUser) -> AppTest:
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "up"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[USER_KEY] = user
    at.switch_page("views/course_overview.py").run()
    assert not at.exception, at.exception
    return at


def said(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind)).replace("\\", "")


def test_the_owner_erases_on_the_course_overview_page_after_typing_the_name(tmp_path, monkeypatch):
    w = school(f"sqlite:///{tmp_path / 'school.db'}")
    # The co-teacher sees the course but no erasure; another teacher does not see it at all.
    carol = page(w.url, tmp_path, monkeypatch, CAROL)
    assert carol.selectbox(key="overview_course").value == w.bio
    assert "a co-teacher cannot" in said(carol, "caption")
    assert not [t for t in carol.text_input if (t.key or "").startswith("erase_")]
    bob = page(w.url, tmp_path, monkeypatch, BOB)
    assert bob.selectbox(key="overview_course").options == ["Chemistry 10"]

    at = page(w.url, tmp_path, monkeypatch, ALICE)
    assert at.selectbox(key="overview_course").value == w.bio
    who = at.selectbox(key=f"erase_student_who_{w.bio}_0")
    assert who.options == ["Ada", "Ben"] and who.value == "Ada"
    assert "Erases Ada in 2 sessions of Biology 9B: 3 student rows" in said(at, "warning")
    before = counts(w.url)
    at.text_input(key="erase_student_typed_0").input("Ben")
    at.button(key="FormSubmitter:erase_course_student_0-Erase this student's records").click().run()
    assert "Not erased: the text typed is not the student's name exactly; nothing was erased" in said(at, "error")
    assert counts(w.url) == before
    at.text_input(key="erase_student_typed_0").input("Ada")
    at.button(key="FormSubmitter:erase_course_student_0-Erase this student's records").click().run()
    assert not at.exception and "The records of Ada in 2 sessions of Biology 9B are erased" in said(at, "success")
    with connect(w.url)() as s:
        assert rows_of_students(s, w.ada)["students"] == 0 and s.get(Student, w.bob_ada) is not None
    assert at.selectbox(key=f"erase_student_who_{w.bio}_1").options == ["Ben"]
    assert at.text_input(key="erase_student_typed_1").value == ""  # a fresh confirmation

    assert "Erases the course Biology 9B, its 2 sessions" in said(at, "warning")
    at.text_input(key="erase_course_typed_1").input("Biology 9B")
    at.button(key="FormSubmitter:erase_course_1-Erase the whole course").click().run()
    assert not at.exception and "The course Biology 9B and its 2 sessions are erased" in said(at, "success")
    assert "No courses yet" in said(at, "info")
    with connect(w.url)() as s:
        assert rows_of_sessions(s, [w.a1, w.a2]) == 0 and s.get(Course, w.bio) is None
        assert [e.username for e in erasures(s)] == ["alice", "alice"]
        assert s.get(ClassSession, w.b) is not None


# --- plain `streamlit run dashboard/app.py` refuses to open ----------------------------------------

def test_the_app_served_without_the_launcher_refuses_to_open(tmp_path):
    assert web_session.unprotected_server(True) and not web_session.unprotected_server(False)  # AppTest: no server
    port = free_port()
    db = tmp_path / "never.db"
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                             "--", "--db", f"sqlite:///{db}"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/_stcore/health", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "streamlit did not come up in 30 s"
                time.sleep(0.25)
        with open_session(base) as ws:
            _, drawn = run_once(ws)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "Start it with `python -m dashboard --db URL`" in drawn
    assert "Sign in" not in drawn and not db.exists()  # refused before the database is opened


def test_an_erasure_deletes_recordings_kept_in_the_uploads_folder_only(tmp_path):
    """A kept upload is the session's recording: erased with it. A source elsewhere on the server
    (a lecture analysed from a terminal), a camera, or nothing, is left alone."""
    from dashboard.uploads import remove_kept_recordings

    uploads, elsewhere = tmp_path / "uploads", tmp_path / "lectures"
    uploads.mkdir()
    elsewhere.mkdir()
    kept, other = uploads / "ab12.mp4", elsewhere / "week3.mp4"
    kept.write_bytes(b"x")
    other.write_bytes(b"y")
    assert remove_kept_recordings([str(kept), str(other), "camera 0", None], uploads) == 1
    assert not kept.exists() and other.exists()
