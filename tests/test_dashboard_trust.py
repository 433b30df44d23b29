"""Staying signed in, and the hardening around it (issue 13), against the real server that
`python -m dashboard` starts: a reload or a new tab keeps the sign-in (a signed, expiring, HttpOnly
cookie), sign-out ends it in every tab, a forged, tampered, expired or disabled user's cookie does
not sign in, a Streamlit session id replayed by another client is not signed in, and Streamlit's
upload endpoint refuses sessions that are not signed in before it reads a byte of the body."""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from dashboard_support import PASSWORD, dashboard_server, seed_database

from dashboard import web_session
from db import connect
from db import repository as repo

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)")


# --- the cookie itself, without a server ---------------------------------------------------------

def test_a_cookie_is_refused_when_forged_tampered_or_expired():
    secret, other = b"k" * 32, b"o" * 32
    good = web_session.make_cookie(secret, "ms-khan", "$2b$hash")
    claims = web_session.read_cookie(secret, good)
    assert claims is not None and claims.username == "ms-khan"
    assert web_session.read_cookie(other, good) is None  # signed with another key
    body, mac = good.split(".")
    evil = web_session._b64(web_session._unb64(body).replace(b"ms-khan", b"admin00"))
    assert web_session.read_cookie(secret, f"{evil}.{mac}") is None  # the name changed
    stale = web_session.make_cookie(secret, "ms-khan", "$2b$hash", issued_at=time.time() - web_session.LIFETIME_S - 1)
    assert web_session.read_cookie(secret, stale) is None
    for junk in ("", "x", "a.b.c", "." * 5000, good + "x", good + "é", "é.é", "!!.!!"):
        assert web_session.read_cookie(secret, junk) is None
    # A new password hash, a new fingerprint: the cookies issued before a password change stop working.
    assert web_session.password_fingerprint(secret, "$2b$a") != web_session.password_fingerprint(secret, "$2b$b")


def test_the_secret_is_made_once_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "classroom.db.cookie-secret"
    first = web_session.load_secret(path)
    assert len(first) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert web_session.load_secret(path) == first


# --- the real server -------------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    seeded = seed_database(tmp_path)
    with dashboard_server(seeded.url) as (base, proc):
        yield base, seeded, proc


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser, cookie: str | None = None, base: str = ""):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    if cookie is not None:
        context.add_cookies([{"name": web_session.COOKIE, "value": cookie, "url": base}])
    return context.new_page()


def sign_in(page, user: str, password: str = PASSWORD) -> None:
    """The form, then the signed-in page (after the reload that brings the cookie)."""
    page.get_by_role("textbox", name="User name").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {user}").wait_for()


def who(page) -> str:
    """'signed in as NAME' or 'sign-in form', once the page has drawn one of them."""
    signed = page.get_by_test_id("stSidebar").get_by_text("Signed in as")
    form = page.get_by_role("button", name="Sign in")
    signed.or_(form).first.wait_for()
    return signed.inner_text().replace("Signed in as", "signed in as").split(" (")[0] if signed.count() else "sign-in form"


def the_cookie(page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == web_session.COOKIE), None)


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_a_reload_keeps_the_sign_in_and_sign_out_ends_it_in_every_tab(server, browser):
    base, seeded, _ = server
    page = new_page(browser)
    page.goto(base + "/report")
    sign_in(page, "admin")
    assert "/report" in page.url
    cookie = the_cookie(page)
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert 11 * 3600 < cookie["expires"] - time.time() <= 12 * 3600
    assert web_session.COOKIE not in page.evaluate("document.cookie")  # JavaScript cannot read it

    page.reload()
    assert who(page) == "signed in as admin"
    other_tab = page.context.new_page()
    other_tab.goto(base)
    assert who(other_tab) == "signed in as admin"

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for()
    deadline = time.monotonic() + 10
    while the_cookie(page) is not None and time.monotonic() < deadline:  # the sign-in page clears it
        time.sleep(0.2)
    assert the_cookie(page) is None
    page.reload()
    assert who(page) == "sign-in form"
    other_tab.get_by_test_id("stSidebar").get_by_role("link", name="Students").click()  # its next click
    other_tab.get_by_role("button", name="Sign in").wait_for()
    # A copy of the cookie taken before the sign-out is dead on the server too.
    assert who(goto(new_page(browser, cookie["value"], base), base)) == "sign-in form"
    with connect(seeded.url)() as s:
        assert [e.username for e in repo.audit_events(s, kind="sign-out")] == ["admin"]


def goto(page, url: str):
    page.goto(url)
    return page


@pytest.mark.slow
def test_a_forged_expired_or_disabled_users_cookie_does_not_sign_in(server):
    base, seeded, _ = server
    secret = web_session.load_secret(seeded.path.with_name(seeded.path.name + ".cookie-secret"))
    with connect(seeded.url)() as s:
        teacher_hash = repo.get_user(s, "teacher").password_hash

    def as_cookie(value: str) -> str:
        """What a client sending this cookie is shown (over a raw WebSocket: quicker than a browser)."""
        with open_session(base, cookie=value) as ws:
            _, drawn = run_once(ws)
        found = re.search(r"Signed in as \*\*([\w-]+)\*\*", drawn)
        assert found or "Sign in" in drawn, drawn[-500:]
        return f"signed in as {found.group(1)}" if found else "sign-in form"

    made = web_session.make_cookie(secret, "teacher", teacher_hash)
    assert as_cookie(made) == "signed in as teacher"  # the control: a cookie made with the real key works
    assert as_cookie(web_session.make_cookie(b"x" * 32, "teacher", teacher_hash)) == "sign-in form"  # forged
    # Right key, but not made from the account's password hash (as a cookie from before a reset).
    assert as_cookie(web_session.make_cookie(secret, "admin", "$2b$12$" + "x" * 53)) == "sign-in form"
    expired = web_session.make_cookie(secret, "teacher", teacher_hash, issued_at=time.time() - 12 * 3600 - 5)
    assert as_cookie(expired) == "sign-in form"
    with connect(seeded.url)() as s:
        repo.set_disabled(s, "teacher", True)
    assert as_cookie(made) == "sign-in form"  # the account was disabled
    with connect(seeded.url)() as s:
        repo.set_disabled(s, "teacher", False)
    assert as_cookie(made) == "signed in as teacher"
    with connect(seeded.url)() as s:
        repo.set_password(s, "teacher", teacher_hash.replace("$2b$", "$2a$"))
    assert as_cookie(made) == "sign-in form"  # the password was reset since


# --- Streamlit sessions over a raw WebSocket -------------------------------------------------------

def open_session(base: str, existing: str | None = None, cookie: str | None = None):
    """A WebSocket to the app, as a client without a browser; with ``existing``, it asks to take
    over that Streamlit session id (as Streamlit's reconnect does)."""
    from websockets.sync.client import connect as ws_connect

    headers = {"Origin": base, **({"Cookie": f"{web_session.COOKIE}={cookie}"} if cookie else {})}
    protocols = ["streamlit", "xsrf-none", existing] if existing else ["streamlit"]
    return ws_connect(base.replace("http", "ws") + "/_stcore/stream", subprotocols=protocols,
                      additional_headers=headers, open_timeout=10, max_size=None)


def run_once(ws, timeout: float = 20.0) -> tuple[str | None, str]:
    """Ask for a run; the session id and everything the run drew, as text."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    back = BackMsg()
    back.rerun_script.CopyFrom(ClientState())
    ws.send(back.SerializeToString())
    session_id, drawn, deadline = None, [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = ForwardMsg()
        msg.ParseFromString(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            session_id = msg.new_session.initialize.session_id
        elif kind == "delta":
            drawn.append(str(msg.delta))
        elif kind == "script_finished" and session_id:
            break
    return session_id, "\n".join(drawn)


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_a_replayed_session_id_is_not_signed_in(server, browser):
    """A signed-in tab is closed; another client (without the cookie) asks for its Streamlit session
    id within the 120 s Streamlit keeps it: it gets that session, but not signed in."""
    import requests
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    base, _, _ = server
    page = new_page(browser)
    seen: list[str] = []

    def watch(ws):
        def frame(payload):
            if isinstance(payload, bytes):
                msg = ForwardMsg()
                try:
                    msg.ParseFromString(payload)
                except Exception:  # noqa: BLE001 - not every frame is one whole message
                    return
                if msg.WhichOneof("type") == "new_session":
                    seen.append(msg.new_session.initialize.session_id)
        ws.on("framereceived", frame)

    page.on("websocket", watch)
    page.goto(base)
    sign_in(page, "admin")
    session_id = seen[-1]
    # The control: that signed-in session, with its cookie, may upload (a file named "-..."); the gate
    # lets only a session signed in as the cookie's user through, so this is the signed-in session.
    cookie = the_cookie(page)["value"]
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")
    form = {"files": ("-lecture.mp4", b"\x00" * 2048, "video/mp4")}
    answer = requests.put(f"{base}/_stcore/upload_file/{session_id}/f1", files=form, timeout=10,
                          headers={"X-Xsrftoken": xsrf}, cookies={"_streamlit_xsrf": xsrf, web_session.COOKIE: cookie})
    assert answer.status_code == 204, answer.text
    page.context.close()  # the tab is gone; Streamlit keeps its session for a reconnect

    for _ in range(20):  # until the server has seen the tab go (a connected session is not handed over)
        with open_session(base, existing=session_id) as ws:
            replayed, drawn = run_once(ws)
        if replayed == session_id:
            break
        time.sleep(0.25)
    assert replayed == session_id  # the replay took over that very session...
    assert "Signed in as" not in drawn and "Sign in" in drawn  # ...and it is not signed in


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def xsrf_token(base: str) -> str:
    """Streamlit's XSRF cookie, as anyone who can load the page gets it (so it is no protection)."""
    with urllib.request.urlopen(base + "/_stcore/health", timeout=10) as r:
        cookies = r.headers.get_all("Set-Cookie") or []
    return next(c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("_streamlit_xsrf="))


def _length(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].decode(errors="replace").lower()
    return next((int(line.split(":", 1)[1]) for line in head.splitlines() if line.startswith("content-length:")), 0)


def put_upload(port: int, session_id: str, mb: int, xsrf: str, cookie: str | None = None) -> tuple[str, int]:
    """A PUT on Streamlit's upload endpoint announcing ``mb`` MB (with a valid XSRF token), its body
    pushed until the server stops taking it: (the answer's first bytes, the bytes it took)."""
    cookies = f"_streamlit_xsrf={xsrf}" + (f"; {web_session.COOKIE}={cookie}" if cookie else "")
    headers = (f"PUT /_stcore/upload_file/{session_id}/f1 HTTP/1.1\r\nHost: localhost:{port}\r\n"
               f"Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: {mb << 20}\r\n"
               f"X-Xsrftoken: {xsrf}\r\nCookie: {cookies}\r\n\r\n")
    sent, chunk = 0, b"\x00" * (1 << 20)
    with socket.create_connection(("localhost", port), timeout=5) as sock:
        sock.sendall(headers.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            more = sock.recv(4096)  # the whole answer (headers and body may come apart)
            if not more:
                break
            answer += more
        status = answer.decode(errors="replace")
        try:
            for _ in range(mb):
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # the server hung up: it will not read the rest
            pass
    return status, sent


@pytest.mark.slow
def test_an_upload_from_a_session_that_is_not_signed_in_is_refused_and_holds_no_memory(server):
    base, seeded, proc = server
    port = int(base.rsplit(":", 1)[1])
    secret = web_session.load_secret(seeded.path.with_name(seeded.path.name + ".cookie-secret"))
    forged = web_session.make_cookie(b"x" * 32, "admin", "whatever")
    with open_session(base) as ws:  # a real, live Streamlit session that never signed in
        session_id, drawn = run_once(ws)
        assert session_id and "Sign in" in drawn
        xsrf = xsrf_token(base)
        before = rss_kb(proc.pid)
        taken = []
        for cookie in (None, forged, None):
            answer, sent = put_upload(port, session_id, 150, xsrf, cookie)
            assert answer.startswith("HTTP/1.1 403") and "Sign in to upload" in answer, answer
            taken.append(sent)
        # Even a valid cookie does not open another session's uploads: the session is not signed in.
        with connect(seeded.url)() as s:
            valid = web_session.make_cookie(secret, "admin", repo.get_user(s, "admin").password_hash)
        assert put_upload(port, session_id, 1, xsrf, valid)[0].startswith("HTTP/1.1 403")
        grown_mb = (rss_kb(proc.pid) - before) / 1024
    assert grown_mb < 40, f"the server grew by {grown_mb:.0f} MB for refused uploads"
    assert max(taken) < (100 << 20), taken  # it stopped reading long before the 150 MB announced


def test_a_recording_whose_name_starts_with_a_dash_reaches_the_engine_as_its_title(tmp_path):
    from dashboard import engine_cli
    from engine.cli import build_parser

    cmd = engine_cli.processing_command(tmp_path / "0f3a.mp4", f"sqlite:///{tmp_path}/c.db", title="-lecture.mp4")
    args = build_parser().parse_args(cmd[cmd.index("process"):])
    assert args.title == "-lecture.mp4" and args.video == str(tmp_path / "0f3a.mp4")


def test_a_saved_or_refused_upload_is_dropped_from_streamlits_memory(tmp_path, monkeypatch):
    """Streamlit keeps an upload in memory until its session ends; once saved (or refused), the
    dashboard drops that copy."""
    from types import SimpleNamespace

    import streamlit.runtime.scriptrunner as scriptrunner
    from streamlit.proto.Common_pb2 import FileURLs
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    from dashboard import uploads

    manager = MemoryUploadedFileManager("/_stcore/upload_file")
    record = UploadedFileRec(file_id="f1", name="-lecture.mp4", type="video/mp4", data=b"not a video" * 100)
    manager.add_file("s1", record)
    monkeypatch.setattr(scriptrunner, "get_script_run_ctx",
                        lambda *a, **k: SimpleNamespace(session_id="s1", uploaded_file_mgr=manager))
    with pytest.raises(uploads.UploadRejected):
        uploads.save_upload(UploadedFile(record, FileURLs()), record.name, tmp_path / "uploads")
    assert manager.get_files("s1", ["f1"]) == [] and not list((tmp_path / "uploads").iterdir())
