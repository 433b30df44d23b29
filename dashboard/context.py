"""Per-run context for pages: the settings and the (process-wide, per-URL) session factory."""

from __future__ import annotations

import sys

import streamlit as st
from sqlalchemy.orm import sessionmaker

from dashboard.config import Settings, load_settings
from dashboard.data import open_database


def settings() -> Settings:
    # Not cached: cheap, and tests run several apps with different databases in one process.
    return load_settings(sys.argv[1:])


@st.cache_resource(show_spinner=False)
def _factory(url: str) -> sessionmaker:
    return open_database(url)


def factory() -> sessionmaker:
    return _factory(settings().db_url)
