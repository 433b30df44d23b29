"""The dashboard's non-UI modules on real inputs: settings, passwords, analytics, upload checks,
report downloads, model cards, database-problem explanations, the engine subprocess wrapper."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import sys

import numpy as np
import pandas as pd
import pytest
from dashboard_support import seed_database, short_recording
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from dashboard import analytics, charts, config, data, engine_cli, model_cards, passwords, report_export, uploads
from db import aggregates
from db.repository import EXPORT_COLUMNS

# --- settings ---------------------------------------------------------------------------------

def test_relative_sqlite_urls_become_absolute_and_others_are_kept(tmp_path):
    assert config.absolute_db_url("sqlite:///class.db", cwd=tmp_path) == f"sqlite:///{tmp_path / 'class.db'}"
    assert config.absolute_db_url("postgresql://u:p@host/db") == "postgresql://u:p@host/db"
    assert config.absolute_db_url("sqlite:///:memory:") == "sqlite:///:memory:"


def test_script_arguments_win_over_the_environment(tmp_path):
    env = {config.ENV_DB: f"sqlite:///{tmp_path}/env.db"}
    s = config.load_settings(["--db", f"sqlite:///{tmp_path}/arg.db"], env)
    assert s.db_url.endswith("arg.db")
    assert s.uploads_dir == tmp_path / "uploads"  # beside the database by default
    s = config.load_settings([], env)
    assert s.db_url.endswith("env.db")
    s = config.load_settings([], {**env, config.ENV_UPLOADS: str(tmp_path / "up")})
    assert s.uploads_dir == tmp_path / "up"


# --- passwords --------------------------------------------------------------------------------

def test_passwords_are_salted_bcrypt_hashes_that_check_only_the_right_password():
    h1, h2 = passwords.hash_password("s3cret-pass"), passwords.hash_password("s3cret-pass")
    assert h1.startswith("$2") and h1 != h2 and "s3cret" not in h1
    assert passwords.check_password("s3cret-pass", h1)
    assert not passwords.check_password("s3cret-pasS", h1)
    assert not passwords.check_password("anything", "not a bcrypt hash")


def test_weak_or_mismatched_new_passwords_are_refused():
    assert "8 characters" in passwords.problem_with("short")
    assert "72 bytes" in passwords.problem_with("é" * 40)
    assert "differ" in passwords.problem_with("long enough", "long enougH")
    assert passwords.problem_with("long enough", "long enough") is None


# --- analytics --------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    url = request.getfixturevalue("postgres").new_database("demo_units") if request.param == "postgresql" else None
    seeded = seed_database(tmp_path_factory.mktemp("demo"), users=False, url=url)
    factory = data.open_database(seeded.url)
    return seeded, factory, data.observations(factory, seeded.session_id)


def test_class_mood_shares_sum_to_one_and_show_the_confusing_stretch(demo):
    _, _, frame = demo
    mood = analytics.class_mood(analytics.bin_observations(frame, 10))
    assert list(mood.index) == [float(t) for t in range(0, 120, 10)]
    assert np.allclose(mood[list(analytics.EMOTIONS)].sum(axis=1), 1.0)
    # The demo class is confused from 60 s to 85 s, and everyone is there after 20 s.
    assert mood.loc[60.0, "confusion"] > mood.loc[30.0, "confusion"] + 0.3
    assert mood.loc[0.0, "students"] == 5 and mood.loc[30.0, "students"] == 6
    worst = analytics.notable_moments(mood, "confusion", n=3, bin_s=10)
    assert set(worst["from"]) <= {"1:00", "1:10", "1:20"}
    least = analytics.notable_moments(mood, "engagement", n=1, largest=False, bin_s=10)
    assert least["from"].iloc[0] in {"0:30", "0:40", "0:50", "1:00", "1:10", "1:20"}


def test_student_timeline_and_summary(demo):
    _, _, frame = demo
    eng = analytics.student_timeline(analytics.bin_observations(frame, 10), "engagement")
    assert list(eng.index) == [f"Student {i}" for i in range(1, 7)]
    assert eng.loc["Student 3", 40.0] < 0.4 < eng.loc["Student 1", 40.0]  # Student 3 looks away 30-60 s
    assert np.isnan(eng.loc["Student 6", 0.0])  # arrives at 20 s
    emo = analytics.student_timeline(analytics.bin_observations(frame, 10), "emotion")
    assert set(emo.stack().dropna().unique()) <= set(analytics.EMOTIONS)
    summary = analytics.student_summary(analytics.bin_observations(frame, 60), {int(frame["student_id"].iloc[0]): 2})
    assert len(summary) == 6 and summary["alerts"].sum() == 2
    assert summary.loc[5, "first seen"] == "0:20" and summary.loc[5, "observations"] == 200


def test_latest_per_student_and_mood_now(demo):
    _, _, frame = demo
    latest = analytics.latest_per_student(frame, 5)
    assert len(latest) == 6 and (latest["t"] == frame["t"].max()).all()
    now = analytics.mood_now(latest)
    assert abs(sum(now[e] for e in analytics.EMOTIONS) - 1) < 1e-9
    assert analytics.mood_now(frame.iloc[:0]) == {}


def test_analytics_on_no_observations_are_empty_not_errors(demo):
    _, _, frame = demo
    empty = analytics.bin_observations(frame.iloc[:0], 5)
    assert analytics.class_mood(empty).empty
    assert analytics.student_timeline(empty).empty
    assert analytics.student_summary(empty).empty
    assert analytics.notable_moments(analytics.class_mood(empty), "confusion").empty
    assert analytics.overall(empty)["students"] == 0


def _raw_dominant(values: pd.Series) -> str:
    """Most frequent emotion; a tie goes to the one first in the label order (the documented rule)."""
    counts = values.value_counts()  # readable readings only (an unreadable one has no emotion)
    if counts.empty:
        return np.nan
    return next(e for e in analytics.EMOTIONS if counts.get(e, 0) == counts.max())


@pytest.mark.parametrize("bin_s", [5, 10, 60])
def test_sums_grouped_in_the_database_give_the_numbers_of_the_raw_observations(demo, bin_s):
    """The pages read :func:`data.binned` (GROUP BY in SQL); on the demo seed its class mood,
    timeline and student summary equal those computed in pandas from every observation, the way
    the pages computed them before."""
    seeded, factory, frame = demo
    bins = data.binned(factory, seeded.session_id, bin_s)
    emotions = list(analytics.EMOTIONS)

    binned = frame.assign(bin=(frame["t"] // bin_s) * bin_s)
    grouped = binned.groupby("bin")
    truth = pd.crosstab(binned["bin"], binned["emotion"], normalize="index").reindex(columns=emotions, fill_value=0.0)
    truth = truth.join(grouped[["engagement", "confusion"]].mean())
    truth["students"] = grouped["student_id"].nunique()
    mood = analytics.class_mood(bins)
    assert list(mood.index) == list(truth.index.astype(float))
    assert np.allclose(mood[[*emotions, "engagement", "confusion"]].to_numpy(dtype=float),
                       truth[[*emotions, "engagement", "confusion"]].to_numpy(dtype=float))
    assert mood["students"].tolist() == truth["students"].tolist()

    timeline = analytics.student_timeline(bins, "engagement")
    table = binned.pivot_table(index="student", columns="bin", values="engagement", aggfunc="mean")
    assert list(timeline.index) == list(frame.drop_duplicates("student_id")["student"])
    assert np.allclose(timeline.to_numpy(dtype=float), table.loc[timeline.index].to_numpy(), equal_nan=True)
    modes = binned.groupby(["student", "bin"])["emotion"].agg(_raw_dominant).unstack()
    emo = analytics.student_timeline(bins, "emotion")
    assert emo.fillna("-").to_numpy().tolist() == modes.loc[emo.index].fillna("-").to_numpy().tolist()

    first_id = int(frame["student_id"].iloc[0])
    summary = analytics.student_summary(bins, {first_id: 3}).set_index("student")
    g = frame.groupby("student")
    assert list(summary.index) == list(frame.drop_duplicates("student_id")["student"])
    assert summary["observations"].to_dict() == g.size().to_dict()
    assert summary["engagement"].to_dict() == g["engagement"].mean().round(2).to_dict()
    assert summary["confusion"].to_dict() == g["confusion"].mean().round(2).to_dict()
    assert summary["most frequent emotion"].to_dict() == g["emotion"].agg(_raw_dominant).to_dict()
    assert summary["first seen"].to_dict() == g["t"].min().map(analytics.format_t).to_dict()
    assert summary["last seen"].to_dict() == g["t"].max().map(analytics.format_t).to_dict()
    assert summary["alerts"].sum() == 3

    totals = analytics.overall(bins)
    assert totals["students"] == frame["student_id"].nunique() and totals["observations"] == len(frame)
    assert totals["end_t"] == frame["t"].max()
    assert np.isclose(totals["engagement"], frame["engagement"].mean())
    assert np.isclose(totals["confusion"], frame["confusion"].mean())
    # The live page's window: only the bins from ``since_t`` on, the same sums.
    since = float(frame["t"].max()) - 30
    late = data.binned(factory, seeded.session_id, bin_s, since_t=since)
    expect = analytics.bin_observations(frame[frame["t"] >= since], bin_s)
    assert np.allclose(late[list(aggregates.BIN_COLUMNS)].to_numpy(dtype=float),
                       expect[list(aggregates.BIN_COLUMNS)].to_numpy(dtype=float))
    assert data.last_observation_t(factory, seeded.session_id) == frame["t"].max()


def test_a_session_without_observations_has_empty_aggregates(demo):
    _, factory, _ = demo
    bins = data.binned(factory, 10**6, 60)  # no such session: no rows, the same columns
    assert bins.empty and set(aggregates.BIN_COLUMNS) <= set(bins.columns)
    assert analytics.class_mood(bins).empty and analytics.student_summary(bins).empty
    assert data.last_observation_t(factory, 10**6) is None


def test_time_formatting_and_bins():
    assert analytics.format_t(0) == "0:00" and analytics.format_t(75.4) == "1:15"
    assert analytics.format_t(3725) == "1:02:05" and analytics.format_t(None) == "-"
    assert analytics.auto_bin_seconds(120) == 5 and analytics.auto_bin_seconds(3600) == 120


# --- charts -----------------------------------------------------------------------------------

def test_mood_figure_has_every_emotion_both_scores_and_the_alert_spans(demo):
    _, _, frame = demo
    fig = charts.mood_figure(analytics.class_mood(analytics.bin_observations(frame, 5)), [(64.0, 85.0, "confused")],
                             bin_s=5)
    names = [t.name for t in fig.data]
    assert names == [*analytics.EMOTIONS, "engagement", "confusion"]
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(64.0, 85.0)] * 2  # shaded in both panels


def test_confusion_heatmap_row_normalised_rows_sum_to_one():
    m = [[8, 2], [1, 3]]
    z = np.asarray(charts.confusion_heatmap(m, ["a", "b"], normalise=True).data[0].z)
    assert np.allclose(z.sum(axis=1), 1) and z[0, 0] == pytest.approx(0.8)
    assert np.asarray(charts.confusion_heatmap(m, ["a", "b"]).data[0].z).tolist() == [[8, 2], [1, 3]]


# --- uploads ----------------------------------------------------------------------------------

def test_a_real_video_is_stored_under_a_generated_name(tmp_path):
    clip = short_recording(tmp_path / "My Lecture (final).mp4")
    with clip.open("rb") as f:
        stored, info = uploads.save_upload(f, "../../etc/My Lecture (final).mp4", tmp_path / "uploads")
    assert stored.parent == tmp_path / "uploads" and stored.suffix == ".mp4"
    assert len(stored.stem) == 32 and stored.stem.isalnum()  # uuid4 hex, nothing of the uploader's name
    assert stored.read_bytes() == clip.read_bytes()
    assert info.width == 640 and info.height == 360 and info.duration == pytest.approx(3.0)


@pytest.mark.parametrize("name, content, why", [
    ("notes.txt", b"hello", "not a video file"),
    ("lecture.mp4", b"this is text pretending to be a video" * 100, "not a video OpenCV can open"),
])
def test_uploads_are_checked_by_extension_and_by_content(tmp_path, name, content, why):
    with pytest.raises(uploads.UploadRejected, match=why):
        uploads.save_upload(io.BytesIO(content), name, tmp_path / "uploads")
    assert not list((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else True


# --- report downloads -------------------------------------------------------------------------

def _content(demo) -> report_export.ReportContent:
    seeded, factory, frame = demo
    mood = analytics.class_mood(analytics.bin_observations(frame, 5))
    return report_export.ReportContent(
        session=data.get_session(factory, seeded.session_id), mood=mood, bin_s=5,
        figures={"Class mood over time": charts.mood_figure(mood, bin_s=5)},
        summary=analytics.student_summary(analytics.bin_observations(frame, 5)), confused=analytics.notable_moments(mood, "confusion"),
        disengaged=analytics.notable_moments(mood, "engagement", largest=False),
        alerts=pd.DataFrame([{"from": "1:04", "to": "1:25", "who": "whole class", "kind": "confused", "message": "x"}]),
    )


def test_csv_download_streams_exactly_the_export_columns_and_every_observation(demo):
    seeded, factory, frame = demo
    back = pd.read_csv(report_export.csv_file(factory, seeded.session_id))
    assert tuple(back.columns) == EXPORT_COLUMNS
    assert len(back) == len(frame) == 1400
    # The same values as the observations, in the same order (by time, then student).
    expected = frame[list(EXPORT_COLUMNS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(back.drop(columns=["wall_time"]), expected.drop(columns=["wall_time"]),
                                  check_dtype=False)
    assert (pd.to_datetime(back["wall_time"]) == pd.to_datetime(expected["wall_time"])).all()


def test_html_report_is_self_contained(demo):
    page = report_export.html_report(_content(demo))
    assert "Class report: Demo: algebra, period 2" in page
    assert "Plotly.newPlot" in page and "plotly.js" in page  # the library itself is inlined...
    assert not re.search(r"<script[^>]*\bsrc=", page)  # ...no script is fetched from anywhere
    assert len(page) > 1_000_000 and "Student 6" in page


def test_pdf_report_renders_names_outside_latin1(demo):
    content = _content(demo)
    content.summary.loc[0, "student"] = "Zoë Łukasiewicz 王"
    pdf = report_export.pdf_report(content)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000


# --- model cards ------------------------------------------------------------------------------

def test_model_cards_and_the_comparison_with_published_figures(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps({
        "name": "mine", "parameters": 1000, "public_test": {"accuracy": 0.66},
        "private_test": {"accuracy": 0.67, "top2": 0.8}, "private_test_flip_tta": {"accuracy": 0.69},
        "faces_per_second_cpu_batch64": 1500}))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"something": "else"}))
    cards = model_cards.read_cards(tmp_path)
    assert [c.name for c in cards] == ["mine"]
    table = model_cards.cards_table(cards)
    assert table.loc[0, "PrivateTest + flip TTA"] == 0.69
    rows = model_cards.comparison_rows(cards, [])
    assert list(rows["accuracy"]) == sorted(rows["accuracy"], reverse=True)
    assert {"ours: mine", "ours: mine + flip TTA", "Kaggle 2013 winner"} <= set(rows["name"])
    assert rows.set_index("name").loc["Kaggle 2013 winner", "accuracy"] == pytest.approx(0.712)


def test_misclassified_faces_are_read_only_when_the_file_is_there(tmp_path):
    assert model_cards.read_misclassified(tmp_path, "mine") is None
    np.savez(tmp_path / "mine.misclassified.npz", images=np.zeros((3, 48, 48), np.uint8),
             true=np.array([0, 1, 2]), pred=np.array([6, 6, 6]))
    wrong = model_cards.read_misclassified(tmp_path, "mine")
    assert wrong.images.shape == (3, 48, 48) and list(wrong.pred) == [6, 6, 6]


# --- database problems ------------------------------------------------------------------------

def test_a_locked_database_is_explained_as_busy(tmp_path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
        with pytest.raises(OperationalError) as caught, engine.connect() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        problem = data.explain(caught.value, "x")
        assert problem.kind == "busy" and "Try again" in str(problem)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_database_of_another_program_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE class_sessions (id INTEGER PRIMARY KEY, title TEXT)")
        old.execute("INSERT INTO class_sessions (title) VALUES ('from last year')")
    with pytest.raises(data.DatabaseProblem, match="not this software's") as caught:
        data.open_database(f"sqlite:///{path}")
    assert caught.value.kind == "unusable"
    with sqlite3.connect(path) as old:
        assert old.execute("SELECT title FROM class_sessions").fetchall() == [("from last year",)]


def test_a_missing_column_is_explained_with_the_upgrade_command():
    problem = data.explain(Exception("no such column: class_sessions.heartbeat_at"), "sqlite:///x.db")
    assert problem.kind == "outdated" and "python -m db upgrade --db sqlite:///x.db" in str(problem)
    assert "x.db" not in problem.for_teacher and "admin" in problem.for_teacher  # teachers see nothing of the server
    locked = data.explain(Exception("database is locked"), "postgresql://u:secret@db.school/x")
    assert locked.kind == "busy" and "secret" not in str(locked) and "db.school" not in locked.for_teacher


def test_a_database_in_a_missing_folder_is_unusable(tmp_path):
    with pytest.raises(data.DatabaseProblem, match="does not exist"):
        data.open_database(f"sqlite:///{tmp_path}/no/such/folder/x.db")


# --- engine subprocess ------------------------------------------------------------------------

def test_engine_errors_are_reported_in_the_engines_words(tmp_path):
    job = engine_cli._launch("process", [sys.executable, "-c",
                                         "import os, sys; print(os.environ['CLASSROOM_DB']); "
                                         "print('W0000 00:00:1.2 noise', file=sys.stderr); "
                                         "print('error: not a video: x.mp4', file=sys.stderr); sys.exit(2)"],
                             "sqlite:///unused.db", tmp_path, "x")
    job.proc.wait(30)
    assert job.returncode == 2 and job.error_message() == "not a video: x.mp4"
    # The database URL reaches the engine through its environment, not its (world-readable) command line.
    assert job.stdout_path.read_text().strip() == "sqlite:///unused.db"
    assert job.result() is None


def test_stop_sends_sigint_first(tmp_path):
    # The engine installs its own SIGINT handler; this stand-in must too, or it inherits SIG_IGN
    # when the tests run in a background job (nohup make test &) and never sees the signal.
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "try:\n    print('ready', flush=True); time.sleep(60)\n"
            "except KeyboardInterrupt:\n    print('{\"stopped\": true}'); sys.exit(0)\n")
    job = engine_cli._launch("live", [sys.executable, "-c", code], "sqlite:///unused.db", tmp_path, "y")
    import time

    deadline = time.monotonic() + 60  # until the interpreter is up (slow on a loaded machine) and waiting
    while "ready" not in job.stdout_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine_cli.stop(job, grace_s=10) == 0
    assert job.result() == {"stopped": True}


def test_face_grid_inlines_each_face_as_a_decodable_png_with_its_caption():
    import base64

    from PIL import Image

    from dashboard.face_grid import face_grid_html

    faces = np.stack([np.full((48, 48), 30, np.uint8), np.full((48, 48), 200, np.uint8)])
    out = face_grid_html(faces, ["sad read as fear", "<b>x</b>"])
    uris = re.findall(r"src='data:image/png;base64,([^']+)'", out)
    assert len(uris) == 2
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uris[1]))))
    assert decoded.shape == (48, 48) and int(decoded[0, 0]) == 200
    assert "sad read as fear" in out and "<b>x</b>" not in out  # captions are escaped
    with pytest.raises(ValueError):
        face_grid_html(faces, ["only one caption"])


FORMULAS = ["=1+1", "=HYPERLINK(\"http://x\",\"y\")", "@SUM(A1)", "+1", "-2"]  # names are stripped: no tab or CR first


def test_names_that_start_like_formulas_are_neutralised_in_every_csv(db_url, tmp_path):
    """A teacher's rename is the one free text in the CSV; a spreadsheet runs a cell that starts
    with = + - @ (or a tab or carriage return). Both exports write it behind an apostrophe."""
    import csv

    from dashboard.demo import seed_demo
    from db import connect
    from db import repository as repo
    from engine import cli

    sid = seed_demo(db_url, students=len(FORMULAS), seconds=4.0, with_evaluation=False)
    with connect(db_url)() as s:
        students = repo.students(s, sid)
        for st, name in zip(students, FORMULAS, strict=True):
            repo.rename_student(s, st.id, name)
    expected = {"'" + n for n in FORMULAS}
    dashboard_csv = io.StringIO(newline="")
    data.export_csv(data.open_database(db_url), sid, dashboard_csv)
    out = tmp_path / "o.csv"
    assert cli.main(["export", "--db", db_url, "--session", str(sid), "--csv", str(out)]) == 0
    for text_ in (dashboard_csv.getvalue(), out.read_text(encoding="utf-8")):
        rows = list(csv.DictReader(io.StringIO(text_, newline="")))
        assert {r["student"] for r in rows} == expected
        assert len(rows) == len(data.observations(data.open_database(db_url), sid))
