"""Running work belongs to the server, not to a browser tab (dashboard/jobs.py): an upload's
analysis is listed with its progress and Cancel in another tab of whoever may see it (not in
another teacher's), a live class survives a reload of the page with a working Stop, and the
dashboard leaves no <defunct> engine process behind. With them, the polish of the same pages:
an empty upload is called empty, and teachers never see the database URL or server folders."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dashboard_support import APP, PASSWORD, dashboard_server, password_hash, seed_database, short_recording
from streamlit.testing.v1 import AppTest

from dashboard import engine_cli, jobs, server_details
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from db import connect
from db import repository as repo
from db.models import SessionStatus

TEACHER, BOB, ADMIN = SignedInUser("teacher", "teacher"), SignedInUser("bob", "teacher"), SignedInUser("admin", "admin")


def page(url: str, uploads: Path, monkeypatch, user: SignedInUser, path: str = "views/recordings.py") -> AppTest:
    """One browser tab of ``user`` on a page (a new AppTest is a new Streamlit session)."""
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(uploads))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[USER_KEY] = user
    return at.switch_page(path).run()


def shown(at: AppTest) -> str:
    """Everything the tab shows in words, Markdown escapes removed."""
    kinds = ("markdown", "caption", "success", "info", "warning", "error", "subheader")
    text = "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))
    text += "\n".join(p.proto.text for p in at.get("progress"))
    text += "\n".join(str(getattr(e, "help", "") or "") for e in at.get("file_uploader"))
    return re.sub(r"\\(.)", r"\1", text)


def process_state(pid: int) -> str | None:
    """The process's state letter in /proc ("Z": a zombie nobody waited for), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def zombie_children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def test_the_reaper_waits_for_an_engine_no_tab_looks_at(tmp_path):
    """A process that ends while no page polls it is collected by the registry's reaper: without
    it the ended child stays a <defunct> zombie of the dashboard until someone opens the page."""
    registry = jobs.JobRegistry()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    engine = engine_cli.EngineJob("live", ["engine", "live"], proc, tmp_path / "o", tmp_path / "e")
    job = registry.add("live", engine, owner="teacher", course_id=None, factory=connect(f"sqlite:///{tmp_path / 'x.db'}"))
    deadline = time.monotonic() + 30
    while process_state(proc.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process_state(proc.pid) is None, "the ended engine was left a zombie"
    while proc.returncode is None and time.monotonic() < deadline:  # the reaper sets it just after waitpid
        time.sleep(0.05)
    assert proc.returncode == 0 and engine.ended is not None and not job.running
    assert registry.running() == []


# An engine stand-in: counts the SIGINTs it gets while it finishes (1 s), then says how many.
COUNTS_SIGINTS = """
import signal, sys, time
got = []
signal.signal(signal.SIGINT, lambda *_: got.append(1))
print("ready", flush=True)
while not got:
    time.sleep(0.01)
time.sleep(1.0)
print(len(got), flush=True)
"""


def test_stop_pressed_twice_sends_one_sigint(tmp_path):
    """A double click on Stop (or Stop in two tabs) must not send a second SIGINT: the engine takes
    a second one as "now", and drops the batch it was writing."""
    import threading

    proc = subprocess.Popen([sys.executable, "-c", COUNTS_SIGINTS], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    engine = engine_cli.EngineJob("live", ["engine", "live"], proc, tmp_path / "o", tmp_path / "e")
    first = threading.Thread(target=engine_cli.stop, args=(engine,))
    first.start()
    time.sleep(0.3)  # the second press comes while the first waits for the engine
    assert engine_cli.stop(engine) == 0
    first.join()
    assert proc.stdout.read().strip() == "1"


def test_an_empty_upload_is_called_empty(tmp_path, monkeypatch):
    seeded = seed_database(tmp_path)
    at = page(seeded.url, tmp_path / "uploads", monkeypatch, TEACHER)
    at.file_uploader(key="recording_upload").set_value(("lecture.mp4", b"", "video/mp4"))
    at.run()
    at.button(key="recording_start").click().run()
    assert not at.exception
    assert "Not accepted: the file is empty (0 bytes)" in shown(at) and "OpenCV" not in shown(at)
    assert not list((tmp_path / "uploads").glob("*.mp4"))


def test_teachers_never_see_the_database_url_or_the_upload_folder_admins_see_them_masked(tmp_path, monkeypatch):
    seeded = seed_database(tmp_path)
    uploads = tmp_path / "uploads"
    teacher = page(seeded.url, uploads, monkeypatch, TEACHER)
    sidebar = " ".join(str(e.value) for e in teacher.sidebar.caption)
    assert "Signed in as" in sidebar and "Database" not in sidebar
    assert str(tmp_path) not in shown(teacher) and "sqlite" not in shown(teacher)
    admin = page(seeded.url, uploads, monkeypatch, ADMIN)
    assert f"Database: `sqlite:///{seeded.path}`" in " ".join(str(e.value) for e in admin.sidebar.caption)
    assert f"in {uploads}" in shown(admin)  # the upload folder, in the uploader's help
    # Masked: the password never, the server account's home folder as ~.
    assert server_details.masked_url("postgresql://app:s3cret@db.school/classes") == \
        "postgresql://app:***@db.school/classes"
    assert server_details.masked_path(Path.home() / "uploads" / "x.mp4") == "~/uploads/x.mp4"
    assert server_details.source_label("/srv/classroom/uploads/ab12.mp4", is_admin=False) == "ab12.mp4"


@pytest.mark.slow
def test_an_analysis_is_listed_in_another_tab_with_its_progress_and_cancelled_there(tmp_path, monkeypatch):
    from engine_support import need_model

    need_model()
    seeded = seed_database(tmp_path)
    with connect(seeded.url)() as s:
        repo.add_user(s, "bob", password_hash(), "teacher")  # owns no course: may not see Algebra's work
    uploads = tmp_path / "uploads"
    first = page(seeded.url, uploads, monkeypatch, TEACHER)
    clip = short_recording(tmp_path / "clip.mp4", frames=300).read_bytes()  # 60 s: long enough to cancel
    first.file_uploader(key="recording_upload").set_value(("Week 5 chemistry.mp4", clip, "video/mp4"))
    first.run()
    first.button(key="recording_start").click().run()
    engine = first.session_state["processing_job"]
    (job,) = jobs.registry(seeded.url).running("process")
    assert job.engine is engine and job.owner == "teacher"
    deadline = time.monotonic() + 180
    while not _frames_recorded(seeded.url, job) and engine.running and time.monotonic() < deadline:
        time.sleep(0.5)  # the engine loads its models, makes its session, then records its first batch
    assert job.session_id is not None and engine.running, engine.error_message()

    # The same teacher in another tab (or after a reload): the analysis, its progress, its Cancel.
    second = page(seeded.url, uploads, monkeypatch, TEACHER)
    assert "Analyses running now" in shown(second) and "Week 5 chemistry.mp4" in shown(second)
    assert any("analysed" in p.proto.text or "Starting" in p.proto.text for p in second.get("progress"))
    # Another teacher does not see it; an admin does, with who started it.
    bob = page(seeded.url, uploads, monkeypatch, BOB)
    assert "Week 5 chemistry" not in shown(bob) and not any(b.key.startswith("recording_cancel") for b in bob.button)
    admin = page(seeded.url, uploads, monkeypatch, ADMIN)
    assert "Week 5 chemistry.mp4** (started by teacher)" in shown(admin)

    second.button(key=f"recording_cancel_{job.id}").click().run()
    assert not second.exception
    assert not engine.running and engine.returncode == 130  # SIGINT: the engine's own "interrupted" exit
    assert process_state(engine.proc.pid) is None
    second.run()  # the page's next refresh
    assert "Analyses running now" not in shown(second)
    with connect(seeded.url)() as s:
        assert repo.get_session(s, job.session_id).status == SessionStatus.interrupted
    first.run()  # the tab that started it says it was cancelled, not that the engine failed
    assert "was cancelled" in shown(first) and not first.error


def _frames_recorded(url: str, job: jobs.Job) -> bool:
    """Whether the job's session exists and has recorded frames (its engine is past its start-up)."""
    if job.session_id is None:
        return False
    with connect(url)() as s:
        return repo.get_session(s, job.session_id).frames_analyzed > 0


# --- a real browser: the reload ----------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
# A fake camera (a moving test pattern) that the page may use without asking: the browser camera source.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream"]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)")
def test_a_reload_shows_the_running_live_class_with_a_stop_that_works(tmp_path):
    from engine_support import need_model
    from playwright.sync_api import sync_playwright

    need_model()
    seeded = seed_database(tmp_path)
    with dashboard_server(seeded.url) as (base, server):
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            tab.set_default_timeout(30_000)
            tab.goto(base)
            tab.get_by_role("textbox", name="User name").fill("teacher")
            tab.get_by_role("textbox", name="Password").fill(PASSWORD)
            tab.get_by_role("button", name="Sign in").click()
            tab.get_by_role("heading", name="Live class").wait_for()
            tab.get_by_test_id("stSelectbox").filter(has_text="Source").click()
            tab.get_by_role("option", name="Browser camera").click()
            tab.get_by_role("button", name="Start the class").click()
            # the page's notice, not the camera's own status line, which says the same words
            watching = tab.get_by_test_id("stAlertContentSuccess").get_by_text("The engine is watching")
            watching.wait_for()
            engine = next(iter(_engines(server.pid)))
            session_id = _wait_for_running_session(seeded.url, timeout_s=120)
            assert session_id is not None, "the engine made no session from the browser camera"
            deadline = time.monotonic() + 120  # the class runs: the engine draws its live view frame by frame
            while not list((tmp_path / "uploads" / "live-view").glob("*.jpg")) and time.monotonic() < deadline:
                time.sleep(0.5)

            tab.reload()  # the tab's own state is gone; the server still holds the class
            watching.wait_for()
            assert process_state(engine) not in (None, "Z")
            tab.get_by_role("button", name="Stop the class").click()
            tab.get_by_role("button", name="Stop the class").wait_for(state="detached", timeout=60_000)
            assert watching.count() == 0
            browser.close()
        assert process_state(engine) is None  # ended and waited for: no <defunct> child
        assert zombie_children(server.pid) == []
        with connect(seeded.url)() as s:
            session = repo.get_session(s, session_id)
            assert session.status == SessionStatus.complete, session.note


def _engines(parent: int) -> list[int]:
    """The ``python -m engine live`` processes the dashboard server started."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"engine" in command and b"live" in command:
            found.append(int(proc.name))
    return found


def _wait_for_running_session(url: str, timeout_s: float) -> int | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with connect(url)() as s:
            live = [cs.id for cs in repo.list_sessions(s) if cs.status == SessionStatus.running
                    and cs.source_kind != "video"]
        if live:
            return live[0]
        time.sleep(1.0)
    return None
