"""Opening a session report in a real browser: how long a teacher waits for the charts.

    .venv/bin/python -m benchmarks.report_open [--repeat 2]

Seeds the demo class (:func:`dashboard.demo.seed_demo`: 6 students over 2 minutes, 1,400
observations) twice, as two sessions, into a temporary SQLite file with an admin account, starts
the real server as an admin would (``python -m dashboard --port P --db URL``) and signs in in
headless Chromium (Debian's /usr/bin/chromium driven by Playwright, as
tests/test_dashboard_browser.py does). Then, in that order:

1. from the sidebar: "Session report" clicked on the start page (the app is loaded; the report
   opens on the session the picker chooses). The first time, the server's caches are cold (that
   session's per-bin sums, the coverage counts); the browser compiled Streamlit's 4.6 MB plotly.js
   chunk on the sign-in page (its warm-up chart, drawn before the benchmark types the password, as
   it would be while a teacher types), and the first page after signing in drew the hidden sample
   report (dashboard/warm_up.py). Then again, from the start page: warm.
2. by its address, ``/report?session=ID`` typed or followed from a link (the whole app loads
   again): the other session's report, its server caches cold, then that report again.

Each open is timed from the click or the navigation to both report charts (class mood,
per-student timeline) drawn by plotly and visible ("charts"), and to the page's last section
(the Download buttons: its script ran to its end). Printed: the machine, with its load average
(on a loaded machine the figures are higher: the browser's work is most of the time, and it
shares the cores), and each open's times. Needs /usr/bin/chromium (apt-get install -y chromium).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "benchmark-password-1"


def seed(folder: Path) -> tuple[str, list[int]]:
    """The demo class twice (two sessions) and an admin account; returns the database URL and the
    session ids."""
    from dashboard.demo import seed_demo
    from dashboard.passwords import hash_password
    from db import connect
    from db import repository as repo

    url = f"sqlite:///{folder / 'classroom.db'}"
    sessions = [seed_demo(url), seed_demo(url, title="Demo: algebra, period 3")]
    with connect(url)() as s:
        repo.add_user(s, "admin", hash_password(PASSWORD), "admin")
    return url, sessions


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port), "--db", url],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise SystemExit("the dashboard did not come up in 60 s")


CHARTS_DRAWN = ("() => document.querySelectorAll('.js-plotly-plot').length >= 2 && "
                "[...document.querySelectorAll('.js-plotly-plot')].every("
                "p => p.querySelector('.main-svg') && p.getBoundingClientRect().height > 0)")


def timed_open(page, go) -> tuple[float, float]:
    """Seconds from ``go()`` (a click or a navigation) to the report's charts drawn and visible, and
    to the page's end."""
    start = time.perf_counter()
    go()
    page.get_by_role("heading", name="Class mood over time").wait_for()
    page.wait_for_function(CHARTS_DRAWN)
    page.locator(".js-plotly-plot .main-svg").first.wait_for(state="visible")
    drawn = time.perf_counter() - start
    page.get_by_role("button", name="Report (PDF)").wait_for()
    return drawn, time.perf_counter() - start


def from_sidebar(page) -> tuple[float, float]:
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("link", name="Live class").click()  # the start page, as after signing in
    page.get_by_role("heading", name="Class mood over time").wait_for(state="detached")
    return timed_open(page, lambda: sidebar.get_by_role("link", name="Session report").click())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="opens of each kind, the first one cold")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit("needs /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        url, sessions = seed(Path(tmp))
        port = free_port()
        server = start_server(url, port)
        base = f"http://localhost:{port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60_000)
                page.goto(base)
                # A teacher takes a few seconds to type; by then the sign-in page has loaded, its
                # warm-up chart included (dashboard.charts.warm_up_figure: plotly.js compiled).
                page.locator(".js-plotly-plot").first.wait_for(state="attached")
                page.get_by_role("textbox", name="User name").fill("admin")
                page.get_by_role("textbox", name="Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_test_id("stSidebar").get_by_text("Signed in as admin").wait_for()
                print(f"{'open':<44} charts visible  page complete")
                rows = []
                for k in range(args.repeat):
                    rows.append(("from the sidebar, " + ("first (all cold)" if k == 0 else "again"), from_sidebar(page)))
                shown = int(page.url.rsplit("session=", 1)[1])
                other = next(s for s in sessions if s != shown)
                for k in range(args.repeat):
                    address = f"{base}/report?session={other}"
                    rows.append(("by its address, " + ("another session, first" if k == 0 else "again"),
                                 timed_open(page, lambda a=address: page.goto(a))))
                for label, (drawn, done) in rows:
                    print(f"{label:<44} {drawn:6.2f} s {done:12.2f} s")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
