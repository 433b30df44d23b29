"""Helpers shared by the tests/test_dashboard_*.py files (imported explicitly, not a conftest):
a seeded SQLite database (the demo class through db.repository, an evaluation, two accounts),
a free port, the real dashboard server on one, and a short real recording cut from the demo
gallery video."""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dashboard.demo import seed_demo
from db import connect
from db import repository as repo

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "dashboard" / "app.py")
DEMO_VIDEO = REPO / "assets" / "demo_class.mp4"
PASSWORD = "correct-horse-battery"


@functools.cache
def password_hash() -> str:
    # bcrypt is slow on purpose: hash once per test run, reuse for every seeded account.
    from dashboard.passwords import hash_password

    return hash_password(PASSWORD)


@dataclass(frozen=True)
class Seeded:
    url: str
    path: Path
    session_id: int


def seed_database(folder: Path, users: bool = True, live: bool = False, url: str | None = None) -> Seeded:
    """A demo class of 6 students over 2 minutes (observations, 3 alerts), a stored model
    evaluation and, with ``users``, an admin and a teacher account, the teacher owning the demo's
    course "Algebra" (so they see its sessions); in a SQLite file in ``folder`` unless ``url``
    names another (empty) database."""
    path = folder / "classroom.db"
    url = url or f"sqlite:///{path}"
    if live:
        seed_demo(url, live=True, seconds=75.0, title="Live: physics", with_evaluation=False)
    session_id = seed_demo(url)
    if users:
        with connect(url)() as s:
            repo.add_user(s, "admin", password_hash(), "admin")
            repo.add_user(s, "teacher", password_hash(), "teacher")
            repo.set_course_owner(s, repo.get_or_create_course(s, "Algebra").id, "teacher")
    return Seeded(url, path, session_id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(base: str, proc: subprocess.Popen, up_s: float = 30) -> None:
    """Until the Streamlit server at ``base`` answers its health check; RuntimeError when it
    exits or takes longer than ``up_s``."""
    deadline = time.monotonic() + up_s
    while True:
        try:
            urllib.request.urlopen(base + "/_stcore/health", timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the server at {base} did not come up in {up_s:g} s") from None
            time.sleep(0.25)


@contextmanager
def dashboard_server(db_url: str, up_s: float = 30) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m dashboard`` on a free port of localhost (a page the browser gives a camera to)
    serving ``db_url``, once it answers its health check: its base URL and process; stopped after."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port), "--db", db_url],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://localhost:{port}"
    try:
        wait_until_healthy(base, proc, up_s)
        yield base, proc
    finally:
        stop_process(proc, 20)


def stop_process(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not ended after ``grace_s`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def short_recording(path: Path, frames: int = 15, size: tuple[int, int] = (640, 360)) -> Path:
    """The first ``frames`` frames of the demo gallery video (5 fps: 3 s), made smaller; or,
    without the asset, moving noise (a video without faces)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, size)
    cap = cv2.VideoCapture(str(DEMO_VIDEO)) if DEMO_VIDEO.exists() else None
    rng = np.random.default_rng(0)
    for _ in range(frames):
        ok, frame = cap.read() if cap is not None else (False, None)
        if not ok:
            frame = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        writer.write(cv2.resize(frame, size))
    writer.release()
    if cap is not None:
        cap.release()
    return path
