"""A long-ish lecture (10 minutes x 10 students at 5 fps, 30,000 observations, made as the hour-long
benchmark makes its 540,000) through the real report page (streamlit.testing), on SQLite and
PostgreSQL: the page reads sums per bin grouped in the database, and every number it shows must
equal the one computed in pandas from the raw observations, the way the pages computed them when
they read every row. Timing is benchmarked (benchmarks/long_session.py), not asserted here."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from dashboard_support import APP
from streamlit.testing.v1 import AppTest

from benchmarks.long_session import finish, generate
from dashboard import analytics
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from db import aggregates, connect, export
from db import repository as repo

EMOTIONS = list(analytics.EMOTIONS)
MINUTES, STUDENTS, FPS = 10, 10, 5.0
NAME = 'Zoë "Z", Ng'  # a name the CSV has to quote


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lecture(request, tmp_path_factory):
    """One lecture per database for the module's tests (the tests only read it)."""
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path_factory.mktemp('lecture') / 'lecture.db'}"
    else:
        db_url = request.getfixturevalue("postgres").new_database("long_lecture")
    sid = generate(db_url, MINUTES, STUDENTS, FPS)
    finish(db_url, sid, MINUTES * 60, FPS)
    with connect(db_url)() as s:
        repo.rename_student(s, repo.students(s, sid)[3].id, NAME)  # names, not only "Student N", reach the page
        raw = repo.observations_frame(s, sid)
    return db_url, sid, raw


def truth_mood(raw: pd.DataFrame, bin_s: float) -> pd.DataFrame:
    """Class mood from every observation, as the page computed it before it read aggregates."""
    binned = raw.assign(bin=(raw["t"] // bin_s) * bin_s)
    shares = pd.crosstab(binned["bin"], binned["emotion"], normalize="index").reindex(columns=EMOTIONS, fill_value=0.0)
    grouped = binned.groupby("bin")
    mood = shares.join(grouped[["engagement", "confusion"]].mean())
    mood["students"] = grouped["student_id"].nunique()
    return mood


def dominant(values: pd.Series) -> str:
    """Most frequent emotion; a tie goes to the one first in the label order (the documented rule)."""
    counts = values.value_counts()
    return next(e for e in EMOTIONS if counts.get(e, 0) == counts.max())


def test_sql_bins_equal_the_bins_of_the_raw_observations(lecture):
    url, sid, raw = lecture
    with connect(url)() as s:
        for bin_s in (1, 15, 60):
            sql = aggregates.binned_observations(s, sid, bin_s)
            pandas = analytics.bin_observations(raw, bin_s)
            assert len(sql) == len(pandas)
            for c in aggregates.BIN_COLUMNS:
                assert np.allclose(sql[c].to_numpy(dtype=float), pandas[c].to_numpy(dtype=float)), (bin_s, c)
        # What the pages do: fetch 5 s sums once, regroup them for wider bins.
        fine = aggregates.binned_observations(s, sid, 5)
        for bin_s in (15, 60, 600):
            wide = analytics.coarsen(fine, bin_s)
            sql = aggregates.binned_observations(s, sid, bin_s)
            assert np.allclose(wide[list(aggregates.BIN_COLUMNS)].to_numpy(dtype=float),
                               sql[list(aggregates.BIN_COLUMNS)].to_numpy(dtype=float)), bin_s
        recent = aggregates.last_t(s, sid)
    assert recent == raw["t"].max()


def test_streamed_csv_has_every_observation_of_the_lecture(lecture):
    url, sid, raw = lecture
    out = io.StringIO(newline="")
    with connect(url)() as s:
        assert export.write_csv(s, sid, out, chunk_rows=4_000) == len(raw) == MINUTES * 60 * FPS * STUDENTS - 600
    back = pd.read_csv(io.StringIO(out.getvalue()), float_precision="round_trip")
    assert tuple(back.columns) == repo.EXPORT_COLUMNS
    expected = raw[list(repo.EXPORT_COLUMNS)].reset_index(drop=True)
    assert NAME in set(back["student"])
    pd.testing.assert_frame_equal(back.drop(columns=["wall_time"]), expected.drop(columns=["wall_time"]),
                                  check_dtype=False, check_exact=True)  # every float's digits, exactly
    assert (pd.to_datetime(back["wall_time"]) == pd.to_datetime(expected["wall_time"])).all()


def _array(value) -> np.ndarray:
    """A trace's numbers as plotly sent them: a list, or a typed array in base64 ("bdata")."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return out.reshape([int(n) for n in str(shape).split(",")]) if shape else out
    return np.asarray(value, dtype=float)


def _traces(chart) -> dict[str, dict]:
    """The chart's traces by name (the heatmap's one trace as "heatmap")."""
    data = json.loads(chart.proto.spec)["data"]
    return {t["name"]: t for t in data} if "name" in data[0] else {"heatmap": data[0]}


def test_report_of_a_long_session_shows_the_numbers_of_its_raw_observations(lecture, tmp_path, monkeypatch):
    url, sid, raw = lecture
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[USER_KEY] = SignedInUser("admin", "admin")
    at.switch_page("views/report.py").run()
    assert not at.exception, at.exception
    bin_s = at.select_slider(key="report_bin").value
    assert bin_s == analytics.auto_bin_seconds(MINUTES * 60) == 15

    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Students seen"] == str(raw["student_id"].nunique())
    assert metrics["Mean engagement"] == f"{raw['engagement'].mean():.2f}"
    assert metrics["Mean confusion"] == f"{raw['confusion'].mean():.2f}"
    assert metrics["Length analysed"] == "10:00"

    for width in (bin_s, 60):
        if width != bin_s:
            at.select_slider(key="report_bin").set_value(width).run()
            assert not at.exception
        mood = truth_mood(raw, width)
        traces = _traces(at.get("plotly_chart")[0])
        assert np.allclose(_array(traces["engagement"]["x"]), mood.index + width / 2)
        for name in [*EMOTIONS, "engagement", "confusion"]:
            assert np.allclose(_array(traces[name]["y"]), mood[name].to_numpy()), (width, name)

        # The per-student heatmap: mean engagement per student per bin, students in order of first sight.
        binned = raw.assign(bin=(raw["t"] // width) * width)
        table = binned.pivot_table(index="student", columns="bin", values="engagement", aggfunc="mean")
        heat = _traces(at.get("plotly_chart")[1])["heatmap"]
        order = list(binned.sort_values(["t", "student_id"]).drop_duplicates("student_id")["student"])
        assert list(heat["y"]) == order and NAME in order
        assert np.allclose(_array(heat["z"]).astype(float), table.loc[order].to_numpy(), equal_nan=True)

    at.radio(key="report_heatmap_value").set_value("emotion").run()
    heat = _traces(at.get("plotly_chart")[1])["heatmap"]
    binned = raw.assign(bin=(raw["t"] // 60) * 60)
    modes = binned.groupby(["student", "bin"])["emotion"].agg(dominant).unstack()
    assert np.asarray(heat["text"]).tolist() == modes.loc[list(heat["y"])].fillna("not seen").to_numpy().tolist()

    summary = next(d.value for d in at.dataframe if "most frequent emotion" in d.value.columns).set_index("student")
    g = raw.groupby("student")
    assert summary["observations"].to_dict() == g.size().to_dict()
    assert summary["engagement"].to_dict() == g["engagement"].mean().round(2).to_dict()
    assert summary["confusion"].to_dict() == g["confusion"].mean().round(2).to_dict()
    assert summary["most frequent emotion"].to_dict() == g["emotion"].agg(dominant).to_dict()
    assert summary["first seen"].to_dict() == g["t"].min().map(analytics.format_t).to_dict()
