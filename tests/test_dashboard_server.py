"""`python -m dashboard` as a user starts it: it serves, answers Streamlit's health check within
seconds, and refuses a busy port or an unusable database with one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

from dashboard_support import REPO, free_port, seed_database


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_serves_and_answers_the_health_check_within_seconds(tmp_path):
    seeded = seed_database(tmp_path)
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port), "--db", seeded.url],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        answer, waited = None, 0.0
        while time.monotonic() - started < 30 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as r:
                    answer = r.read().decode().strip()
                    break
            except OSError:
                time.sleep(0.25)
        waited = time.monotonic() - started
        assert answer == "ok", f"no health answer (exit code {proc.poll()})"
        assert waited < 20, f"took {waited:.1f} s"
        with urllib.request.urlopen(f"http://localhost:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<div id=\"root\">" in r.read()
        # An image served by Streamlit (as st.image's /media files are): HTTP 500 when starlette 1.5+
        # sits under Streamlit 1.60 (requirements.txt pins starlette 1.4.1).
        with urllib.request.urlopen(f"http://localhost:{port}/favicon.png", timeout=5) as r:
            assert r.status == 200 and r.read().startswith(b"\x89PNG")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"Dashboard: http://localhost:{port}" in out


def test_a_port_in_use_is_refused_with_a_suggestion(tmp_path):
    with socket.socket() as busy:
        busy.bind(("localhost", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("--port", str(port), "--db", f"sqlite:///{tmp_path}/x.db")
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: port {port} is in use; try --port ")
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_unusable_database_is_refused_before_serving(tmp_path):
    r = run_cli("--port", str(free_port()), "--db", f"sqlite:///{tmp_path}/missing/folder/x.db")
    assert r.returncode == 2
    assert "error:" in r.stderr and "does not exist" in r.stderr and "Traceback" not in r.stderr
