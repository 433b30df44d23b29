"""``python -m engine live --screen`` end to end: a gallery on an Xvfb screen, the engine in its
own process as a teacher runs it, stopped with Ctrl-C (SIGINT); and its bad-input messages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from live_support import load_demo_module
from sqlalchemy import func, select

from benchmarks.virtual_screen import VirtualScreen, xvfb_available
from db import connect
from db import repository as repo
from db.models import Observation, SessionStatus

REPO = Path(__file__).resolve().parents[1]


def engine(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", "live", *args], cwd=REPO, env=env or os.environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("args, words", [
    (["--screen"], "no screen to capture: $DISPLAY is not set"),
    (["--region", "0,0,10,10"], "--monitor and --region choose what --screen captures"),
    (["--screen", "--region", "0,0,10"], "region must be x,y,w,h"),
    (["--screen", "--camera", "0"], "not allowed with argument"),
])
def test_bad_screen_options_are_one_clear_line(args, words, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = engine(*args, "--db", f"sqlite:///{tmp_path / 'c.db'}", env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.startswith("error: ") and words in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.db").exists() or _sessions(f"sqlite:///{tmp_path / 'c.db'}") == []


def _frames_analysed(db_url: str, n: int) -> bool:
    """The engine's session exists and has recorded progress past ``n`` frames."""
    if not Path(db_url.removeprefix("sqlite:///")).exists():
        return False
    with connect(db_url)() as s:
        sessions = repo.list_sessions(s)
        return bool(sessions) and sessions[0].frames_analyzed >= n


def _sessions(db_url):
    with connect(db_url)() as s:
        return repo.list_sessions(s)


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory) -> Path:
    from training import modelio

    if modelio.DEFAULT_MODEL.exists():
        return modelio.DEFAULT_MODEL
    from training.architectures import build

    path = tmp_path_factory.mktemp("model") / "fer_fast_untrained.keras"
    build("fer_fast").save(path)
    return path


@pytest.mark.slow
@pytest.mark.skipif(not xvfb_available(), reason="Xvfb not installed (apt-get install -y xvfb)")
def test_a_gallery_on_the_screen_is_recorded_live_and_ctrl_c_completes_the_session(
        fer_data, untrained_model, tmp_path):
    demo = load_demo_module()
    test = fer_data.split("PrivateTest")
    schedule = [demo.Segment(tile=i, start=0, end=2, label="neutral", face=int(f))
                for i, f in enumerate(test.labels.nonzero()[0][:4])]
    video = tmp_path / "gallery.mp4"
    demo.render_gallery(video, test.images, schedule, size=(640, 400), grid=(2, 2), fps=5, duration=0.4)
    ok, picture = cv2.VideoCapture(str(video)).read()
    assert ok
    db_url = f"sqlite:///{tmp_path / 'class.db'}"
    preview = tmp_path / "view" / "live.jpg"
    with VirtualScreen((800, 600)) as screen:
        # The meeting window starts minimised: the engine watches an empty screen ...
        proc = engine("--screen", "--region", "50,100,640,400", "--db", db_url, "--model", str(untrained_model),
                      "--preview", str(preview), "--no-progress", "--title", "Online class",
                      env={**os.environ, "DISPLAY": screen.display})
        try:
            deadline = time.time() + 90
            while time.time() < deadline and proc.poll() is None and not _frames_analysed(db_url, 5):
                time.sleep(0.3)
            assert proc.poll() is None, proc.communicate(timeout=30)
            with connect(db_url)() as s:  # ... which is absence, not an error: no rows, still running
                assert s.scalar(select(func.count()).select_from(Observation)) == 0
                assert repo.list_sessions(s)[0].status == SessionStatus.running
            screen.show(picture, at=(50, 100))  # ... then the gallery appears
            # The detector planned on an empty screen: its stopgap plan is searched again within
            # recalibrate_empty_s (10 s), then all four students are found, committed while running.
            appeared, seen, students = time.time(), 0, 0
            while time.time() < deadline and proc.poll() is None and students < 4:
                time.sleep(0.5)
                with connect(db_url)() as s:
                    seen = s.scalar(select(func.count()).select_from(Observation))
                    students = len(repo.students(s, repo.list_sessions(s)[0].id))
            assert students == 4 and seen > 0, proc.communicate(timeout=30)
            assert time.time() - appeared < 10 + 5
            assert preview.exists()  # the live view is kept up to date while running ...
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert not preview.exists()  # ... and removed when the class ends
    with connect(db_url)() as s:
        (session,) = repo.list_sessions(s)
        assert session.status == SessionStatus.complete
        assert session.source_kind == "screen" and session.source == "screen 1 region 50,100,640,400"
        assert "stopped by SIGINT" in session.note
        assert len(repo.students(s, session.id)) == 4
