"""Sign-in, the first-run admin account (with the setup code), sign-out, role checks and account
changes (each written to the audit log).

Served by ``python -m dashboard`` (:mod:`dashboard.asgi`), the sign-in lives in a signed, expiring,
HttpOnly cookie (:mod:`dashboard.web_session`): a reload or a new tab of the same browser stays
signed in, and every run takes the user from the cookie its own connection carries, so a Streamlit
session id replayed by another client is not signed in. In Streamlit's AppTest (no server; a plain
``streamlit run dashboard/app.py`` refuses to open) the signed-in user lives in ``st.session_state``
only."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import streamlit as st

from dashboard import context, data, setup_code, ui, web_session
from dashboard.passwords import check_password, hash_password, problem_with
from db.models import utcnow
from db.repository import AccountRefused

USER_KEY = "signed_in_user"
_COOKIE_KEY = "signed_in_cookie"  # the cookie value the session's user was checked against
ROLES = ("teacher", "admin")


@dataclass(frozen=True)
class SignedInUser:
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _cookie() -> str | None:
    """The sign-in cookie this run's connection carries (its WebSocket handshake's)."""
    return st.context.cookies.get(web_session.COOKIE) or None


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None


def _secret() -> bytes:
    return web_session.secret_for(context.settings())


def current_user() -> SignedInUser | None:
    user = st.session_state.get(USER_KEY)
    if not isinstance(user, SignedInUser):
        return None
    if web_session.ACTIVE:
        # Bound to the cookie: another client that took over this session (a replayed session id)
        # does not carry it. (refresh_signed_in_user checked the cookie itself at this run's start.)
        bound = st.session_state.get(_COOKIE_KEY)
        if not bound or _cookie() != bound:
            return None
    return user


def _forget() -> None:
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop(_COOKIE_KEY, None)
    if web_session.ACTIVE and (sid := _session_id()):
        web_session.bind(sid, None)


def sign_out() -> None:
    """Signs the user out; with the cookie, in every browser and tab (every cookie issued to them
    until now stops working, server-side) and the sign-in page clears this browser's cookie."""
    user = current_user()
    _forget()
    if web_session.ACTIVE and user is not None:
        web_session.record_sign_out(context.factory(), user.username)
        data.record_event(context.factory(), user.username, "sign-out", user.username)


def _cookie_script(action: str, token: str = "", reload: bool = False) -> None:
    """Ask the server (web_session.ROUTE) to set or clear the HttpOnly cookie, then reload."""
    body = json.dumps({"action": action, "token": token})
    then = "window.location.reload();" if reload else ""
    st.html(f"""<p id="classroom-cookie-note"></p><script>
fetch({json.dumps(web_session.ROUTE)}, {{method: "POST", credentials: "same-origin",
  headers: {{"Content-Type": "application/json"}}, body: {json.dumps(body)}}})
  .then(r => {{ if (!r.ok) throw new Error("HTTP " + r.status); {then} }})
  .catch(e => {{ const n = document.getElementById("classroom-cookie-note");
    if (n) n.textContent = "The sign-in could not be stored in this browser (" + e.message + "): " +
      "allow cookies for this address and try again."; }});
</script>""", unsafe_allow_javascript=True)


def _signed_in(user: SignedInUser, note: str = "Signing in…") -> None:
    """After a right password: with the cookie, the browser gets it and reloads (the reloaded page
    is signed in by it); otherwise the session is signed in."""
    if not web_session.ACTIVE:
        st.session_state[USER_KEY] = user
        st.rerun()
    st.info(note, icon=":material/login:")
    _cookie_script("signin", web_session.issue_token(user.username), reload=True)
    st.stop()


def renew_sign_in(user: SignedInUser) -> None:
    """After the user changed their own password (which ends the cookies issued before it): a new
    cookie for this browser. Does nothing without the cookie."""
    if web_session.ACTIVE:
        _signed_in(user, "Your password is changed: renewing your sign-in in this browser…")


def refresh_signed_in_user() -> SignedInUser | None:
    """The signed-in user as the database has them now: signed out when their account was
    disabled or deleted meanwhile, with their current role when an admin changed it. (A database
    without any account keeps the session's user: pages driven by tests are signed in that way.)"""
    if web_session.ACTIVE:
        return _user_from_cookie()
    user = current_user()
    if user is None:
        return None
    factory = context.factory()
    row = data.get_user(factory, user.username)
    if row is None and data.count_users(factory) == 0:
        return user
    if row is None or row.disabled:
        sign_out()
        return None
    if row.role != user.role:
        user = SignedInUser(row.username, row.role)
        st.session_state[USER_KEY] = user
    return user


def _user_from_cookie() -> SignedInUser | None:
    """The user this run's cookie signs in (checked in full: signature, expiry, account enabled,
    password unchanged, not signed out since), or None; recorded for the upload gate."""
    cookie = _cookie()
    row = web_session.user_for_cookie(context.factory(), _secret(), cookie) if cookie else None
    if row is None:
        _forget()
        return None
    user = SignedInUser(row.username, row.role)
    st.session_state[USER_KEY], st.session_state[_COOKIE_KEY] = user, cookie
    if sid := _session_id():
        web_session.bind(sid, user.username)
    return user


# Failed sign-ins per user name: this many within THROTTLE_WINDOW_S (since the last right one)
# and the name is refused, right password or not, until the oldest of them is that old.
MAX_FAILURES = 5
THROTTLE_WINDOW_S = 15 * 60.0
# An unknown name is checked against this hash, so that it costs what a known name costs (bcrypt,
# ~0.2 s): otherwise the answer's speed tells which names exist.
_NOBODY_HASH = "$2b$12$72aIKsqEt5FRjRfIMAQkzukP6Y.PiRdkBpNGjmt/.cgEANuI/gVoK"


class Throttled(Exception):
    """Too many wrong passwords for this user name lately."""

    def __init__(self, wait_s: float):
        super().__init__(f"wait {wait_s:.0f} s")
        self.wait_s = wait_s


def authenticate(username: str, password: str) -> SignedInUser | None:
    """The user when the password matches and the account is enabled; None for an unknown name,
    a wrong password or a disabled account (the caller must not say which). Raises
    :class:`Throttled` after ``MAX_FAILURES`` wrong passwords for the name within
    ``THROTTLE_WINDOW_S``. Every attempt is recorded, and written to the audit log with the reason."""
    factory, name = context.factory(), username.strip()
    failures = data.recent_sign_in_failures(factory, name, THROTTLE_WINDOW_S)
    user = data.get_user(factory, name)
    right = check_password(password, user.password_hash if user else _NOBODY_HASH) and user is not None
    allowed = right and not user.disabled
    throttled = len(failures) >= MAX_FAILURES
    data.record_sign_in(factory, name, allowed and not throttled)
    if throttled:
        data.record_event(factory, name, "sign-in failed", name, f"refused: {MAX_FAILURES} wrong passwords lately")
        oldest = failures[-MAX_FAILURES]
        raise Throttled(max(1.0, THROTTLE_WINDOW_S - (utcnow() - oldest).total_seconds()))
    if allowed:
        data.record_event(factory, name, "sign-in", name)
        return SignedInUser(user.username, user.role)
    why = "no such user name" if user is None else "wrong password" if not right else "the account is disabled"
    data.record_event(factory, name, "sign-in failed", name, why)
    return None


def create_user(username: str, password: str, confirm: str, role: str, actor: str = "") -> str | None:
    """Add an account (``actor``: the admin adding it); returns why it was refused, or None."""
    username = username.strip()
    if not username:
        return "enter a user name"
    if role not in ROLES:
        return f"the role must be one of {', '.join(ROLES)}"
    problem = problem_with(password, confirm)
    if problem:
        return problem
    factory = context.factory()
    if data.get_user(factory, username) is not None:
        return f"there is already a user called {username!r}"
    data.add_user(factory, username, hash_password(password), role)
    data.record_event(factory, actor or username, "account created", username, f"role {role}")
    return None


# --- account changes: each returns why it was refused, or None, and is written to the audit log ---

def change_own_password(user: SignedInUser, current: str, new: str, confirm: str) -> str | None:
    """The signed-in user changes their password; the current one is required (and wrong ones
    count towards the sign-in throttle, as at the sign-in form)."""
    factory = context.factory()
    if len(data.recent_sign_in_failures(factory, user.username, THROTTLE_WINDOW_S)) >= MAX_FAILURES:
        return "too many wrong passwords for this user name lately: try again later"
    row = data.get_user(factory, user.username)
    if row is None or not check_password(current, row.password_hash):
        data.record_sign_in(factory, user.username, False)
        data.record_event(factory, user.username, "sign-in failed", user.username,
                          "wrong current password when changing it")
        return "the current password is wrong"
    problem = problem_with(new, confirm)
    if problem:
        return problem
    data.set_password(factory, user.username, hash_password(new))
    data.record_event(factory, user.username, "password changed", user.username)
    return None


def _refused(action) -> str | None:
    try:
        action()
    except AccountRefused as exc:
        return str(exc)
    return None


def reset_password(admin: SignedInUser, username: str, new: str, confirm: str) -> str | None:
    """An admin sets another account's password (to hand over in person)."""
    problem = problem_with(new, confirm)
    if problem:
        return problem
    factory = context.factory()
    problem = _refused(lambda: data.set_password(factory, username, hash_password(new)))
    if problem is None:
        data.record_event(factory, admin.username, "password reset", username)
    return problem


def set_disabled(admin: SignedInUser, username: str, disabled: bool) -> str | None:
    if disabled and username == admin.username:
        return "you cannot disable your own account"
    factory = context.factory()
    problem = _refused(lambda: data.set_disabled(factory, username, disabled))
    if problem is None:
        data.record_event(factory, admin.username, "account disabled" if disabled else "account enabled", username)
    return problem


def change_role(admin: SignedInUser, username: str, role: str) -> str | None:
    if role not in ROLES:
        return f"the role must be one of {', '.join(ROLES)}"
    factory = context.factory()
    before = data.get_user(factory, username)
    problem = _refused(lambda: data.set_role(factory, username, role))
    if problem is None:
        data.record_event(factory, admin.username, "role changed", username,
                          f"{before.role if before else '?'} -> {role}")
    return problem


def delete_account(admin: SignedInUser, username: str) -> str | None:
    if username == admin.username:
        return "you cannot delete your own account"
    factory = context.factory()
    problem = _refused(lambda: data.delete_user(factory, username))
    if problem is None:
        data.record_event(factory, admin.username, "account deleted", username)
    return problem


def audited_export(factory, username: str, target: str, what: str, make):
    """``make`` (a deferred download's callable) that writes an "export" row once the file is made:
    Streamlit calls it when the button is clicked, outside the page's run, so who and where are
    captured now."""

    def build():
        out = make()
        data.record_event(factory, username, "export", target, what)
        return out

    return build


def audit(kind: str, target: str = "", detail: str = "") -> None:
    """Write what the signed-in user just did to the audit log (exports, erasures)."""
    user = current_user()
    data.record_event(context.factory(), user.username if user else "?", kind, target, detail)


def sign_in_page() -> None:
    """The only page a signed-out visitor gets: the first-run admin form, or the sign-in form."""
    st.title("Classroom engagement")
    stale = _cookie() if web_session.ACTIVE else None
    if stale and st.session_state.get("_cleared_cookie") != stale:
        # Expired, signed out or forged: this browser forgets it (once: a later sign-in's new cookie
        # must not race with clearing the old one).
        st.session_state["_cleared_cookie"] = stale
        _cookie_script("signout")
    with ui.explained_database_errors():
        first_run = data.count_users(context.factory()) == 0
    if first_run:
        _first_admin_form()
    else:
        _sign_in_form()
    from dashboard.charts import warm_up_figure  # plotly, imported only where a chart is drawn

    st.plotly_chart(warm_up_figure(), config={"staticPlot": True, "displayModeBar": False}, key="chart_warm_up")


def _sign_in_form() -> None:
    st.subheader("Sign in")
    with st.form("sign_in"):
        username = st.text_input("User name", key="signin_username")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            with ui.explained_database_errors():
                user = authenticate(username, password)
        except Throttled as exc:
            st.error(f"Too many wrong passwords for this user name: try again in {math.ceil(exc.wait_s / 60)} min.")
            return
        if user is None:
            # One message for every refusal: it must not tell a right password on a disabled account.
            st.error("Wrong user name or password, or the account is disabled.")
            return
        _signed_in(user)


def _first_admin_form() -> None:
    st.subheader("Create the admin account")
    code_file = setup_code.code_path(context.settings())
    try:
        code = setup_code.ensure(code_file)
    except OSError as exc:
        st.error(f"Cannot write the setup code file {code_file}: {exc}.")
        return
    if code is not None:  # started without `python -m dashboard`: the server's terminal gets it now
        print(setup_code.announce(code), flush=True)
    st.write("This database has no users yet. The first account is the administrator, who can add "
             "teacher accounts later on the **Users** page. To create it, enter the one-time **setup code** "
             "printed in the terminal where the dashboard was started (`make run` or `python -m dashboard`).")
    with st.form("first_admin"):
        entered = st.text_input("Setup code (from the terminal)", key="first_code", placeholder="XXXX-XXXX-XXXX")
        username = st.text_input("Admin user name", value="admin", key="first_username")
        password = st.text_input("Password (at least 8 characters)", type="password", key="first_password")
        confirm = st.text_input("Password again", type="password", key="first_confirm")
        submitted = st.form_submit_button("Create the admin account", type="primary")
    if not submitted:
        return
    if not setup_code.check(code_file, entered):
        with ui.explained_database_errors():
            data.record_event(context.factory(), username.strip() or "?", "sign-in failed", "the first admin",
                              "wrong setup code")
        st.error("Wrong setup code. Use the code printed in the terminal where the dashboard was started "
                 "(each start prints a new one while there is no account).")
        return
    username = username.strip()
    problem = "enter a user name" if not username else problem_with(password, confirm)
    if problem:
        st.error(f"Not created: {problem}.")
        return
    with ui.explained_database_errors():
        created = data.create_first_admin(context.factory(), username, hash_password(password))
    if not created:  # another browser's admin got there first, in the same instant
        st.error("An admin account was created meanwhile, from another browser: sign in with it instead.")
        return
    setup_code.discard(code_file)
    _signed_in(SignedInUser(username, "admin"))


def require_role(role: str) -> SignedInUser:
    """Stop the page with a refusal unless the signed-in user has ``role``: admin pages are
    hidden from teachers' menus, and this refuses them when they reach one by its address."""
    user = current_user()
    if user is None or user.role != role:
        who = f"signed in as {ui.plain(user.username)} ({user.role})" if user else "not signed in"
        st.error(f"This page is for {role}s only; you are {who}.", icon=":material/block:")
        st.stop()
    return user


def signed_in_user() -> SignedInUser:
    user = current_user()
    if user is None:
        st.error("Sign in first.", icon=":material/block:")
        st.stop()
    return user
