"""Attention-only mode and retention (issue 13): the real engine run with ``--no-emotions`` on a
second of the demo class stores no emotion value and records its mode, without ever loading the
expression model; the report, students and live pages show no emotion view for such a session and
say why; the admin's switch reaches the engines the dashboard starts; the retention purge deletes
the observations of old sessions only (SQLite and PostgreSQL), at dashboard start and from
``python -m db purge``."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from dashboard_support import password_hash, seed_database
from engine_support import DEMO_VIDEO, REPO, cut_video
from sqlalchemy import func, select, update
from test_dashboard_app import app, table, texts

from dashboard import analytics, data, engine_cli, report_export
from dashboard.auth import SignedInUser
from db import connect
from db import repository as repo
from db.models import Alert, ClassSession, Observation, Student

EMOTION_COLUMNS = (*repo.EMOTION_COLUMNS, "emotion", "confusion")


@pytest.fixture(scope="module")
def attention_only(tmp_path_factory):
    """One second of the demo gallery through ``python -m engine process --no-emotions``, with a
    model path that does not exist: the run succeeds only if the model is never loaded."""
    tmp = tmp_path_factory.mktemp("attention_only")
    video = cut_video(DEMO_VIDEO, tmp / "cut.mp4", 1.0)
    url = f"sqlite:///{tmp / 'class.db'}"
    cmd = [sys.executable, "-m", "engine", "process", str(video), "--db", url, "--json", "--no-progress",
           "--no-emotions", "--model", str(tmp / "no-such-model.keras")]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    with connect(url)() as s:
        repo.add_user(s, "admin", password_hash(), "admin")
    return {"url": url, "result": result, "tmp": tmp}


def test_attention_only_run_stores_no_emotion_values_and_records_its_mode(attention_only):
    url, result = attention_only["url"], attention_only["result"]
    assert result["faces"] > 0 and result["students"] > 0
    with connect(url)() as s:
        session = s.get(ClassSession, result["session_id"])
        assert session.emotions is False and "attention-only" in session.model_version
        assert not repo.session_has_emotions(session)
        o = Observation
        counts = s.execute(select(func.count(), func.count(o.engagement),
                                  *(func.count(getattr(o, c)) for c in EMOTION_COLUMNS))
                           .where(o.session_id == session.id)).one()
        assert counts[0] == result["faces"] == counts[1]  # every row has its engagement ...
        assert set(counts[2:]) == {0}  # ... and none an emotion probability, emotion or confusion
        assert not [a for a in repo.alerts(s, session.id) if a.kind == "confused"]


def test_the_report_of_an_attention_only_session_has_no_emotion_view_and_says_why(attention_only, tmp_path,
                                                                                   monkeypatch):
    at = app(attention_only["url"], tmp_path / "up", monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page("views/report.py").run()
    assert not at.exception, at.exception
    assert "recorded in attention-only mode" in texts(at, "info")
    assert [h.value for h in at.subheader if "over time" in h.value] == ["Engagement over time"]
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(specs) == 2 and '"name":"engagement"' in specs[0]
    assert not any(f'"name":"{n}"' in spec for spec in specs for n in ("neutral", "happy", "confusion"))
    assert "Mean confusion" not in [m.label for m in at.metric]
    assert not any(h.value == "Most confused moments" for h in at.subheader)
    assert not at.get("radio")  # no "colour by emotion / confusion"
    summary = table(at, "student", "engagement")
    assert not set(summary.columns) & {"confusion", "most frequent emotion"}

    # The downloads are built from the same tables (deferred in the page): none breaks on NULLs.
    f = data.open_database(attention_only["url"])
    session = data.get_session(f, attention_only["result"]["session_id"])
    bins = data.binned(f, session.id, 5)
    mood = analytics.class_mood(bins)
    content = report_export.ReportContent(
        session=session, mood=mood, bin_s=5, figures={}, summary=analytics.student_summary(bins),
        confused=None, disengaged=analytics.notable_moments(mood, "engagement", largest=False, bin_s=5),
        alerts=pd.DataFrame(columns=["from", "to", "who", "kind", "message"]))
    html = report_export.html_report(content)
    assert "attention-only" in html and "Most confused moments" not in html
    assert report_export.pdf_report(content).startswith(b"%PDF")
    csv = report_export.csv_file(f, session.id).read().decode()
    header, first = csv.splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=True))
    assert row["emotion"] == row["confusion"] == row["happy"] == "" and float(row["engagement"]) >= 0


def test_the_students_and_live_pages_of_an_attention_only_class_show_no_emotions(attention_only, tmp_path,
                                                                                  monkeypatch):
    url, sid = attention_only["url"], attention_only["result"]["session_id"]
    at = app(url, tmp_path / "up", monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page("views/students.py").run()
    assert not at.exception and "recorded in attention-only mode" in texts(at, "info")
    with connect(url)() as s:  # the same class, as if it were going on now
        s.execute(update(ClassSession).where(ClassSession.id == sid)
                  .values(status="running", heartbeat_at=repo.utcnow(), ended_at=None))
        s.commit()
    try:
        at.switch_page("views/live.py").run()
        assert not at.exception, at.exception
        assert "recorded in attention-only mode" in texts(at, "info")
        assert [m.label for m in at.metric] == ["Students in view", "Attention now"]
        assert "**Engagement, last minutes**" in texts(at, "markdown")
        assert "confusion" not in texts(at, "caption") and len(at.get("progress")) > 0
        assert '"name":"neutral"' not in at.get("plotly_chart")[0].proto.spec
    finally:
        with connect(url)() as s:
            s.execute(update(ClassSession).where(ClassSession.id == sid).values(status="complete",
                                                                                ended_at=repo.utcnow()))
            s.commit()


def test_the_admin_switch_reaches_the_engine_and_the_notice(tmp_path, monkeypatch):
    seeded = seed_database(tmp_path)
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page("views/users.py").run()
    assert not at.exception and "Article 5(1)(f)" in texts(at, "caption")
    assert "Observations are kept until an admin erases them" in texts(at, "markdown")  # the sidebar notice
    assert engine_cli._mode_args(seeded.url, None) == []  # emotions on until an admin says otherwise
    at.toggle(key="privacy_emotions").set_value(False)
    at.number_input(key="privacy_retention").set_value(30)
    next(b for b in at.button if b.label == "Save the privacy settings").click().run()
    assert not at.exception and "emotions off (attention-only)" in texts(at, "success")
    with connect(seeded.url)() as s:
        assert not repo.emotions_enabled(s) and repo.retention_days(s) == 30
        assert [e.kind for e in repo.audit_events(s, "admin")][:1] == ["settings changed"]
    assert engine_cli._mode_args(seeded.url, None) == ["--no-emotions"]  # every engine the dashboard starts
    from engine.config import load_config
    from engine.pipeline import obey_admin_switch

    # ... and an engine started from a terminal on this database, whatever its config says
    assert obey_admin_switch(load_config(), connect(seeded.url)).privacy.emotions is False
    notice = texts(at, "markdown")
    assert "attention-only" in notice and "deleted 30 days after their class ended" in notice

    teacher = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    teacher.switch_page("views/users.py").run()
    assert not teacher.get("toggle")  # only admins get the switch


def test_the_scorer_without_emotions_scores_attention_only():
    from engine.config import load_config
    from engine.scoring import Reading, Scorer

    cfg = load_config()
    scorer = Scorer(cfg.scoring, cfg.alerts, emotions=False)
    events = []
    for i in range(200):  # 40 s, everyone looking away: disengaged alerts, never a confused one
        scored, ev = scorer.update(i * 0.2, [Reading(k, None, 60.0, 0.0, 1.0, 0.1) for k in range(4)])
        events += ev
    assert all(s.probs is None and s.emotion is None and s.confusion is None for s in scored)
    assert scored[0].engagement == pytest.approx(0.0)
    assert {e.kind for e in events} == {"disengaged"}
    with pytest.raises(ValueError, match="no probabilities"):
        Scorer(cfg.scoring, cfg.alerts).update(0.0, [Reading(1, None, 0.0, 0.0, 1.0)])


def test_the_config_switch_and_its_unknown_keys(tmp_path):
    from engine.cli import _config, build_parser
    from engine.config import ConfigError, load_config

    assert load_config().privacy.emotions is True
    off = tmp_path / "eu.toml"
    off.write_text("[privacy]\nemotions = false\n")
    assert load_config(off).privacy.emotions is False
    typo = tmp_path / "typo.toml"
    typo.write_text("[privacy]\nemotion = false\n")
    with pytest.raises(ConfigError, match="unknown key 'emotion'"):
        load_config(typo)
    args = build_parser().parse_args(["live", "--camera", "0", "--no-emotions"])
    assert _config(args).privacy.emotions is False  # the flag overrides the config


def _session(s, title: str, ended_days_ago: float | None, running: bool = False) -> int:
    cs = repo.start_session(s, source=f"{title}.mp4", title=title)
    st = repo.add_student(s, cs.id, track_id=1)
    repo.open_alert(s, cs.id, "disengaged", 1.0, "looked away", st.id)
    row = {"student_id": st.id, "wall_time": repo.utcnow(), **dict.fromkeys(repo.EMOTION_COLUMNS, 1 / 7),
           "emotion": "neutral", "box_x": 1, "box_y": 2, "box_w": 30, "box_h": 30, "engagement": 0.9,
           "confusion": 0.1}
    repo.write_batch(s, cs.id, [{**row, "t": t} for t in np.arange(0, 3, 0.5)], video_seconds=3.0, frames_analyzed=6)
    if not running:
        repo.finish_session(s, cs.id, repo.SessionStatus.complete, video_seconds=3.0, frames_analyzed=6)
    if ended_days_ago is not None:
        when = repo.utcnow() - timedelta(days=ended_days_ago)
        s.execute(update(ClassSession).where(ClassSession.id == cs.id).values(started_at=when, ended_at=when))
        s.commit()
    return cs.id


def _count(s, table, sid: int) -> int:
    return s.scalar(select(func.count()).select_from(table).where(table.session_id == sid))


def test_retention_purges_what_is_older_and_keeps_what_is_newer(db_url):
    f = connect(db_url)
    with f() as s:
        old = _session(s, "old", 40)
        recent = _session(s, "recent", 2)
        running = _session(s, "running", None, running=True)
        s.execute(update(ClassSession).where(ClassSession.id == running)
                  .values(started_at=repo.utcnow() - timedelta(days=90), heartbeat_at=repo.utcnow()))
        s.commit()
        assert repo.purge_by_setting(s) == []  # no retention set: nothing goes
        repo.set_retention_days(s, 30)
    assert data.purge_expired(f) == [old]  # what the dashboard runs when it opens the database
    with f() as s:
        assert _count(s, Observation, old) == 0
        assert (_count(s, Student, old), _count(s, Alert, old)) == (1, 1)  # the summary stays
        cs = repo.get_session(s, old)
        assert cs.note == "observations purged after 30 days" and cs.frames_analyzed == 6
        assert _count(s, Observation, recent) == _count(s, Observation, running) == 6
        assert repo.get_session(s, recent).note == ""
        assert repo.purge_old_observations(s, 30) == []  # already purged: not again
    done = subprocess.run([sys.executable, "-m", "db", "purge", "--db", db_url, "--days", "1"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"purged from 1 sessions (#{recent})" in done.stdout
    with f() as s:
        assert _count(s, Observation, recent) == 0 and _count(s, Observation, running) == 6
        assert "observations purged after 1 days" in repo.get_session(s, recent).note


def test_a_session_recorded_before_the_mode_existed_counts_as_with_emotions(db_url):
    from test_db_migrations import _previous_release_database

    _previous_release_database(db_url)
    with connect(db_url)() as s:  # upgraded through 0004 on opening
        (session,) = repo.list_sessions(s)
        assert session.emotions is None and repo.session_has_emotions(session)
        assert repo.observations_frame(s, session.id)["emotion"].tolist() == ["happy"]


def test_a_teacher_sees_the_privacy_notice(tmp_path, monkeypatch):
    seeded = seed_database(tmp_path)
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/report.py").run()
    assert not at.exception
    notice = texts(at, "markdown")
    assert "**What is recorded**" in notice and "seven expression probabilities" in notice
    assert "**Who can see it**" in notice and "no retention period is set" in notice


def test_the_dashboard_purges_on_start_and_the_report_says_so(tmp_path, monkeypatch):
    seeded = seed_database(tmp_path)
    with connect(seeded.url)() as s:
        when = repo.utcnow() - timedelta(days=40)
        s.execute(update(ClassSession).where(ClassSession.id == seeded.session_id)
                  .values(started_at=when, ended_at=when))
        s.commit()
        repo.set_retention_days(s, 30)
    at = app(seeded.url, tmp_path / "up", monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page("views/report.py").run()  # the first page of this dashboard opens the database: purged
    assert not at.exception, at.exception
    assert "were deleted under the retention setting" in texts(at, "info") and not at.get("plotly_chart")
    with connect(seeded.url)() as s:
        assert _count(s, Observation, seeded.session_id) == 0
        assert _count(s, Student, seeded.session_id) == 6 and _count(s, Alert, seeded.session_id) == 3
    assert len(table(at, "kind", "message")) == 3  # the alerts are still listed ...
    assert at.button(key="FormSubmitter:erase_session-Erase this session")  # ... and can still be erased
