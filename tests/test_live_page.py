"""The Live class page (dashboard/views/live.py) with the screen and browser-camera sources,
through streamlit.testing.v1.AppTest: the real page, the real engine subprocess, a real SQLite
file, an Xvfb screen showing a gallery."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest
from live_support import load_demo_module
from streamlit.testing.v1 import AppTest

from benchmarks.virtual_screen import VirtualScreen, xvfb_available
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from db import connect
from db import repository as repo
from db.models import SessionStatus

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "dashboard" / "views" / "live.py")
SOURCE_LABELS = ["Local camera", "Screen (online class)", "Browser camera"]


@pytest.fixture
def page(tmp_path, monkeypatch):
    db_url = f"sqlite:///{tmp_path / 'class.db'}"
    monkeypatch.setenv(ENV_DB, db_url)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    with connect(db_url)() as s:  # the teacher's account: the class is filed under a course they own
        repo.add_user(s, "teacher", "not-a-bcrypt-hash", "teacher")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state[USER_KEY] = SignedInUser("teacher", "teacher")
    yield at, db_url, tmp_path / "uploads"
    job = at.session_state["live_job"] if "live_job" in at.session_state else None
    if job is not None and job.running:
        job.proc.kill()
        job.proc.wait()


def choose(at: AppTest, label: str) -> AppTest:
    at.selectbox(key="live_source").set_value(SOURCE_LABELS.index(label)).run()
    return at


def test_the_page_offers_the_screen_and_the_browser_camera(page, monkeypatch):
    at, _, uploads = page
    monkeypatch.delenv("DISPLAY", raising=False)
    at.run()
    assert not at.exception
    labels = list(at.selectbox(key="live_source").options)
    assert labels == SOURCE_LABELS
    # Without a display the screen source explains itself, and the class cannot be started.
    choose(at, "Screen (online class)")
    assert "no screen to capture" in at.warning[0].value
    assert at.button(key="live_start").disabled
    choose(at, "Browser camera")
    assert not at.button(key="live_start").disabled
    assert any("https:// or on localhost" in c.value for c in at.caption)


@pytest.mark.slow
@pytest.mark.skipif(not xvfb_available(), reason="Xvfb not installed (apt-get install -y xvfb)")
def test_a_screen_class_is_started_watched_and_stopped_from_the_page(page, monkeypatch, fer_data, tmp_path):
    from training import modelio

    if not modelio.DEFAULT_MODEL.exists():
        pytest.skip(f"the page starts the engine with the shipped model, and {modelio.DEFAULT_MODEL} is not there yet")
    at, db_url, uploads = page
    demo = load_demo_module()
    test = fer_data.split("PrivateTest")
    schedule = [demo.Segment(tile=i, start=0, end=2, label="neutral", face=int(f))
                for i, f in enumerate(test.labels.nonzero()[0][:4])]
    video = tmp_path / "gallery.mp4"
    demo.render_gallery(video, test.images, schedule, size=(640, 400), grid=(2, 2), fps=5, duration=0.4)
    ok, picture = cv2.VideoCapture(str(video)).read()
    assert ok
    with VirtualScreen((800, 600)) as screen:
        screen.show(picture, at=(50, 100))
        monkeypatch.setenv("DISPLAY", screen.display)
        at.run()
        choose(at, "Screen (online class)")
        at.checkbox(key="live_screen_part").check().run()
        at.number_input(key="live_screen_x").set_value(50).run()
        at.number_input(key="live_screen_y").set_value(100).run()
        at.number_input(key="live_screen_w").set_value(640).run()
        at.number_input(key="live_screen_h").set_value(400).run()
        at.button(key="live_start").click().run()
        job = at.session_state["live_job"]
        assert job.command[3:11] == ["live", "--screen", "--monitor", "1", "--region", "50,100,640,400",
                                     "--preview", job.command[10]]
        # Wait for the engine (model loading, first frames), then look at the page again.
        deadline = time.time() + 120
        while time.time() < deadline and job.running:
            with connect(db_url)() as s:
                sessions = repo.list_sessions(s)
                if sessions and len(repo.students(s, sessions[0].id)) == 4 and Path(job.command[10]).exists():
                    break
            time.sleep(1.0)
        assert job.running, job.error_message()
        at.run()
        assert not at.exception
        assert at.metric[0].label == "Students in view" and at.metric[0].value == "4"
        assert at.get("image"), "the live view is shown"
        at.button(key="live_stop").click().run()
        assert not job.running
    with connect(db_url)() as s:
        (session,) = repo.list_sessions(s)
        assert session.status == SessionStatus.complete and session.source_kind == "screen"
    assert not Path(job.command[10]).exists()  # the live view does not outlive the class


def test_a_browser_camera_class_without_any_picture_records_nothing(page, tmp_path):
    """Camera refused in the browser: no picture reaches the feed, so the engine is still waiting
    for its first one (engine/feed.py) when the class is stopped, and no session exists."""
    at, db_url, uploads = page
    at.run()
    choose(at, "Browser camera")
    at.button(key="live_start").click().run()
    job = at.session_state["live_job"]
    assert "--feed" in job.command
    feed = Path(job.command[job.command.index("--feed") + 1])
    assert feed.parent == uploads / "browser-camera" and not feed.exists()
    assert not at.exception  # the camera panel (a browser component) is on the page
    job.proc.terminate()  # the teacher stops the class before any picture came
    job.proc.wait(timeout=30)
    at.run()
    with connect(db_url)() as s:
        assert repo.list_sessions(s) == []
