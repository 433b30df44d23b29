"""The Live class page's screen source (dashboard/screen_source.py) and live view
(dashboard/live_view.py), through streamlit.testing.v1.AppTest against an Xvfb display."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from benchmarks.virtual_screen import VirtualScreen, xvfb_available

REPO = Path(__file__).resolve().parents[1]

SCREEN_APP = """
import sys
sys.path.insert(0, {repo!r})
import streamlit as st
from dashboard import screen_source
st.session_state["engine_args"] = screen_source.options()
"""

VIEW_APP = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
import streamlit as st
from dashboard import live_view
uploads = Path({uploads!r})
if st.session_state.get("start"):
    st.session_state["engine_args"] = live_view.engine_args(uploads)
live_view.show(uploads)
"""


def app(tmp_path, text: str, **values) -> AppTest:
    path = tmp_path / "app.py"
    path.write_text(text.format(repo=str(REPO), **values))
    return AppTest.from_file(str(path), default_timeout=30)


@pytest.fixture(scope="module")
def screen():
    if not xvfb_available():
        pytest.skip("Xvfb not installed (apt-get install -y xvfb)")
    with VirtualScreen((1024, 640)) as vs:
        vs.show(np.full((640, 1024, 3), 70, np.uint8))
        yield vs


def test_without_a_display_the_source_explains_and_cannot_start(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    at = app(tmp_path, SCREEN_APP).run()
    assert not at.exception
    assert at.session_state["engine_args"] is None
    assert "no screen to capture" in at.warning[0].value


def test_monitor_and_region_become_engine_arguments(tmp_path, monkeypatch, screen):
    monkeypatch.setenv("DISPLAY", screen.display)
    at = app(tmp_path, SCREEN_APP).run()
    assert not at.exception
    assert at.selectbox(key="live_screen_monitor").value.label == "Monitor 1 (1024×640)"
    assert at.session_state["engine_args"] == ["--screen", "--monitor", "1"]

    at.checkbox(key="live_screen_part").check().run()
    at.number_input(key="live_screen_x").set_value(100).run()
    at.number_input(key="live_screen_w").set_value(640).run()
    at.number_input(key="live_screen_h").set_value(360).run()
    assert at.session_state["engine_args"] == ["--screen", "--monitor", "1", "--region", "100,0,640,360"]

    at.number_input(key="live_screen_x").set_value(500).run()  # 500 + 640 > 1024
    assert at.session_state["engine_args"] is None
    assert "reaches outside the monitor" in at.error[0].value

    at.number_input(key="live_screen_x").set_value(0).run()
    at.toggle(key="live_screen_preview").set_value(True).run()
    assert not at.exception
    assert len(at.get("image")) == 1  # the thumbnail of what will be analysed


def test_the_live_view_shows_the_engines_latest_frame(tmp_path):
    uploads = tmp_path / "uploads"
    at = app(tmp_path, VIEW_APP, uploads=str(uploads)).run()
    assert "appears when the engine has analysed its first frame" in at.caption[0].value
    at.session_state["start"] = True
    at.run()
    args = at.session_state["engine_args"]
    assert args[0] == "--preview" and Path(args[1]).parent == uploads / "live-view"
    ok, jpeg = cv2.imencode(".jpg", np.zeros((90, 160, 3), np.uint8))
    Path(args[1]).write_bytes(jpeg.tobytes())
    at.session_state["start"] = False
    at.run()
    assert len(at.get("image")) == 1
    old = time.time() - 60
    os.utime(args[1], (old, old))
    at.run()
    assert "no newer frame" in at.get("image")[0].captions[0]
