"""Per-run context for pages: the settings, the (process-wide, per-URL) session factory, and the
session's sums per time bin per student (cached while the session's data stays the same)."""

from __future__ import annotations

import sys

import pandas as pd
import streamlit as st
from sqlalchemy.orm import sessionmaker

from dashboard import analytics, data
from dashboard.config import Settings, load_settings
from dashboard.data import open_database

BASE_BIN_S = 5  # the sums are fetched per 5 s and regrouped for any width that is a multiple of it


def settings() -> Settings:
    # Not cached: cheap, and tests run several apps with different databases in one process.
    return load_settings(sys.argv[1:])


@st.cache_resource(show_spinner=False)
def _factory(url: str) -> sessionmaker:
    return open_database(url)


def factory() -> sessionmaker:
    return _factory(settings().db_url)


@st.cache_data(show_spinner=False, max_entries=32)
def _sums(url: str, session_id: int, bin_s: float, last_t: float | None, roster: tuple[int, ...]) -> pd.DataFrame:
    # ``last_t`` and ``roster`` are only in the key: a running session's new observations move
    # last_t, a merge of two students changes the roster; otherwise the sums are what they were.
    return data.binned(_factory(url), session_id, bin_s, names=False)


def binned(session_id: int, bin_s: int) -> pd.DataFrame:
    """:func:`dashboard.data.binned` for the pages: one GROUP BY over the session's observations per
    5 s bin (cached: a widget change or another page regroups those in pandas instead of querying
    again), with the students' current names."""
    f = factory()
    roster = data.students(f, session_id)
    last_t = data.last_observation_t(f, session_id)
    base = BASE_BIN_S if bin_s % BASE_BIN_S == 0 else bin_s
    bins = _sums(settings().db_url, session_id, base, last_t, tuple(s.id for s in roster))
    if base != bin_s:
        bins = analytics.coarsen(bins, bin_s)
    names = {s.id: s.display_name for s in roster}
    return bins.assign(student=bins["student_id"].map(names))
