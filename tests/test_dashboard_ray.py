"""``python -m dashboard --ray ADDRESS``: the Recordings page submits each upload to that Ray
cluster through ``python -m engine batch FILE --ray ADDRESS`` (the same path a terminal takes)
and shows its progress from the database as for a local engine. The end-to-end test uses
``--ray local`` (an embedded cluster started by the engine's command): no real cluster here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dashboard_support import APP, free_port, seed_database, short_recording
from streamlit.testing.v1 import AppTest

from dashboard import __main__ as dashboard_main
from dashboard import config, engine_cli
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_RAY, ENV_UPLOADS
from db import connect
from db import repository as repo


def _title(cmd: list[str]) -> str | None:
    if "--title" in cmd:
        return cmd[cmd.index("--title") + 1]
    return next((a.removeprefix("--title=") for a in cmd if a.startswith("--title=")), None)


def test_with_an_address_an_upload_goes_to_engine_batch_on_that_cluster(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    video = tmp_path / "up" / "0123abcd.mp4"
    cmd = engine_cli.processing_command(video, url, fps=2.0, title="Week 3", emotions=True, ray="10.1.2.3:6379")
    assert cmd[:4] == [sys.executable, "-m", "engine", "batch"]
    assert cmd[4] == str(video) and cmd[cmd.index("--ray") + 1] == "10.1.2.3:6379"
    assert cmd[cmd.index("--fps") + 1] == "2" and _title(cmd) == "Week 3"
    assert "--delete-input" in cmd and cmd[-1] == "--json" and "--no-progress" not in cmd  # batch has no bar
    assert url not in " ".join(cmd)  # the database goes through the environment
    kept = engine_cli.processing_command(video, url, keep=True, emotions=False, ray="local")
    assert "--delete-input" not in kept and "--no-emotions" in kept and "local" in kept
    # without an address: a local engine process, as before
    local = engine_cli.processing_command(video, url, fps=2.0, title="Week 3", emotions=True)
    assert local[:4] == [sys.executable, "-m", "engine", "process"] and "--ray" not in local
    assert "--no-progress" in local and "--delete-input" in local


def test_the_address_reaches_the_page_from_the_command_line_or_the_environment(tmp_path):
    assert config.load_settings(["--ray", "head:6379"], environ={}).ray_address == "head:6379"
    assert config.load_settings([], environ={ENV_RAY: "auto"}).ray_address == "auto"
    assert config.load_settings(["--ray", "local"], environ={ENV_RAY: "auto"}).ray_address == "local"
    assert config.load_settings([], environ={}).ray_address is None
    cmd = dashboard_main.streamlit_command(8501, "localhost", "sqlite:///x.db", tmp_path, "head:6379")
    assert cmd[-2:] == ["--ray", "head:6379"]
    assert "--ray" not in dashboard_main.streamlit_command(8501, "localhost", "sqlite:///x.db", tmp_path)


def test_an_address_where_no_ray_head_answers_is_refused_at_start(tmp_path, capsys):
    port = free_port()  # nothing listens there
    code = dashboard_main.main(["--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", str(free_port()),
                                "--ray", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: no Ray cluster answers at 127.0.0.1:") and len(err.splitlines()) == 1
    assert dashboard_main.ray_head_problem("headnode").startswith("--ray takes local, auto or HOST:PORT")
    assert dashboard_main.ray_head_problem("local") is None and dashboard_main.ray_head_problem("auto") is None


def test_a_batch_report_reads_as_the_page_expects(tmp_path):
    """engine batch's --json object gives the page its session id, and a failed recording its reason."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    out, err = tmp_path / "j.out", tmp_path / "j.err"
    err.write_text("[1/1] x.mp4: failed: not a readable video in 0.1 s\n")
    job = engine_cli.EngineJob("process", ["engine", "batch"], proc, out, err, ray_address="local")
    out.write_text(json.dumps({"engine": "ray", "recordings": 1, "sessions": [{"path": "/u/x.mp4", "session_id": 7,
                                                                              "status": "complete"}],
                               "failed": [], "wall_seconds": 3.5}) + "\n")
    assert job.result()["session_id"] == 7
    out.write_text(json.dumps({"engine": "ray", "recordings": 1, "sessions": [],
                               "failed": [{"path": "/u/x.mp4", "error": "not a readable video: x.mp4"}],
                               "wall_seconds": 3.5}) + "\n")
    assert job.error_message() == "not a readable video: x.mp4"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (requirements.txt)")
def test_an_upload_is_analysed_on_a_local_ray_cluster_with_progress(tmp_path, monkeypatch):
    from engine_support import need_model

    need_model()
    seeded = seed_database(tmp_path)
    monkeypatch.setenv(ENV_DB, seeded.url)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    monkeypatch.setenv(ENV_RAY, "local")  # what `python -m dashboard --ray local` puts in the environment
    # The page's own upload form runs engine_cli.start_processing(..., ray=settings.ray_address): the
    # job is started the same way here, and the page then shows it from its session state.
    settings = config.load_settings([])
    assert settings.ray_address == "local"
    upload = tmp_path / "uploads" / "5f0c2d9e8a7b4c3d2e1f0a9b8c7d6e5f.mp4"
    upload.parent.mkdir()
    short_recording(upload)
    job = engine_cli.start_processing(upload, settings.db_url, tmp_path / "uploads" / "engine-logs", fps=2.0,
                                      title="Week 4 physics.mp4", ray=settings.ray_address)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[USER_KEY] = SignedInUser("admin", "admin")
    at.session_state["processing_job"] = job
    at.switch_page("views/recordings.py").run()
    assert job.command[3] == "batch" and job.command[job.command.index("--ray") + 1] == "local"
    assert Path(job.command[4]) == upload
    progress_texts = set()
    deadline = time.time() + 150
    while job.running and time.time() < deadline:
        progress_texts |= {p.proto.text for p in at.get("progress")}
        time.sleep(1)
        at.run()
    assert not job.running, "the Ray batch did not finish in 150 s"
    at.run()
    assert not at.exception
    assert job.returncode == 0, (job.error_message(), job.stderr_tail(30))
    assert any("on Ray (local)" in t or "analysed" in t for t in progress_texts), progress_texts
    assert "Week 4 physics.mp4** analysed on Ray (local)" in "\n".join(str(e.value) for e in at.success).replace("\\", "")
    assert job.result()["engine"] == "ray"
    assert not upload.exists()  # deleted by engine batch --delete-input, as engine process does
    new_id = job.result()["session_id"]
    with connect(seeded.url)() as s:
        session = repo.get_session(s, new_id)
        assert session.title == "Week 4 physics.mp4" and session.status.value == "complete"
        assert session.frames_analyzed in (6, 7)  # 3 s at 2 frames/s
