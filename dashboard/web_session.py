"""Staying signed in, bound to the browser: a signed, expiring, HttpOnly cookie set by the server.

How it fits together (``python -m dashboard`` serves :mod:`dashboard.asgi`, which adds the route and
the upload gate below to Streamlit's own server):

1. The sign-in form checks the password and asks :func:`issue_token` for a one-time token (60 s).
   The page's script POSTs it to :data:`ROUTE`; :func:`session_route` redeems it and answers with
   ``Set-Cookie: classroom_signin=...; HttpOnly; SameSite=Strict`` (JavaScript cannot read it), then
   the page reloads.
2. Every run of ``app.py`` reads the cookie from the run's own WebSocket handshake
   (``st.context.cookies``) and checks it with :func:`user_for_cookie`: the HMAC signature (the
   secret is generated at first run, 0600, beside the database, never in it), the expiry
   (:data:`LIFETIME_S`), that the account exists and is enabled, that its password has not changed
   since (a fingerprint of the password hash is in the cookie), and that the user has not signed
   out since it was issued (``app_settings`` key ``signed_out_at:<user>``). A Streamlit session id
   replayed by another client reconnects with that client's handshake, which lacks the cookie, so
   it is not signed in.
3. :class:`UploadGate` refuses (403) Streamlit's upload PUT/DELETE unless the request carries a
   valid cookie and the Streamlit session in its address is signed in as that same user (the
   signed-in runs record it with :func:`bind`), before a byte of the body is read.

No Streamlit import here: the route and the gate run in the server's event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dashboard.config import Settings, load_settings, sqlite_path

COOKIE = "classroom_signin"
ROUTE = "/_classroom/session"
LIFETIME_S = 12 * 3600  # a sign-in lasts a school day, then the password is asked for again
TOKEN_TTL_S = 60.0
SIGNED_OUT_PREFIX = "signed_out_at:"
_UPLOAD_PATH = re.compile(r"/_stcore/upload_file/([^/]+)(?:/|$)")

# True once dashboard.asgi (the server ``python -m dashboard`` starts) has loaded: the sign-in then
# lives in the cookie. Without it (Streamlit's AppTest, which has no web server) the sign-in lives in
# the Streamlit session only; a web server without it is refused (:func:`unprotected_server`).
ACTIVE = False

NOT_LAUNCHED = (
    "This dashboard was started without its protections (with `streamlit run dashboard/app.py`, most likely), so "
    "it does not open. Start it with `python -m dashboard --db URL` (or `make run`): that adds what plain Streamlit "
    "lacks — a sign-in kept in a signed cookie, so that a Streamlit session id replayed by another computer is not "
    "signed in, and a gate that refuses uploads from anyone not signed in and limits their size while they are "
    "written to disk, so that nobody can fill the server's memory without an account."
)


def unprotected_server(served_over_web: bool) -> bool:
    """Whether a page run must be refused: it came over a web connection (a real Streamlit server,
    not AppTest's in-process runs) to a server that lacks the cookie binding and the upload gate,
    i.e. ``dashboard/app.py`` served directly instead of :mod:`dashboard.asgi`."""
    return served_over_web and not ACTIVE
_factories_lock = threading.Lock()  # the per-process caches below: database factories and secrets


# --- the secret -------------------------------------------------------------------------------

def secret_path(settings: Settings) -> Path:
    """``classroom.db.cookie-secret`` beside a SQLite file; ``.cookie-secret-<hash of the URL>`` in
    the uploads folder for a server database (as :func:`dashboard.setup_code.code_path`)."""
    db_file = sqlite_path(settings.db_url)
    if db_file is not None:
        return db_file.with_name(db_file.name + ".cookie-secret")
    tag = hashlib.sha256(settings.db_url.encode()).hexdigest()[:12]
    return settings.uploads_dir / f".cookie-secret-{tag}"


def load_secret(path: Path) -> bytes:
    """The 256-bit key in ``path``, made (mode 0600, atomically) when there is none yet."""
    try:
        text = path.read_text().strip()
        if len(text) >= 64:
            return bytes.fromhex(text)
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # only if still absent: two processes starting at once keep one secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


_secrets: dict[Path, bytes] = {}


def secret_for(settings: Settings) -> bytes:
    """:func:`load_secret` for these settings, read once per process."""
    path = secret_path(settings)
    with _factories_lock:
        if path not in _secrets:
            _secrets[path] = load_secret(path)
        return _secrets[path]


# --- the cookie -------------------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def password_fingerprint(secret: bytes, password_hash: str) -> str:
    """Changes when the password does: a password change or reset ends the cookies issued before."""
    return _mac(secret, "pw:" + password_hash)[:22]


def make_cookie(secret: bytes, username: str, password_hash: str, issued_at: float | None = None) -> str:
    issued = time.time() if issued_at is None else issued_at
    body = _b64(json.dumps({"u": username, "iat": issued, "pw": password_fingerprint(secret, password_hash),
                            "n": secrets.token_hex(8)}, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


@dataclass(frozen=True)
class CookieClaims:
    username: str
    issued_at: float
    fingerprint: str


def read_cookie(secret: bytes, value: str | None, now: float | None = None) -> CookieClaims | None:
    """The cookie's claims when its signature is right and it has not expired; None otherwise."""
    if not value or value.count(".") != 1 or len(value) > 4096 or not value.isascii():
        return None
    body, mac = value.split(".")
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    try:
        claims = json.loads(_unb64(body))
        username, issued, fp = str(claims["u"]), float(claims["iat"]), str(claims["pw"])
    except (ValueError, KeyError, TypeError):
        return None
    age = (time.time() if now is None else now) - issued
    if age > LIFETIME_S or age < -60:  # expired, or issued in the future (a clock jump): refused
        return None
    return CookieClaims(username, issued, fp)


# --- the database side: who the cookie is, now ------------------------------------------------

_factories: dict[str, object] = {}


def _factory(settings: Settings):
    from dashboard import data

    with _factories_lock:
        if settings.db_url not in _factories:
            _factories[settings.db_url] = data.open_database(settings.db_url)
        return _factories[settings.db_url]


def signed_out_at(factory, username: str) -> float:
    from dashboard import data
    from db import repository as repo

    with data.reading(factory) as s:
        value = repo.get_setting(s, SIGNED_OUT_PREFIX + username[:80])
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def record_sign_out(factory, username: str, when: float | None = None) -> None:
    """Every cookie of ``username`` issued until now stops working, in every browser."""
    from dashboard import data
    from db import repository as repo

    with data.reading(factory) as s:
        repo.set_setting(s, SIGNED_OUT_PREFIX + username[:80], repr(time.time() if when is None else when))


def user_for_cookie(factory, secret: bytes, value: str | None):
    """The account (``data.UserInfo``) the cookie signs in, or None: bad signature, expired, unknown
    or disabled account, password changed since, or signed out since."""
    from dashboard import data

    claims = read_cookie(secret, value)
    if claims is None:
        return None
    user = data.get_user(factory, claims.username)
    if user is None or user.disabled:
        return None
    if not hmac.compare_digest(claims.fingerprint, password_fingerprint(secret, user.password_hash)):
        return None
    if claims.issued_at <= signed_out_at(factory, user.username):
        return None
    return user


# --- process-wide state shared by the page runs and the server's handlers ---------------------

_lock = threading.Lock()
_tokens: dict[str, tuple[str, float]] = {}  # one-time token -> (user name, expires at, monotonic)
_sessions: dict[str, str] = {}  # Streamlit session id -> the user its last run was signed in as
MAX_BOUND_SESSIONS = 10_000


def issue_token(username: str) -> str:
    token = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _lock:
        for old in [t for t, (_, exp) in _tokens.items() if exp < now]:
            del _tokens[old]
        _tokens[token] = (username, now + TOKEN_TTL_S)
    return token


def redeem_token(token: str) -> str | None:
    with _lock:
        entry = _tokens.pop(token, None) if isinstance(token, str) else None
    if entry is None or entry[1] < time.monotonic():
        return None
    return entry[0]


def bind(session_id: str, username: str | None) -> None:
    """Record which user the Streamlit session's current run is signed in as (None: nobody)."""
    with _lock:
        if username is None:
            _sessions.pop(session_id, None)
            return
        if len(_sessions) >= MAX_BOUND_SESSIONS and session_id not in _sessions:
            _sessions.pop(next(iter(_sessions)))
        _sessions[session_id] = username


def bound_user(session_id: str) -> str | None:
    with _lock:
        return _sessions.get(session_id)


# --- the server side: the route and the upload gate (Starlette, in dashboard.asgi) ------------

def _settings() -> Settings:
    import sys

    return load_settings(sys.argv[1:])


def _same_origin(headers) -> bool:
    origin, host = headers.get("origin"), headers.get("host")
    if not origin or not host:
        return False
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


def _signin_cookie_for(token: str) -> str | None:
    username = redeem_token(token)
    if username is None:
        return None
    settings = _settings()
    factory = _factory(settings)
    from dashboard import data

    user = data.get_user(factory, username)
    if user is None or user.disabled:
        return None
    return make_cookie(secret_for(settings), user.username, user.password_hash)


async def session_route(request):
    """POST ``{"action": "signin", "token": T}`` sets the cookie; ``{"action": "signout"}`` clears it.
    Only from the dashboard's own pages (Origin = Host, JSON body)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    if not _same_origin(request.headers) or "application/json" not in request.headers.get("content-type", ""):
        return Response("refused", status_code=403)
    if int(request.headers.get("content-length") or 0) > 4096:
        return Response("too large", status_code=413)
    try:
        body = json.loads(await request.body())
        action = body.get("action")
    except (ValueError, AttributeError):
        return Response("bad request", status_code=400)
    secure = request.url.scheme == "https"
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    if action == "signout":
        response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
        return response
    if action != "signin":
        return Response("bad request", status_code=400)
    value = await run_in_threadpool(_signin_cookie_for, body.get("token"))
    if value is None:
        return Response("refused", status_code=403)
    response.set_cookie(COOKIE, value, max_age=LIFETIME_S, path="/", secure=secure, httponly=True,
                        samesite="strict")
    return response


def upload_allowed(session_id: str, cookie: str | None) -> bool:
    """Only a Streamlit session signed in as the cookie's (valid) user may upload."""
    bound = bound_user(session_id)
    if bound is None or not cookie:
        return False
    settings = _settings()
    user = user_for_cookie(_factory(settings), secret_for(settings), cookie)
    return user is not None and user.username == bound


class UploadGate:
    """ASGI middleware before Streamlit's: a PUT or DELETE on ``/_stcore/upload_file/<session>/...``
    from a session that is not signed in gets 403 and ``Connection: close`` before its body is
    read, so a refused upload costs the server no memory."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") in ("PUT", "DELETE"):
            match = _UPLOAD_PATH.search(scope.get("path", ""))
            if match:
                from starlette.concurrency import run_in_threadpool
                from starlette.requests import HTTPConnection
                from starlette.responses import PlainTextResponse

                cookie = HTTPConnection(scope).cookies.get(COOKIE)
                if not await run_in_threadpool(upload_allowed, match.group(1), cookie):
                    refusal = PlainTextResponse("Sign in to upload.", status_code=403, headers={"Connection": "close"})
                    await refusal(scope, receive, send)
                    return
        await self.app(scope, receive, send)
