"""A teacher's week (issue 14): the Course overview (a course's sessions in date order with their
engagement, attendance and alerts; the date filter), session titles a teacher edits and the live
class's default title (course + start), the warning when the same recording was analysed before,
and the chosen session kept when moving between pages. The real app through AppTest on a SQLite
file; the real engine (in this process, attention-only, on a tiny faceless video) for the title
and the content hash it records."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from dashboard_support import APP, password_hash
from engine_support import write_video
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from dashboard import course_week, data
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from dashboard.uploads import UploadRejected
from db import aggregates, connect
from db import repository as repo
from db.models import ClassSession, Observation, SessionStatus

ALICE, BOB = SignedInUser("alice", "teacher"), SignedInUser("bob", "teacher")
OVERVIEW, REPORT, STUDENTS, RECORDINGS = ("views/course_overview.py", "views/report.py", "views/students.py",
                                          "views/recordings.py")


def _session(url: str, course: str, title: str, started: datetime, engagement: list[float], students: int,
             alerts: int = 0) -> int:
    """A finished session of ``course`` started at ``started``: ``students`` students, each with
    one observation per value of ``engagement`` (so the session's mean is their mean)."""
    with connect(url)() as s:
        cs = repo.start_session(s, source=f"{title}.mp4", title=title, course=course, media_duration=10.0)
        people = [repo.add_student(s, cs.id, track_id=i + 1).id for i in range(students)]
        rows = [{"student_id": sid, "t": float(k), "wall_time": started, "emotion": "neutral", "box_x": 0, "box_y": 0,
                 "box_w": 40, "box_h": 40, "engagement": e, "confusion": 0.2}
                for sid in people for k, e in enumerate(engagement)]
        repo.write_batch(s, cs.id, rows, video_seconds=10.0, frames_analyzed=len(engagement))
        for k in range(alerts):
            repo.open_alert(s, cs.id, "disengaged", float(k), "looked away", student_id=people[0])
        repo.finish_session(s, cs.id, SessionStatus.complete, video_seconds=10.0)
        s.execute(update(ClassSession).where(ClassSession.id == cs.id).values(started_at=started))
        s.commit()
        return cs.id


@pytest.fixture
def week(tmp_path):
    """Alice's "Algebra 2": the later class made first (ids are not date order), Bob's "Physics"."""
    url = f"sqlite:///{tmp_path / 'school.db'}"
    with connect(url)() as s:
        for name, role in (("alice", "teacher"), ("bob", "teacher"), ("admin", "admin")):
            repo.add_user(s, name, password_hash(), role)
        repo.course_for(s, ALICE, "Algebra 2")
        repo.course_for(s, BOB, "Physics")
    later = _session(url, "Algebra 2", "Fractions", datetime(2026, 11, 25, 9), [0.3, 0.5], students=2, alerts=3)
    earlier = _session(url, "Algebra 2", "Equations", datetime(2026, 11, 18, 9), [0.8, 0.9, 0.7], students=3)
    physics = _session(url, "Physics", "Bob's optics", datetime(2026, 11, 20, 9), [0.6], students=4)
    return url, earlier, later, physics


def app(url: str, tmp_path: Path, monkeypatch, user: SignedInUser = ALICE) -> AppTest:
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[USER_KEY] = user
    return at


def shown(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error",
                                       "success") for e in getattr(at, kind)]
    parts += [str(o) for box in at.selectbox for o in box.options]
    parts += [link.proto.label for link in at.get("page_link")]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))


def overview_table(at: AppTest):
    return next(d.value for d in at.dataframe if "mean engagement" in d.value.columns)


def links(at: AppTest) -> dict[str, str]:
    """Each page link's label -> its address's query string."""
    return {re.sub(r"\\(.)", r"\1", link.proto.label): link.proto.query_string for link in at.get("page_link")}


def test_a_course_s_sessions_and_their_figures_come_from_sql_within_the_visibility_rule(db_url):
    with connect(db_url)() as s:
        for name in ("alice", "bob"):
            repo.add_user(s, name, password_hash(), "teacher")
        algebra, physics = repo.course_for(s, ALICE, "Algebra 2").id, repo.course_for(s, BOB, "Physics").id
    later = _session(db_url, "Algebra 2", "Fractions", datetime(2026, 11, 25, 9), [0.3, 0.5], students=2, alerts=3)
    earlier = _session(db_url, "Algebra 2", "Equations", datetime(2026, 11, 18, 9), [0.8, 0.9, 0.7], students=3)
    with connect(db_url)() as s:
        s.execute(update(Observation).where(Observation.session_id == later, Observation.t == 1.0)
                  .values(readable=False, confusion=0.9))  # an unreadable face's confusion does not count
        s.commit()
        assert [cs.id for cs in repo.course_sessions(s, ALICE, algebra)] == [earlier, later]
        assert [cs.id for cs in repo.course_sessions(s, ALICE, algebra, since=datetime(2026, 11, 20))] == [later]
        assert repo.course_sessions(s, BOB, algebra) == [] and repo.course_sessions(s, ALICE, physics) == []
        means = aggregates.session_means(s, [later, earlier, 999]).set_index("session_id")
        assert means.loc[later, "engagement"] == pytest.approx(0.4) and means.loc[later, "confusion"] == pytest.approx(0.2)
        assert means.loc[earlier, "n"] == 9 and means.loc[999, "n"] == 0 and np.isnan(means.loc[999, "engagement"])
        counts = aggregates.session_counts(s, [later, earlier]).set_index("session_id")
        assert counts.loc[later, ["students", "alerts", "alerts_disengaged", "alerts_confused"]].tolist() == [2, 3, 3, 0]
        assert counts.loc[earlier, ["students", "alerts"]].tolist() == [3, 0]


def test_the_course_overview_shows_a_course_s_sessions_in_date_order_and_filters_by_date(week, tmp_path, monkeypatch):
    url, earlier, later, _ = week
    at = app(url, tmp_path, monkeypatch)
    at.switch_page(OVERVIEW).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="overview_course").options == ["Algebra 2"]  # Bob's course is not offered
    table = overview_table(at)
    assert list(table["session"]) == ["Equations", "Fractions"]  # date order, not the order they were made
    assert list(table["started (UTC)"]) == ["2026-11-18 09:00", "2026-11-25 09:00"]
    assert list(table["mean engagement"]) == pytest.approx([0.8, 0.4])
    assert list(table["students present"]) == [3, 2] and list(table["alerts"]) == [0, 3]
    assert "Bob's optics" not in shown(at)
    (chart,) = at.get("plotly_chart")
    traces = json.loads(chart.proto.spec)["data"]
    assert all(t["x"] == [f"18 Nov 09:00 · #{earlier}", f"25 Nov 09:00 · #{later}"] for t in traces)  # one slot each
    # Each session links to its report.
    assert links(at)[f"#{later} Fractions · 2026-11-25 09:00"] == f"session={later}"

    # Dates from the 20th on: the session of the 18th is hidden.
    at.date_input[0].set_value((date(2026, 11, 20), date(2026, 11, 30))).run()
    assert not at.exception, at.exception
    assert list(overview_table(at)["session"]) == ["Fractions"]
    assert "Equations" not in str(links(at))


def test_an_admin_sees_every_course_and_an_empty_database_is_explained(week, tmp_path, monkeypatch):
    url, *_ = week
    at = app(url, tmp_path, monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page(OVERVIEW).run()
    assert not at.exception and at.selectbox(key="overview_course").options == ["Algebra 2", "Physics"]
    empty = app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path, monkeypatch)
    empty.switch_page(OVERVIEW).run()
    assert not empty.exception and not empty.error and "No courses yet" in shown(empty)


def test_a_renamed_session_shows_its_title_on_the_report_and_nobody_else_can_rename_it(week, tmp_path, monkeypatch):
    url, earlier, _, physics = week
    at = app(url, tmp_path, monkeypatch)
    at.query_params["session"] = str(earlier)
    at.switch_page(REPORT).run()
    assert not at.exception, at.exception
    at.text_input(key=f"report_rename_{earlier}_title").set_value("Week 1: linear equations")
    at.button(key=f"FormSubmitter:report_rename_{earlier}_form-Save the title").click().run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="report_session")
    assert picker.value == earlier
    assert f"#{earlier} Week 1: linear equations (complete" in shown(at)
    # ... and the browser is told to show the new label (it would keep the old one until a click).
    assert picker.proto.set_value and picker.proto.raw_value.startswith(f"#{earlier} Week 1: linear equations")
    at.switch_page(OVERVIEW).run()
    assert "Week 1: linear equations" in list(overview_table(at)["session"])
    factory = connect(url)
    with pytest.raises(data.NotVisible):  # Bob's session, by its id: refused
        course_week.rename_session(factory, ALICE, physics, "Mine now")
    with pytest.raises(course_week.TitleRefused):
        course_week.rename_session(factory, ALICE, earlier, "   ")


def test_the_chosen_session_is_kept_when_moving_between_pages(week, tmp_path, monkeypatch):
    url, earlier, later, _ = week
    at = app(url, tmp_path, monkeypatch)
    at.switch_page(REPORT).run()
    assert at.selectbox(key="report_session").value == later  # the newest, with nothing chosen
    at.selectbox(key="report_session").set_value(earlier).run()
    assert at.query_params["session"] == [str(earlier)]  # in the address: a reload keeps it
    assert links(at)["Name students or merge duplicates on the Students page"] == f"session={earlier}"
    for page, key in ((STUDENTS, "students_session"), (REPORT, "report_session")):
        at.query_params.clear()  # the sidebar's page links carry no parameters
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert at.selectbox(key=key).value == earlier, page
        assert at.query_params["session"] == [str(earlier)], page
    at.query_params.clear()
    at.switch_page(OVERVIEW).run()
    assert at.selectbox(key="overview_rename_which").value == earlier  # the overview offers it to rename too
    assert at.query_params["session"] == [str(earlier)]  # every page's address carries it ...
    reloaded = app(url, tmp_path, monkeypatch)  # ... so a reload there (a new tab state) keeps it
    reloaded.query_params["session"] = str(earlier)
    reloaded.switch_page(REPORT).run()
    assert reloaded.selectbox(key="report_session").value == earlier


@pytest.fixture(scope="module")
def engine_runs(tmp_path_factory):
    """A two-frame faceless video, Alice's "Algebra 2", and the engine's two ways of making a
    session under it: the recorder of a recording (as ``engine process`` opens one), and the whole
    engine replaying the video as a live class (``engine live --stream``, attention-only)."""
    from engine import cli
    from engine.config import load_config
    from engine.recorder import Recorder
    from engine.sources import open_source

    folder = tmp_path_factory.mktemp("engine")
    url = f"sqlite:///{folder / 'school.db'}"
    with connect(url)() as s:
        repo.add_user(s, "alice", password_hash(), "teacher")
        repo.course_for(s, ALICE, "Algebra 2")
    video = write_video(folder / "lesson.mp4", [np.full((48, 64, 3), 128, np.uint8)] * 2, fps=5)
    recorder = Recorder(connect(url), load_config().recorder)
    with open_source(str(video), 5.0) as source:
        recorded = recorder.start(source.info, "test", 5.0, title="lesson.mp4", course="Algebra 2")
    recorder.finish(SessionStatus.complete, "", video_seconds=0.4, frames=2)
    before = datetime.utcnow().replace(second=0, microsecond=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("engine.sources.LIVE_RETRY_SECONDS", 0.2)  # the replay's end is its end: no reconnection wait
        assert cli.main(["live", "--stream", str(video), "--db", url, "--no-emotions", "--no-progress",
                         "--course", "Algebra 2"]) == 0
    with connect(url)() as s:
        live = max(repo.list_sessions(s), key=lambda cs: cs.id)
        return url, video, before, recorded, repo.get_session(s, recorded).source_sha256, live.title, live.source_sha256


def test_a_live_class_is_titled_by_its_course_and_start(engine_runs):
    _, _, before, _, _, title, digest = engine_runs
    course, _, when = title.partition(" — ")
    assert course == "Algebra 2"
    assert before <= datetime.strptime(when, "%Y-%m-%d %H:%M") <= datetime.utcnow()
    assert digest is None  # a live source has no file to recognise


def test_uploading_an_analysed_recording_again_warns_with_a_link_to_its_report(engine_runs, tmp_path, monkeypatch):
    url, video, _, session_id, digest, _, _ = engine_runs
    content = video.read_bytes()
    assert digest == hashlib.sha256(content).hexdigest()  # what the engine records is the file's SHA-256
    saved = []

    def save_upload(upload, name, folder):  # the analysis would start here: stop, having seen it get this far
        saved.append(name)
        raise UploadRejected("stopped by the test")

    monkeypatch.setattr("dashboard.uploads.save_upload", save_upload)
    at = app(url, tmp_path, monkeypatch)
    at.switch_page(RECORDINGS).run()
    at.file_uploader(key="recording_upload").set_value(("same lesson.mp4", content, "video/mp4"))
    at.run()
    at.button(key="recording_start").click().run()
    assert not at.exception, at.exception
    assert "already analysed" in shown(at) and not saved  # nothing is stored or started yet
    assert any(q == f"session={session_id}" for q in links(at).values())  # the earlier report, linked
    at.button(key="recording_again_anyway").click().run()  # the teacher analyses it again anyway
    assert not at.exception, at.exception
    assert saved == ["same lesson.mp4"] and "stopped by the test" in shown(at)

    # Another recording (other bytes): no warning, straight on.
    at.file_uploader(key="recording_upload").set_value(("other.mp4", content + b"\0", "video/mp4"))
    at.button(key="recording_start").click().run()
    assert "already analysed" not in shown(at) and saved == ["same lesson.mp4", "other.mp4"]
