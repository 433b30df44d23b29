"""Who sees what (issue 13): a course belongs to the teacher who made it, co-teachers see the
courses shared with them, admins see all and reassign; sessions of an old database (no owner, no
course) are the admins' only. The rule itself on SQLite and PostgreSQL, then every page through
streamlit.testing.v1.AppTest (the real app, a seeded SQLite file)."""

from __future__ import annotations

import re
from datetime import datetime
from types import SimpleNamespace

import pytest
from dashboard_support import APP, password_hash
from sqlalchemy import create_engine, select, text
from streamlit.testing.v1 import AppTest

from dashboard import data, report_export
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from dashboard.demo import seed_demo
from db import connect
from db import repository as repo
from db.connection import normalise_url
from db.models import ClassSession, Course

ADMIN, ALICE, BOB = SignedInUser("admin", "admin"), SignedInUser("alice", "teacher"), SignedInUser("bob", "teacher")


def two_teachers(url: str, live_b: bool = False) -> SimpleNamespace:
    """Alice's "Biology 9B" session, Bob's "Chemistry 10" session (running with ``live_b``), and
    an old session with no course; the demo's course "Algebra" has no owner."""
    a = seed_demo(url, seconds=12.0, title="Alice's biology", with_evaluation=False)
    b = seed_demo(url, seconds=12.0, title="Bob's chemistry", with_evaluation=False, live=live_b)
    loose = seed_demo(url, seconds=12.0, title="Unfiled old class", with_evaluation=False)
    with connect(url)() as s:
        for name, role in (("admin", "admin"), ("alice", "teacher"), ("bob", "teacher")):
            repo.add_user(s, name, password_hash(), role)
        bio, chem = repo.course_for(s, ALICE, "Biology 9B"), repo.course_for(s, BOB, "Chemistry 10")
        repo.set_session_course(s, a, bio.id)
        repo.set_session_course(s, b, chem.id)
        repo.set_session_course(s, loose, None)
        b_student = repo.students(s, b)[0].id
    return SimpleNamespace(url=url, a=a, b=b, loose=loose, bio=bio.id, chem=chem.id, b_student=b_student)


# --- the rule, in the database (SQLite and PostgreSQL) ------------------------------------------------

def test_teachers_see_their_own_and_shared_courses_admins_see_all(db_url):
    w = two_teachers(db_url)
    with connect(db_url)() as s:
        assert repo.visible_session_ids(s, ALICE) == {w.a}
        assert repo.visible_session_ids(s, BOB) == {w.b}
        assert repo.visible_session_ids(s, ADMIN) == {w.a, w.b, w.loose}
        assert repo.visible_session_ids(s, SignedInUser("nobody", "teacher")) == set()
        assert [c.name for c in repo.visible_courses(s, ALICE)] == ["Biology 9B"]
        # Names are unique across teachers: Bob cannot file under Alice's course by naming it.
        with pytest.raises(repo.CourseRefused, match="not yours"):
            repo.course_for(s, BOB, "Biology 9B")
        with pytest.raises(repo.CourseRefused, match="not yours"):
            repo.course_for(s, BOB, "Algebra")  # no owner: the admins'
        assert repo.course_for(s, ALICE, "Biology 9B").id == w.bio  # her own: found, not made again

        repo.share_course(s, w.chem, "alice")  # Alice co-teaches Chemistry 10
        assert repo.visible_session_ids(s, ALICE) == {w.a, w.b}
        assert repo.visible_session_ids(s, BOB) == {w.b}
        assert repo.course_for(s, ALICE, "Chemistry 10").id == w.chem  # a shared course can be used
        repo.unshare_course(s, w.chem, "alice")
        assert repo.visible_session_ids(s, ALICE) == {w.a}

        repo.set_course_owner(s, w.chem, "alice")  # an admin reassigns Bob's course to Alice
        assert repo.visible_session_ids(s, ALICE) == {w.a, w.b} and repo.visible_session_ids(s, BOB) == set()
        repo.set_course_owner(s, w.chem, "bob")
        repo.share_course(s, w.bio, "bob")
        repo.delete_user(s, "alice")  # her course goes back to the admins, her shares end
        assert s.scalar(select(Course.owner_id).where(Course.id == w.bio)) is None
        assert repo.visible_session_ids(s, BOB) == {w.a, w.b}  # still shared with Bob
        assert repo.visible_session_ids(s, ADMIN) == {w.a, w.b, w.loose}
    # The dashboard's data layer refuses changes and exports outside the rule.
    f = connect(db_url)
    with pytest.raises(data.NotVisible):
        data.rename_student(f, w.b_student, "Stolen", ALICE)
    with pytest.raises(data.NotVisible):
        report_export.csv_file(f, w.loose, viewer=BOB)
    assert data.get_session(f, w.loose, BOB) is None and data.get_session(f, w.loose, ADMIN) is not None


def test_an_old_database_s_sessions_are_the_admins_until_reassigned(db_url):
    """A database at revision 0005 (before owners) with a course and sessions: after the upgrade
    its course has no owner and a teacher sees nothing of it; an admin sees all and reassigns."""
    from alembic import command

    from db.migrate import _config

    engine = create_engine(normalise_url(db_url))
    with engine.connect() as c:
        command.upgrade(_config(c), "0005")
        c.execute(text("INSERT INTO courses (name, created_at) VALUES ('Physics', :t)"), {"t": datetime(2026, 11, 30)})
        for title, course in (("In a course", 1), ("Without a course", None)):
            c.execute(text("INSERT INTO class_sessions (course_id, title, source, source_kind, status, model_version,"
                           " analysis_fps, started_at, video_seconds, frames_analyzed, note) VALUES (:c, :title, 'a.mp4',"
                           " 'video', 'complete', 'm', 5.0, :t, 1.0, 5, '')"),
                      {"c": course, "title": title, "t": datetime(2026, 11, 30, 9)})
        c.execute(text("INSERT INTO users (username, password_hash, role, created_at, disabled) VALUES"
                       " ('old-teacher', 'x', 'teacher', :t, false), ('head', 'x', 'admin', :t, false)"),
                  {"t": datetime(2026, 11, 30)})
        c.commit()
    engine.dispose()
    teacher, admin = SignedInUser("old-teacher", "teacher"), SignedInUser("head", "admin")
    with connect(db_url)() as s:  # what the dashboard and the engine do on start: upgrade to 0006
        assert repo.visible_session_ids(s, teacher) == set()
        assert {cs.title for cs in repo.list_visible_sessions(s, admin)} == {"In a course", "Without a course"}
        repo.set_course_owner(s, 1, "old-teacher")
        assert {cs.title for cs in repo.list_visible_sessions(s, teacher)} == {"In a course"}


# --- the pages (AppTest, SQLite) ------------------------------------------------------------------

def app(url: str, uploads, monkeypatch, user: SignedInUser) -> AppTest:
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(uploads))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[USER_KEY] = user
    return at


def shown(at: AppTest) -> str:
    """Every text element and widget option on the page, as a viewer reads it."""
    parts = [str(e.value) for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                                       "error", "success") for e in getattr(at, kind)]
    for box in at.selectbox:
        parts += [str(o) for o in box.options]
    for frame in at.dataframe:
        parts.append(frame.value.to_string())
    parts += [link.proto.label for link in at.get("page_link")]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))


@pytest.fixture
def world(tmp_path):
    return two_teachers(f"sqlite:///{tmp_path / 'school.db'}", live_b=True)


def test_a_teacher_cannot_see_open_or_export_another_teacher_s_class_on_any_page(world, tmp_path, monkeypatch):
    at = app(world.url, tmp_path / "up", monkeypatch, ALICE)
    for page, key in (("views/report.py", "report_session"), ("views/students.py", "students_session")):
        at.switch_page(page).run()
        assert not at.exception
        (only,) = at.selectbox(key=key).options
        assert only.startswith(f"#{world.a} Alice's biology")
        assert at.selectbox(key=key).value == world.a
        assert "Bob's chemistry" not in shown(at) and "Unfiled old class" not in shown(at)
    # Bob's session by its id in the address: refused, in words that do not tell whether it exists.
    for sid in (world.b, world.loose, 999):
        at.query_params["session"] = str(sid)
        at.switch_page("views/report.py").run()
        assert not at.exception
        assert f"There is no session #{sid} among the classes you can see" in shown(at)
        assert "Bob's chemistry" not in shown(at) and at.selectbox(key="report_session").value == world.a
    # ... nor by forcing the picker's value (Streamlit hands a forced value back even when it is not an
    # option: the picker then shows the first visible session).
    forced = app(world.url, tmp_path / "up", monkeypatch, ALICE)
    forced.session_state["report_session"] = world.b
    forced.switch_page("views/report.py").run()
    assert not forced.exception and "Bob's chemistry" not in shown(forced) and "Alice's biology" in shown(forced)
    # The recordings list and the live page show none of Bob's (his class is running now).
    at.switch_page("views/recordings.py").run()
    assert not at.exception and "Alice's biology" in shown(at) and "Bob's chemistry" not in shown(at)
    assert at.selectbox(key="recording_course").options == ["Biology 9B", "A new course…"]
    at.switch_page("views/live.py").run()
    assert not at.exception and "No class is being watched right now" in shown(at)
    assert "Bob's chemistry" not in shown(at)
    # Bob sees his running class on the live page.
    bob = app(world.url, tmp_path / "up", monkeypatch, BOB)
    bob.switch_page("views/live.py").run()
    assert not bob.exception and f"Watching #{world.b} Bob's chemistry" in shown(bob)


def test_a_shared_course_is_visible_to_the_co_teacher_and_an_admin_sees_all_and_reassigns(world, tmp_path,
                                                                                         monkeypatch):
    admin = app(world.url, tmp_path / "up", monkeypatch, ADMIN)
    admin.switch_page("views/report.py").run()
    assert {o.split()[0] for o in admin.selectbox(key="report_session").options} == {
        f"#{world.a}", f"#{world.b}", f"#{world.loose}"}
    admin.switch_page("views/courses.py").run()
    assert not admin.exception
    courses = next(d.value for d in admin.dataframe if "course" in d.value.columns)
    assert dict(zip(courses["course"], courses["owner"], strict=True)) == {
        "Algebra": "nobody (admins only)", "Biology 9B": "alice", "Chemistry 10": "bob"}
    # Share Bob's course with Alice.
    admin.selectbox(key="course_pick").set_value(world.chem).run()
    admin.selectbox(key="course_share_with").set_value("alice")
    admin.button(key="FormSubmitter:course_share-Share").click().run()
    assert not admin.exception and "Chemistry 10 is shared with alice" in shown(admin)
    alice = app(world.url, tmp_path / "up", monkeypatch, ALICE)
    alice.query_params["session"] = str(world.b)
    alice.switch_page("views/report.py").run()
    assert not alice.exception and alice.selectbox(key="report_session").value == world.b
    assert "There is no session" not in shown(alice)
    # Reassign Alice's course to Bob; file the unfiled session under it.
    admin.selectbox(key="course_pick").set_value(world.bio).run()
    admin.selectbox(key="course_owner_to").set_value("bob")
    admin.button(key="FormSubmitter:course_owner-Reassign").click().run()
    assert not admin.exception and "Biology 9B now belongs to bob" in shown(admin)
    admin.selectbox(key="file_session_pick").set_value(world.loose)
    admin.selectbox(key="file_session_course").set_value(world.bio)
    admin.button(key="FormSubmitter:file_session-File it").click().run()
    assert not admin.exception
    with connect(world.url)() as s:
        assert repo.visible_session_ids(s, BOB) == {world.a, world.b, world.loose}
        assert repo.visible_session_ids(s, ALICE) == {world.b}  # only the shared one now
        assert {e.kind for e in repo.audit_events(s, "admin")} == {"course changed"}
    # A teacher is refused the Courses page.
    alice.switch_page("views/courses.py").run()
    assert "This page is for admins only" in shown(alice)


def test_a_teacher_cannot_rename_or_merge_another_teacher_s_students(world, tmp_path, monkeypatch):
    at = app(world.url, tmp_path / "up", monkeypatch, ALICE)
    at.query_params["session"] = str(world.b)
    at.switch_page("views/students.py").run()
    assert at.selectbox(key="students_session").value == world.a
    assert len(at.selectbox(key="rename_who").options) == 6  # Alice's six students only
    at.text_input(key="rename_name").input("Ada")
    at.button(key="FormSubmitter:rename_form-Save the name").click().run()
    assert not at.exception
    with connect(world.url)() as s:
        assert all(st.name is None for st in repo.students(s, world.b))  # Bob's students untouched
        assert "Ada" in {st.name for st in repo.students(s, world.a)}
    f = connect(world.url)
    with pytest.raises(data.NotVisible):
        data.merge_students(f, world.b_student, world.b_student + 1, ALICE)
    with pytest.raises(data.NotVisible):
        data.delete_session(f, world.b, ALICE)


def test_a_class_or_recording_is_filed_under_the_teacher_s_own_course(world, tmp_path, monkeypatch):
    """The live page makes a new course owned by the teacher and passes its name to the engine;
    a name another teacher has is refused before any engine starts; an upload is filed under the
    chosen course once its engine has made its session."""
    from dashboard import engine_cli

    at = app(world.url, tmp_path / "up", monkeypatch, BOB)
    at.switch_page("views/live.py").run()
    at.selectbox(key="live_course").set_value(-1).run()
    at.text_input(key="live_new_course").input("Biology 9B").run()  # Alice's
    started = []
    ended_at_once = SimpleNamespace(running=False, returncode=0, started=0.0, title="Webcam", source_name="webcam")
    monkeypatch.setattr(engine_cli, "start_live", lambda args, *a, **k: started.append(args) or ended_at_once)
    at.button(key="live_start").click().run()
    assert "Not started: there is already a course called 'Biology 9B' that is not yours" in shown(at)
    assert started == []
    at.text_input(key="live_new_course").input("Biology 9B (Bob)").run()
    at.button(key="live_start").click()
    at.run()
    assert started and started[0][-2:] == ["--course", "Biology 9B (Bob)"]
    with connect(world.url)() as s:
        course = s.scalar(select(Course).where(Course.name == "Biology 9B (Bob)"))
        assert course.owner_id == repo.get_user(s, "bob").id

    # An upload: `engine process` is told the course by name (it finds the one made above, owner and all) ...
    cmd = engine_cli.processing_command(tmp_path / "x.mp4", world.url, emotions=True, course="-Biology 9B")
    assert "--course=-Biology 9B" in cmd and cmd[3] == "process"
    assert not any(a.startswith("--course") for a in engine_cli.processing_command(
        tmp_path / "x.mp4", world.url, emotions=True, course="Biology 9B", ray="local"))  # batch has no --course
    # ... and whatever the engine (faked: it makes its session without a course, as `engine batch` does)
    # ends; the page files the session under Alice's course, and she sees it.
    class FinishedJob:
        running, returncode, ray_address, media_duration, title = False, 0, None, None, "Week 3.mp4"

        def __init__(self, path):
            self.source_name = path.name
            with connect(world.url)() as s:
                self.sid = repo.start_session(s, source=str(path), title=path.name).id

        def result(self):
            return {"session_id": self.sid, "students": 0, "faces": 0, "alerts": 0, "wall_seconds": 1}

    monkeypatch.setattr(engine_cli, "start_processing", lambda path, *a, **k: FinishedJob(path))
    monkeypatch.setattr("dashboard.uploads.save_upload",  # the page imports it from there at each run
                        lambda up, name, folder: (folder / "x1.mp4", SimpleNamespace(duration=3.0)))
    alice = app(world.url, tmp_path / "up", monkeypatch, ALICE)
    alice.switch_page("views/recordings.py").run()
    alice.file_uploader(key="recording_upload").set_value(("Week 3.mp4", b"0" * 100, "video/mp4"))
    alice.run()
    alice.button(key="recording_start").click().run()
    assert not alice.exception, alice.exception
    assert "analysed" in shown(alice)
    with connect(world.url)() as s:
        sid = alice.session_state["processing_job"].sid
        assert s.scalar(select(ClassSession.course_id).where(ClassSession.id == sid)) == world.bio
        assert sid in repo.visible_session_ids(s, ALICE) and sid not in repo.visible_session_ids(s, BOB)


def test_the_courses_page_on_an_empty_database_explains_itself(tmp_path, monkeypatch):
    at = app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "up", monkeypatch, ADMIN)
    at.switch_page("views/courses.py").run()
    assert not at.exception and not at.error
    assert "No courses yet" in shown(at) and "every session is filed under a course" in shown(at)
