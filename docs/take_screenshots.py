"""Screenshots of every dashboard page for docs/dashboard.md, from a real server and a real
headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no `playwright install`).

    .venv/bin/python docs/take_screenshots.py [--out docs/screenshots]

Seeds a throw-away database with the demo class (dashboard.demo), a running "live" class, an
admin and a teacher account, starts `python -m dashboard` on a free port, and saves one PNG
per page.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.demo import seed_demo  # noqa: E402
from dashboard.passwords import hash_password  # noqa: E402
from db import connect  # noqa: E402
from db import repository as repo  # noqa: E402
from db.models import ClassSession  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN, TEACHER, PASSWORD = "admin", "teacher", "correct-horse"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("the dashboard did not answer /_stcore/health")


MODEL = ROOT / "models" / "fer_fast.keras"
FER_CSV = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def seed(db_url: str) -> int:
    """The demo classes and users; the real model's PrivateTest evaluation when the model and
    the data set are here (the demo's made-up one otherwise)."""
    real = MODEL.exists() and FER_CSV.exists()
    # Earlier weeks of the course, for the Course overview (its sessions over the weeks).
    for weeks, students in ((3, 5), (2, 6), (1, 4)):
        earlier = seed_demo(db_url, students=students, seconds=90.0, title=f"Algebra, week {6 - weeks}",
                            with_evaluation=False)
        with connect(db_url)() as s:
            cs = s.get(ClassSession, earlier)
            cs.started_at -= timedelta(weeks=weeks)
            s.commit()
    seed_demo(db_url, live=True, seconds=75.0, title="Live: physics, period 4", with_evaluation=False)
    session_id = seed_demo(db_url, with_evaluation=not real)
    if real:
        subprocess.run([sys.executable, "-m", "training", "evaluate", "--model", str(MODEL), "--data", str(FER_CSV),
                        "--split", "PrivateTest", "--db", db_url], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with connect(db_url)() as s:
        repo.add_user(s, ADMIN, hash_password(PASSWORD), "admin")
        repo.add_user(s, TEACHER, hash_password(PASSWORD), "teacher")
    return session_id


def sign_in(page, base: str, user: str, goto: bool = True) -> None:
    if goto:
        page.goto(base)
    page.get_by_role("textbox", name="User name").fill(user)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {user}").wait_for(timeout=30_000)


def settle(page, seconds: float = 2.5) -> None:
    """Let Streamlit finish the run (no 'running' indicator) and plotly draw."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    time.sleep(seconds)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found; apt-get install -y chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/classroom.db"
        seed(db_url)
        port = free_port()
        base = f"http://localhost:{port}"
        # The server's log goes to a file: an unread pipe would fill up and stall it.
        log_path = Path(tmp) / "server.log"
        log = open(log_path, "wb")  # noqa: SIM115 (closed with the server below)
        server = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port), "--db", db_url],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            wait_healthy(base, server)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(base)
                page.get_by_label("User name").wait_for()
                settle(page, 1)
                page.screenshot(path=out / "sign_in.png")
                sign_in(page, base, ADMIN)
                # Navigate inside the app: a fresh page load is a new session, signed out (by design).
                shots = [("Live class", "live", 1500), ("Recordings", "recordings", 900),
                         ("Session report", "report", 2600), ("Students", "students", 1000),
                         ("Course overview", "course_overview", 1300),
                         ("Model evaluation", "model", 2150), ("Users", "users", 1000)]
                for link, name, height in shots:
                    page.set_viewport_size({"width": 1400, "height": height})
                    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
                    settle(page)
                    # FER2013 faces (the misclassified sample) are research-licensed data: blurred
                    # in the published picture, as the sample file itself is kept out of git.
                    page.add_style_tag(content="img[src^='data:image/png'] { filter: blur(5px); }")
                    page.screenshot(path=out / f"{name}.png")
                    print("saved", out / f"{name}.png")
                    if page.get_by_test_id("stException").count():  # a page that raised shows its traceback
                        print(f"error: the {link} page shows an exception: see {out / name}.png", file=sys.stderr)
                        return 1
                # A fresh browser context: a teacher typing an admin page's address.
                page = browser.new_context(viewport={"width": 1400, "height": 700}).new_page()
                page.goto(f"{base}/model")
                sign_in(page, base, TEACHER, goto=False)
                settle(page, 1)
                page.screenshot(path=out / "teacher_refused.png")
                print("saved", out / "teacher_refused.png")
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
            text = log_path.read_text(errors="replace")
            # Our pages must run cleanly: show a traceback through the dashboard's code. (Streamlit's
            # static-file server logs ASGI errors of its own when the browser closes mid-download.)
            ours = [block for block in text.split("Traceback")[1:] if str(ROOT / "dashboard") in block]
        if ours:
            print("server log:", "Traceback" + ours[0][:3000], sep="\n", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
