"""The browser camera (dashboard/browser_camera.py) in a real headless Chromium with its fake
camera: pictures reach the feed file the engine watches; a refused camera is a clear message.

Uses Debian's /usr/bin/chromium driven by Playwright (no `playwright install`); skips without them.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from dashboard_support import stop_process, wait_until_healthy

from dashboard.browser_camera import decode_data_url, save_picture

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

APP = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
import streamlit as st
from dashboard import browser_camera
browser_camera.camera_panel(Path({feed!r}))
"""


def test_data_urls_are_decoded_and_anything_else_refused(tmp_path):
    ok, jpeg = cv2.imencode(".jpg", np.full((8, 8, 3), 100, np.uint8))
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()
    assert decode_data_url(url) == jpeg.tobytes()
    for bad in ("", "data:text/html;base64,PGI+", "data:image/jpeg;base64,@@@", "http://example.org/x.jpg"):
        assert decode_data_url(bad) is None
    path = tmp_path / "feed" / "tab.jpg"
    save_picture(path, jpeg.tobytes())
    assert path.read_bytes() == jpeg.tobytes()
    assert [p.name for p in path.parent.iterdir()] == ["tab.jpg"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def camera_page(tmp_path):
    """A Streamlit server showing only the camera panel, feeding ``tmp_path/feed.jpg``."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    feed = tmp_path / "feed.jpg"
    app = tmp_path / "camera_app.py"
    app.write_text(APP.format(repo=str(REPO), feed=str(feed)))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proc, up_s=60)
        yield url, feed
    finally:
        stop_process(proc, 10)
        shutil.rmtree(tmp_path / ".streamlit", ignore_errors=True)


def open_page(url: str, extra_args: list[str]):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + extra_args)
    page = browser.new_page()
    page.goto(url)
    return pw, browser, page


@pytest.mark.browser
@pytest.mark.slow
def test_the_browser_camera_feeds_pictures_to_the_engine_file(camera_page):
    url, feed = camera_page
    # Chromium's fake camera (a moving test pattern) with the permission prompt answered "allow".
    pw, browser, page = open_page(url, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        stamps = set()
        deadline = time.time() + 45
        while len(stamps) < 3 and time.time() < deadline:
            if feed.exists():
                stamps.add(feed.stat().st_mtime_ns)
            time.sleep(0.2)
        assert len(stamps) >= 3, "the page did not send pictures"
        image = cv2.imread(str(feed))
        assert image is not None and image.shape[0] >= 120 and image.shape[1] >= 160
        # The component's own status line (in its shadow root, which Playwright's locators pierce).
        page.get_by_text("Camera on: the engine is watching this picture.").wait_for(timeout=5_000)
    finally:
        browser.close()
        pw.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_a_refused_camera_is_a_clear_message_and_no_picture(camera_page):
    url, feed = camera_page
    pw, browser, page = open_page(url, ["--use-fake-device-for-media-stream", "--deny-permission-prompts"])
    try:
        page.wait_for_function("document.body.innerText.includes('browser camera is not available')",
                               timeout=45_000)
        assert "permission was refused" in page.inner_text("body")
        time.sleep(1.0)
        assert not feed.exists()
    finally:
        browser.close()
        pw.stop()
