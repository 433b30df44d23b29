"""Every dashboard page through streamlit.testing.v1.AppTest (the real app script, its real
pages, a real SQLite file seeded through db.repository): sign-in and roles, what each page
shows, changes that reach the database, and empty / old databases."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from dashboard_support import APP, PASSWORD, seed_database, short_recording
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from dashboard import setup_code
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from dashboard.passwords import check_password
from db import connect
from db import repository as repo
from db.models import ClassSession

PAGES = ["views/live.py", "views/recordings.py", "views/report.py", "views/students.py", "views/model.py",
         "views/users.py", "views/audit.py", "views/account.py"]


def app(url: str, uploads, monkeypatch, user: SignedInUser | None = None) -> AppTest:
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(uploads))
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        at.session_state[USER_KEY] = user
    return at


@pytest.fixture
def seeded(tmp_path):
    return seed_database(tmp_path)


@pytest.fixture
def admin_app(seeded, tmp_path, monkeypatch):
    return app(seeded.url, tmp_path / "uploads", monkeypatch, SignedInUser("admin", "admin"))


def texts(at: AppTest, kind: str) -> str:
    """The elements' text as a viewer reads it: typed-in names and titles are Markdown-escaped
    (dashboard.ui.plain), and a backslash escape shows as the character alone."""
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in getattr(at, kind)))


def table(at: AppTest, *columns: str):
    """The first dataframe on the page that has these columns."""
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.run()
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    at.button[0].click()
    return at.run()


# --- sign-in and roles ------------------------------------------------------------------------

def test_first_run_creates_the_admin_account(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code = setup_code.issue(tmp_path / "new.db.setup-code")  # what `python -m dashboard` prints
    at = app(url, tmp_path / "uploads", monkeypatch).run()
    assert "Create the admin account" in texts(at, "subheader")
    at.text_input(key="first_code").input(code)
    at.text_input(key="first_username").input("head")
    at.text_input(key="first_password").input("a-long-password")
    at.text_input(key="first_confirm").input("a-long-passworD")
    at.button[0].click().run()
    assert "differ" in texts(at, "error")
    at.text_input(key="first_confirm").input("a-long-password")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state[USER_KEY] == SignedInUser("head", "admin")
    with connect(url)() as s:
        user = repo.get_user(s, "head")
        assert user.role == "admin" and check_password("a-long-password", user.password_hash)
        assert user.password_hash != "a-long-password"


def test_sign_in_works_and_a_wrong_password_is_refused(seeded, tmp_path, monkeypatch):
    at = sign_in(app(seeded.url, tmp_path / "up", monkeypatch), "teacher", PASSWORD + "x")
    assert "Wrong user name or password" in texts(at, "error")
    assert USER_KEY not in at.session_state
    at = sign_in(app(seeded.url, tmp_path / "up", monkeypatch), "nobody", PASSWORD)
    assert "Wrong user name or password" in texts(at, "error")
    at = sign_in(app(seeded.url, tmp_path / "up", monkeypatch), "teacher", PASSWORD)
    assert not at.exception
    assert at.session_state[USER_KEY] == SignedInUser("teacher", "teacher")
    assert "Signed in as **teacher**" in texts(at.sidebar, "caption")
    assert texts(at, "title") == "Live class"  # the default page
    at.button(key="sign_out").click().run()
    assert USER_KEY not in at.session_state
    assert "Sign in" in texts(at, "subheader")


def test_the_sixth_wrong_password_in_15_minutes_is_refused_even_when_right(seeded, tmp_path, monkeypatch):
    from dashboard import auth

    at = sign_in(app(seeded.url, tmp_path / "up", monkeypatch), "teacher", "not the password")
    assert "Wrong user name or password" in texts(at, "error")
    for _ in range(4):  # the next four straight through the sign-in function the form calls
        assert auth.authenticate("teacher", "not the password") is None
    at = sign_in(app(seeded.url, tmp_path / "up", monkeypatch), "teacher", PASSWORD)
    assert "Too many wrong passwords for this user name: try again in 15 min" in texts(at, "error")
    assert USER_KEY not in at.session_state
    # Throttled per name: another user signs in; an unknown name is throttled the same way.
    assert sign_in(app(seeded.url, tmp_path / "up", monkeypatch), "admin", PASSWORD).session_state[USER_KEY].is_admin
    for _ in range(5):
        assert auth.authenticate("nobody", "x" * 8) is None
    with pytest.raises(auth.Throttled):
        auth.authenticate("nobody", "x" * 8)
    with connect(seeded.url)() as s:  # every attempt is on record
        assert len(repo.recent_sign_in_failures(s, "teacher", 900)) == 6
        assert len(repo.recent_sign_in_failures(s, "admin", 900)) == 0


def test_an_unknown_name_costs_what_a_known_one_costs(seeded, tmp_path, monkeypatch):
    """Both run bcrypt at the same cost, so the answer's speed does not tell which names exist."""
    from dashboard import auth

    checked = []
    real = auth.check_password
    monkeypatch.setattr(auth, "check_password", lambda pw, h: checked.append(h[:7]) or real(pw, h))
    monkeypatch.setenv(ENV_DB, seeded.url)
    assert auth.authenticate("teacher", "a wrong password") is None
    assert auth.authenticate("nobody", "a wrong password") is None
    assert checked[0] == checked[1] == "$2b$12$"  # one bcrypt check each, same cost


def test_signed_out_visitors_get_only_the_sign_in_form(seeded, tmp_path, monkeypatch):
    at = app(seeded.url, tmp_path / "up", monkeypatch)
    at.switch_page("views/report.py").run()
    assert not at.exception
    # The real server shows the sign-in form at every page's address (checked in the browser
    # test); AppTest runs the page script itself, which refuses on its own.
    assert texts(at, "subheader") == "Sign in" or "Sign in first" in texts(at, "error")
    assert not at.dataframe and not at.metric
    # Only the sign-in page's empty warm-up chart (it loads plotly.js while the teacher types): no data.
    assert all(json.loads(c.proto.spec)["data"] == [] for c in at.get("plotly_chart"))


@pytest.mark.parametrize("page", ["views/model.py", "views/users.py", "views/audit.py"])
def test_a_teacher_is_refused_the_admin_pages(seeded, tmp_path, monkeypatch, page):
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page(page).run()
    assert not at.exception
    assert "for admins only" in texts(at, "error")
    assert not at.get("plotly_chart") and not at.dataframe and not at.text_input


# --- every page on the seeded database ----------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_an_admin(admin_app, page):
    admin_app.switch_page(page).run()
    assert not admin_app.exception, admin_app.exception
    assert not admin_app.error


def test_report_shows_mood_chart_timeline_tables_and_downloads(admin_app, seeded):
    at = admin_app
    at.switch_page("views/report.py").run()
    assert at.selectbox(key="report_session").value == seeded.session_id
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # class mood, per-student timeline
    mood = charts[0].proto.spec
    for name in ("angry", "neutral", "engagement", "confusion"):
        assert f'"name":"{name}"' in mood
    assert {m.label: m.value for m in at.metric}["Students seen"] == "6"
    summary = table(at, "student", "most frequent emotion")
    assert list(summary["student"]) == [f"Student {i}" for i in range(1, 7)]
    assert len(table(at, "who", "kind", "message")) == 3
    assert len(table(at, "from", "to", "confusion")) == 5
    assert [b.proto.label for b in at.get("download_button")] == ["Observations (CSV)", "Report (HTML)",
                                                                   "Report (PDF)"]
    at.radio(key="report_heatmap_value").set_value("emotion").run()
    assert not at.exception and '"ticktext":["angry"' in at.get("plotly_chart")[1].proto.spec


def test_live_page_shows_tiles_mood_and_alert_feed_of_a_running_class(tmp_path, monkeypatch):
    seeded = seed_database(tmp_path, live=True)
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/live.py").run()
    assert not at.exception
    assert "Watching #1 Live: physics" in texts(at, "caption")
    assert {m.label: m.value for m in at.metric}["Students in view"] == "6"
    assert len(at.get("plotly_chart")) == 1
    md = texts(at, "markdown")
    assert all(f"**Student {i}**" in md for i in range(1, 7))
    assert "Whole class · *confused* (:red[:material/radio_button_checked:] ongoing)" in md
    assert len(at.get("progress")) == 6  # an attention bar per student
    assert at.selectbox(key="live_source").options[0] == "Local camera"


def test_the_live_page_says_while_the_class_runs_when_the_engine_cannot_keep_up(tmp_path, monkeypatch):
    """A live engine skips the frames that pass while it analyses one: the page says so at once,
    from the rate of the last half-minute, and stops saying it once the engine keeps up again."""
    seeded = seed_database(tmp_path, live=True)
    with connect(seeded.url)() as s:
        (cs,) = [cs for cs in repo.list_sessions(s) if cs.status.value == "running"]
        sid, t, fps = cs.id, cs.video_seconds, cs.analysis_fps
        assert cs.frames_analyzed >= 0.95 * fps * t  # the demo's class kept up
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/live.py").run()
    assert not at.exception and "not keeping up" not in texts(at, "warning")

    def progress(seconds: float, frames: int) -> None:
        with connect(seeded.url)() as s:
            repo.write_batch(s, sid, [], video_seconds=seconds, frames_analyzed=frames)

    frames = int(fps * t)
    for _ in range(4):  # two minutes at half the asked rate
        t, frames = t + 30, frames + int(fps * 30 / 2)
        progress(t, frames)
        at.run()
    assert f"Analysing {fps / 2:.1f} of the {fps:g} frames a second asked" in texts(at, "warning")
    for _ in range(2):  # then a minute at the full rate
        t, frames = t + 30, frames + int(fps * 30)
        progress(t, frames)
        at.run()
    assert not at.exception and "not keeping up" not in texts(at, "warning")


def test_a_class_whose_engine_died_is_not_shown_live_but_interrupted(tmp_path, monkeypatch):
    """The engine stamps a running session at least every 15 s; one silent for over a minute
    lost its engine (kill -9, a crash) and is marked interrupted, with what it recorded."""
    seeded = seed_database(tmp_path, live=True)
    with connect(seeded.url)() as s:
        (sid,) = [cs.id for cs in repo.list_sessions(s) if cs.status.value == "running"]
        stamp = repo.utcnow() - timedelta(seconds=90)
        was_open = [a.id for a in repo.alerts(s, sid) if a.end_t is None]
        assert was_open  # the demo's live class has alerts going on: they end where its writes stopped
        s.execute(update(ClassSession).where(ClassSession.id == sid).values(heartbeat_at=stamp))
        s.commit()
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/live.py").run()
    assert not at.exception
    assert "No class is being watched right now" in texts(at, "info")
    with connect(seeded.url)() as s:
        session = repo.get_session(s, sid)
        assert session.status.value == "interrupted" and "engine stopped without finishing" in session.note
        assert session.ended_at == stamp and repo.observations_frame(s, sid).shape[0] > 0
        ended = {a.id: a.end_t for a in repo.alerts(s, sid)}
        assert all(ended[i] == session.video_seconds for i in was_open) and None not in ended.values()


def test_names_and_titles_are_shown_as_typed_never_as_markdown(tmp_path, monkeypatch):
    """A picture in a name would be fetched by every viewer's browser; a link would be clickable."""
    seeded = seed_database(tmp_path, live=True)
    evil = "![x](http://evil.example/x.png) :red[boom] **bold**"
    with connect(seeded.url)() as s:
        (sid,) = [cs.id for cs in repo.list_sessions(s) if cs.status.value == "running"]
        repo.rename_student(s, repo.students(s, sid)[0].id, evil)
        repo.set_session_title(s, sid, evil)
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/live.py").run()
    assert not at.exception
    shown = [str(e.value) for kind in ("markdown", "caption") for e in getattr(at, kind)]
    assert sum(evil in re.sub(r"\\(.)", r"\1", v) for v in shown) >= 2  # the tile's name and the caption's title
    assert not any("](http" in v or ":red[boom" in v or "**bold" in v for v in shown)  # never Markdown


def test_live_page_starts_the_engine_and_shows_why_it_stopped(tmp_path, monkeypatch):
    """Start the class on a camera this machine does not have: the real `python -m engine live`
    subprocess starts, exits, and the page shows the engine's own one-line reason."""
    seeded = seed_database(tmp_path)
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/live.py").run()
    at.number_input(key="live_camera").set_value(9).run()
    at.button(key="live_start").click().run()
    assert not at.exception
    job = at.session_state["live_job"]
    assert job.command[1:6] == ["-m", "engine", "live", "--camera", "9"]
    assert "--db" not in job.command and seeded.url not in " ".join(job.command)  # given in the environment
    deadline = time.monotonic() + 60
    while job.running and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job.returncode == 2
    at.run()
    assert "The engine stopped" in texts(at, "error") and "camera 9 cannot be opened" in texts(at, "error")
    assert "live_job" not in at.session_state  # the page is ready to start again
    assert at.button(key="live_start")


def test_model_page_shows_the_confusion_matrix_both_ways(admin_app):
    at = admin_app
    at.switch_page("views/model.py").run()
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # comparison with published figures, the shipped model's card, the stored evaluation
    assert "Kaggle 2013 winner" in charts[0].proto.spec
    assert {m.label: m.value for m in at.metric}["Faces"] == "3,589"
    per_class = table(at, "emotion", "precision", "recall", "f1")
    assert list(per_class["emotion"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert '"texttemplate":"%{text}"' in charts[2].proto.spec and '"text":[["295"' in charts[2].proto.spec
    at.toggle(key="confusion_normalise").set_value(True).run()
    assert '"text":[["60%"' in at.get("plotly_chart")[2].proto.spec


# --- changes that reach the database ------------------------------------------------------------

def test_rename_and_merge_students(admin_app, seeded):
    at = admin_app
    at.switch_page("views/students.py").run()
    with connect(seeded.url)() as s:
        first, second, *_ = repo.students(s, seeded.session_id)
        n_first = len(repo.observations_frame(s, seeded.session_id).query("student_id == @first.id"))
    at.selectbox(key="rename_who").set_value(first.id)
    at.text_input(key="rename_name").input("Ada Lovelace")
    next(b for b in at.button if b.label == "Save the name").click().run()
    assert not at.exception and "Student 1 is now Ada Lovelace" in texts(at, "success")
    with connect(seeded.url)() as s:
        assert repo.students(s, seeded.session_id)[0].name == "Ada Lovelace"

    # The merge widgets' keys carry a generation (tests/test_dashboard_merge_alerts.py covers the merge itself).
    def merge_widget(widgets, prefix):
        return next(w for w in widgets if (w.key or "").startswith(prefix))

    merge_widget(at.selectbox, "merge_keep_").set_value(first.id).run()
    merge_widget(at.selectbox, "merge_gone_").set_value(second.id).run()
    merge = next(b for b in at.button if b.label == "Merge")
    merge.click().run()
    assert "Tick the box" in texts(at, "error")  # not merged without confirmation
    merge_widget(at.checkbox, "merge_sure_").check()
    merge_widget(at.checkbox, "merge_override_").check()  # the demo's students are all in view at once
    next(b for b in at.button if b.label == "Merge").click().run()
    assert not at.exception and "Merged" in texts(at, "success")
    with connect(seeded.url)() as s:
        left = repo.students(s, seeded.session_id)
        frame = repo.observations_frame(s, seeded.session_id)
    assert [x.id for x in left][:2] == [first.id, left[1].id] and second.id not in {x.id for x in left}
    assert len(left) == 5
    assert len(frame.query("student_id == @first.id")) == 2 * n_first  # both tracks' observations
    assert set(frame.query("student_id == @first.id")["student"]) == {"Ada Lovelace"}


def _rows(url: str, session_id: int, student_id: int | None = None) -> dict[str, int]:
    """Rows left in the database for a session (or one of its students), table by table."""
    from sqlalchemy import func, select

    from db.models import Alert, Observation, Student

    with connect(url)() as s:
        def count(model, **where):
            q = select(func.count()).select_from(model)
            for column, value in where.items():
                q = q.where(getattr(model, column) == value)
            return s.scalar(q)

        if student_id is not None:
            return {"observations": count(Observation, student_id=student_id),
                    "alerts": count(Alert, student_id=student_id), "students": count(Student, id=student_id)}
        return {"observations": count(Observation, session_id=session_id), "alerts": count(Alert, session_id=session_id),
                "students": count(Student, session_id=session_id), "sessions": count(ClassSession, id=session_id)}


def test_an_admin_erases_a_student_then_a_whole_session_and_nothing_of_them_is_left(admin_app, seeded, tmp_path,
                                                                                     monkeypatch):
    teacher = app(seeded.url, tmp_path / "uploads", monkeypatch, SignedInUser("teacher", "teacher"))
    teacher.switch_page("views/report.py").run()
    assert "An admin can erase" in texts(teacher, "caption") and not any(b.label == "Erase this session"
                                                                         for b in teacher.button)
    at = admin_app
    sid = seeded.session_id
    at.switch_page("views/students.py").run()
    with connect(seeded.url)() as s:
        target = next(a.student_id for a in repo.alerts(s, sid) if a.student_id is not None)  # one with alerts
        other = next(st.id for st in repo.students(s, sid) if st.id != target)
        label = next(st.label for st in repo.students(s, sid) if st.id == target)
    assert all(_rows(seeded.url, sid, target).values())  # observations, alerts, the student: all there
    at.selectbox(key="erase_who").set_value(target)
    at.checkbox(key="erase_student_sure").check()
    next(b for b in at.button if b.label == "Erase").click().run()
    assert not at.exception and f"The records of {label} are erased" in texts(at, "success")
    assert not any(_rows(seeded.url, sid, target).values()) and _rows(seeded.url, sid, other)["observations"]

    # The recording was kept in the uploads folder ("keep the recording"): it goes with the session.
    kept = tmp_path / "uploads" / "0123abcd.mp4"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"a kept lecture")
    with connect(seeded.url)() as s:
        s.execute(update(ClassSession).where(ClassSession.id == sid).values(source=str(kept)))
        s.commit()
    at.switch_page("views/report.py").run()
    assert at.selectbox(key="report_session").value == sid
    next(b for b in at.button if b.label == "Erase this session").click().run()
    assert "Tick the box" in texts(at, "error") and _rows(seeded.url, sid)["sessions"] == 1  # not without it
    at.checkbox(key="erase_session_sure").check()
    next(b for b in at.button if b.label == "Erase this session").click().run()
    assert not at.exception and f"Session #{sid}" in texts(at, "success")
    assert _rows(seeded.url, sid) == {"observations": 0, "alerts": 0, "students": 0, "sessions": 0}
    assert not kept.exists()


def test_admin_adds_a_teacher_who_can_then_sign_in(admin_app, seeded, tmp_path, monkeypatch):
    at = admin_app
    at.switch_page("views/users.py").run()
    at.text_input(key="new_username").input("ms-khan")
    at.selectbox(key="new_role").set_value("teacher")
    at.text_input(key="new_password").input("another-password")
    at.text_input(key="new_confirm").input("another-password")
    at.button[0].click().run()
    assert not at.exception and "Added teacher 'ms-khan'" in texts(at, "success")
    assert "ms-khan" in list(table(at, "user", "role")["user"])
    at = sign_in(app(seeded.url, tmp_path / "up", monkeypatch), "ms-khan", "another-password")
    assert at.session_state[USER_KEY] == SignedInUser("ms-khan", "teacher")


def test_upload_of_a_non_video_is_refused_and_nothing_is_kept(admin_app, tmp_path):
    at = admin_app
    at.switch_page("views/recordings.py").run()
    at.file_uploader(key="recording_upload").set_value(("lecture.mp4", b"definitely not a video" * 50, "video/mp4"))
    at.run()
    at.button(key="recording_start").click().run()
    assert "Not accepted" in texts(at, "error") and "OpenCV" in texts(at, "error")
    assert not list((tmp_path / "uploads").glob("*.mp4"))
    assert "processing_job" not in at.session_state


@pytest.mark.slow
def test_upload_is_analysed_by_the_engine_with_progress_then_opens_its_report(seeded, tmp_path, monkeypatch):
    from engine_support import need_model

    need_model()
    at = app(seeded.url, tmp_path / "uploads", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/recordings.py").run()
    clip = short_recording(tmp_path / "clip.mp4").read_bytes()
    at.file_uploader(key="recording_upload").set_value(("Week 3 biology.mp4", clip, "video/mp4"))
    at.number_input(key="recording_fps").set_value(2.0)
    at.run()
    at.button(key="recording_start").click().run()
    job = at.session_state["processing_job"]
    upload = Path(job.command[4])
    assert upload.parent == tmp_path / "uploads" and len(upload.stem) == 32  # a generated name, not the teacher's
    progress_texts = set()
    deadline = time.time() + 150
    while job.running and time.time() < deadline:
        progress_texts |= {p.proto.text for p in at.get("progress")}
        time.sleep(1)
        at.run()
    assert not job.running, "the engine did not finish in 150 s"
    at.run()
    assert not at.exception
    assert job.returncode == 0, job.error_message()
    assert any("Starting the engine" in t or "analysed" in t for t in progress_texts), progress_texts
    assert "Week 3 biology.mp4** analysed" in texts(at, "success")
    assert not upload.exists()  # analysed, "keep" not ticked: the faces go, the analysis stays
    at.button(key="recording_open").click().run()
    assert not at.exception
    assert texts(at, "title") == "Session report"
    new_id = job.result()["session_id"]
    assert at.selectbox(key="report_session").value == new_id
    with connect(seeded.url)() as s:
        assert repo.get_session(s, new_id).title == "Week 3 biology.mp4"


# --- empty and old databases ----------------------------------------------------------------------

@pytest.mark.parametrize("page, expected", [
    ("views/live.py", "No class is being watched"),
    ("views/recordings.py", None),
    ("views/report.py", "No class sessions yet"),
    ("views/students.py", "No class sessions yet"),
    ("views/model.py", "No evaluation has been stored"),
    ("views/users.py", None),
    ("views/audit.py", "Nothing recorded yet"),
    ("views/account.py", None),
])
def test_an_empty_database_gets_explanations_not_errors(tmp_path, monkeypatch, page, expected):
    at = app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "up", monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page(page).run()
    assert not at.exception and not at.error
    if expected:
        assert expected in texts(at, "info")
    if page == "views/model.py":
        assert "python -m training evaluate" in texts(at, "code")
    if page == "views/report.py":
        assert "make run" in texts(at, "info")


def test_a_database_that_is_not_ours_is_explained_on_every_page(tmp_path, monkeypatch):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE class_sessions (id INTEGER PRIMARY KEY, title TEXT)")
    at = app(f"sqlite:///{path}", tmp_path / "up", monkeypatch, SignedInUser("admin", "admin"))
    for page in ("views/report.py", "views/live.py", "views/students.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert "not this software's" in texts(at, "error")  # refused, not half-read
