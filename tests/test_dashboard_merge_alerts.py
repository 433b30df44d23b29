"""Issue 14, "merge and rename you cannot get wrong" and "teachers tell us when an alert is wrong":
the Students page's merge (confirmation bound to one pair and reset after every action, students
seen at the same moment refused without the override, every merge undone exactly), alert messages
with the current name, and right/wrong marks counted on the admin's model page. Real SQLite files
(PostgreSQL too for the repository's undo) driven through the real pages with AppTest."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from dashboard_support import APP, password_hash
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from dashboard import data
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from db import connect
from db import repository as repo
from db.models import Alert, Observation, SessionStatus

ADMIN = SignedInUser("admin", "admin")
FPS = 5
SECONDS = 10


def _observation(student_id: int, t: float) -> dict:
    return {"student_id": student_id, "t": t, "wall_time": datetime(2026, 12, 1, 9) + timedelta(seconds=t),
            "angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 0.1, "sad": 0.0, "surprise": 0.0, "neutral": 0.9,
            "emotion": "neutral", "box_x": 10, "box_y": 10, "box_w": 40, "box_h": 40, "yaw": 0.0, "pitch": 0.0,
            "eye_openness": 1.0, "engagement": 0.8, "confusion": 0.1}


def seed_tracks(url: str, users: bool = True, running: bool = False) -> tuple[int, dict[str, int]]:
    """A finished 10 s class at 5 fps: Students 1-3 in view throughout; the tracker lost one
    person at 5 s, who came back as Student 5 (Student 4 is seen before 5 s, Student 5 after).
    Student 4 and Student 5 each have an alert, written as the engine writes them. ``running``: the
    class is still live (its engine has just written a batch)."""
    with connect(url)() as s:
        if users:
            repo.add_user(s, "admin", password_hash(), "admin")
        cs = repo.start_session(s, source="period2.mp4", title="Period 2", media_duration=float(SECONDS))
        ids = {f"Student {k}": repo.add_student(s, cs.id, track_id=k).id for k in range(1, 6)}
        rows = []
        for frame in range(SECONDS * FPS):
            t = frame / FPS
            rows += [_observation(ids[f"Student {k}"], t) for k in (1, 2, 3)]
            rows.append(_observation(ids["Student 4" if t < SECONDS / 2 else "Student 5"], t))
        repo.write_batch(s, cs.id, rows, video_seconds=float(SECONDS), frames_analyzed=SECONDS * FPS)
        for who, start in (("Student 4", 1.0), ("Student 5", 6.0)):
            alert = repo.open_alert(s, cs.id, "disengaged", start, f"{who} looked away for most of the last 20 s.",
                                    ids[who])
            repo.close_alert(s, alert.id, start + 2)
        repo.open_alert(s, cs.id, "confused", 2.0, "3 of 5 students present look confused or upset (last 20 s).")
        s.commit()
        if running:
            repo.heartbeat(s, cs.id)
        else:
            repo.finish_session(s, cs.id, SessionStatus.complete, video_seconds=float(SECONDS),
                                frames_analyzed=SECONDS * FPS)
        return cs.id, ids


def counts(url: str, session_id: int) -> dict[int, tuple[int, int]]:
    """(observations, alerts) per student id of the session, as stored."""
    with connect(url)() as s:
        obs = dict(s.execute(select(Observation.student_id, func.count()).where(Observation.session_id == session_id)
                             .group_by(Observation.student_id)).all())
        alerts = dict(s.execute(select(Alert.student_id, func.count()).where(Alert.session_id == session_id)
                                .group_by(Alert.student_id)).all())
    return {sid: (obs.get(sid, 0), alerts.get(sid, 0)) for sid in set(obs) | set(alerts) if sid is not None}


def roster(url: str, session_id: int) -> list[tuple[int, str, str | None]]:
    with connect(url)() as s:
        return [(st.id, st.label, st.name) for st in repo.students(s, session_id)]


def page(url: str, tmp_path, monkeypatch, session_id: int, user: SignedInUser = ADMIN,
         view: str = "views/students.py") -> AppTest:
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[USER_KEY] = user
    at.query_params["session"] = str(session_id)
    at.run()
    return at.switch_page(view).run()


def widget(widgets, prefix: str):
    """The one widget whose key starts with ``prefix`` (the merge widgets' keys carry a generation)."""
    (found,) = [w for w in widgets if (w.key or "").startswith(prefix)]
    return found


def shown(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def merge_on_page(at: AppTest, keep: int, gone: int, tick: bool = True, override: bool = False) -> AppTest:
    widget(at.selectbox, "merge_keep_").set_value(keep)
    widget(at.selectbox, "merge_gone_").set_value(gone).run()  # one run: the comparison and the boxes appear
    if override:
        widget(at.checkbox, "merge_override_").check()
    if tick:
        widget(at.checkbox, "merge_sure_").check()
    return widget(at.button, "merge_go_").click().run()


# --- merge: confirmation, co-presence, undo -----------------------------------------------------------

def test_a_second_click_after_a_merge_cannot_merge_a_third_student(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    sid, ids = seed_tracks(url)
    at = page(url, tmp_path, monkeypatch, sid)
    assert not at.exception
    merge_on_page(at, ids["Student 4"], ids["Student 5"])
    assert not at.exception and "Merged Student 5 into Student 4" in shown(at, "success")
    after_first = counts(url, sid)
    assert after_first[ids["Student 4"]] == (SECONDS * FPS, 2)
    # Everything starts afresh: no student chosen, no box ticked.
    assert widget(at.selectbox, "merge_keep_").value is None and widget(at.selectbox, "merge_gone_").value is None
    assert not [c for c in at.checkbox if (c.key or "").startswith("merge_sure_")]
    # The second click: Student 4 kept, Student 2 offered, the Merge button pressed again.
    merge_on_page(at, ids["Student 4"], ids["Student 2"], tick=False)
    assert "Tick the box" in shown(at, "error")
    assert counts(url, sid) == after_first and ids["Student 2"] in {r[0] for r in roster(url, sid)}
    # A box ticked for one pair does not confirm another: choosing a third student unticks it.
    widget(at.checkbox, "merge_sure_").check().run()
    widget(at.selectbox, "merge_gone_").set_value(ids["Student 3"]).run()
    assert widget(at.checkbox, "merge_sure_").value is False
    widget(at.button, "merge_go_").click().run()
    assert "Tick the box" in shown(at, "error") and counts(url, sid) == after_first


def test_students_seen_at_the_same_moment_are_not_merged_without_the_override(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    sid, ids = seed_tracks(url)
    before = counts(url, sid)
    at = page(url, tmp_path, monkeypatch, sid)
    merge_on_page(at, ids["Student 1"], ids["Student 2"])
    assert "seen at the same moment in 50 frames" in shown(at, "warning")
    assert "two people" in shown(at, "warning")
    assert "Not merged" in shown(at, "error") and counts(url, sid) == before
    with connect(url)() as s, pytest.raises(repo.SeenTogether):
        repo.merge_students(s, ids["Student 1"], ids["Student 2"], "admin")
    # The explicit override merges them, and says so in the list of merges.
    merge_on_page(at, ids["Student 1"], ids["Student 2"], override=True)
    assert not at.exception and "Merged Student 2 into Student 1" in shown(at, "success")
    assert counts(url, sid)[ids["Student 1"]] == (2 * SECONDS * FPS, 0)
    assert "seen together in 50 frames" in shown(at, "markdown")


def test_a_merge_is_undone_from_the_page_exactly(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    sid, ids = seed_tracks(url)
    data.rename_student(connect(url), ids["Student 5"], "Ada", ADMIN)
    before, names_before = counts(url, sid), roster(url, sid)
    at = page(url, tmp_path, monkeypatch, sid)
    merge_on_page(at, ids["Student 4"], ids["Student 5"])
    assert len(roster(url, sid)) == 4 and counts(url, sid) != before
    widget(at.button, "undo_").click().run()
    assert not at.exception and "separate from Student 4 again" in shown(at, "success")
    assert counts(url, sid) == before and roster(url, sid) == names_before  # id, label and name back
    assert not [b for b in at.button if (b.key or "").startswith("undo_")]  # nothing left to undo
    kinds = [e.kind for e in data.audit_events(connect(url))]
    assert kinds[:2] == ["merge undone", "students merged"]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_the_repository_undoes_merges_in_order_and_exactly(db_url):
    sid, ids = seed_tracks(db_url, users=False)
    before, names_before = counts(db_url, sid), roster(db_url, sid)
    f = connect(db_url)
    with f() as s:
        first = repo.merge_students(s, ids["Student 4"], ids["Student 5"], "admin").id
        # The kept student merged again (overridden: Student 1 is in view with Student 4) ...
        second = repo.merge_students(s, ids["Student 1"], ids["Student 4"], "admin", allow_co_present=True).id
    assert [r[0] for r in roster(db_url, sid)] == [ids["Student 1"], ids["Student 2"], ids["Student 3"]]
    with f() as s, pytest.raises(repo.MergeRefused, match="undo that merge first"):
        repo.undo_merge(s, first, "admin")  # ... so the first merge waits for the second's undo
    with f() as s:
        repo.undo_merge(s, second, "admin")
        repo.undo_merge(s, first, "admin")
        with pytest.raises(repo.MergeRefused, match="already undone"):
            repo.undo_merge(s, first, "admin")
    assert counts(db_url, sid) == before and roster(db_url, sid) == names_before


# --- alert messages with the current name; right / wrong marks --------------------------------------

def test_a_renamed_student_s_alerts_read_the_new_name_in_the_report_and_the_feed(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    sid, ids = seed_tracks(url)
    f = connect(url)
    with f() as s:
        repo.merge_students(s, ids["Student 4"], ids["Student 5"], "admin")
    data.rename_student(f, ids["Student 4"], "Ada Lovelace", ADMIN)
    feed = {a.start_t: a.message for a in data.alerts(f, sid)}  # what the live feed shows
    assert feed[1.0] == feed[6.0] == "Ada Lovelace looked away for most of the last 20 s."
    assert feed[2.0].startswith("3 of 5 students")  # a class alert names no one
    with f() as s:  # stored as the engine wrote it: the name is rendered when read
        assert {a.message.split(" looked")[0] for a in repo.alerts(s, sid) if a.student_id} == {"Student 4", "Student 5"}
    at = page(url, tmp_path, monkeypatch, sid, view="views/report.py")
    assert not at.exception
    alerts = next(d.value for d in at.dataframe if {"who", "message"} <= set(d.value.columns))
    student_rows = alerts[alerts["who"] != "whole class"]
    assert set(student_rows["message"]) == {"Ada Lovelace looked away for most of the last 20 s."}


def test_an_alert_marked_wrong_in_the_report_is_stored_and_counted_on_the_model_page(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    sid, ids = seed_tracks(url)
    f = connect(url)
    alert_id = next(a.id for a in data.alerts(f, sid) if a.student_id == ids["Student 5"])
    at = page(url, tmp_path, monkeypatch, sid, view="views/report.py")
    at.segmented_control(key=f"report_mark_{alert_id}_choice").set_value("wrong").run()
    at.text_input(key=f"report_mark_{alert_id}_note").input("reading her book, not away").run()
    assert not at.exception
    assert data.alert_marks(f, sid, ADMIN) == {alert_id: data.MarkInfo(alert_id, False, "reading her book, not away")}
    other = next(a.id for a in data.alerts(f, sid) if a.student_id == ids["Student 4"])
    at.segmented_control(key=f"report_mark_{other}_choice").set_value("right").run()
    assert {m.right for m in data.alert_marks(f, sid, ADMIN).values()} == {True, False}

    at.switch_page("views/model.py").run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "alert kind" in d.value.columns).set_index("alert kind")
    assert table.loc["disengaged", "alerts raised"] == 2 and table.loc["disengaged", "alerts marked"] == 2
    assert table.loc["disengaged", "marked right"] == "50% of 2"
    assert table.loc["confused", "alerts marked"] == 0 and table.loc["confused", "marked right"] == "-"
    assert table.loc["confused", "thresholds in use"] == "opens at 0.6 held 5 s, ends at 0.4 held 5 s"  # config.toml
    assert "0 at 0.4 and 1 at 0.8 of fear+sad+angry+surprise" in shown(at, "markdown")  # the rules in full


def test_an_alert_is_marked_right_in_the_live_feed(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    sid, ids = seed_tracks(url, running=True)
    f = connect(url)
    at = page(url, tmp_path, monkeypatch, sid, view="views/live.py")
    assert not at.exception
    feed = {int(c.key.split("_")[2]): c for c in at.segmented_control if (c.key or "").startswith("live_mark_")}
    assert set(feed) == {a.id for a in data.alerts(f, sid)}  # every alert in the feed has its mark
    alert_id = next(a.id for a in data.alerts(f, sid) if a.student_id == ids["Student 4"])
    feed[alert_id].set_value("right").run()
    assert not at.exception
    assert data.alert_marks(f, sid, ADMIN) == {alert_id: data.MarkInfo(alert_id, True, "")}


def test_erasing_a_kept_student_erases_the_merged_one_and_the_marks(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    sid, ids = seed_tracks(url)
    f = connect(url)
    with f() as s:
        repo.merge_students(s, ids["Student 4"], ids["Student 5"], "admin")
        alert = next(a.id for a in repo.alerts(s, sid) if a.student_id == ids["Student 4"])
        repo.mark_alert(s, alert, "admin", False, "wrong")
        assert sum(row["marks"] for row in repo.alert_mark_summary(s)) == 1
        repo.delete_student(s, ids["Student 4"])
        left = {st.id for st in s.scalars(select(repo.Student).where(repo.Student.session_id == sid))}
        assert left == {ids["Student 1"], ids["Student 2"], ids["Student 3"]}  # Student 5's row too
        assert repo.merges(s, sid) == [] and sum(row["marks"] for row in repo.alert_mark_summary(s)) == 0
        repo.delete_session(s, sid)  # merges and marks of a whole session go with it
        assert repo.list_sessions(s) == []
