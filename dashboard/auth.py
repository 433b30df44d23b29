"""Sign-in, the first-run admin account, sign-out and role checks. The signed-in user lives in
``st.session_state`` only (one browser tab's session), never in a cookie or a file."""

from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

from dashboard import context, data, ui
from dashboard.passwords import check_password, hash_password, problem_with
from db.models import utcnow

USER_KEY = "signed_in_user"
ROLES = ("teacher", "admin")


@dataclass(frozen=True)
class SignedInUser:
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def current_user() -> SignedInUser | None:
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, SignedInUser) else None


def sign_out() -> None:
    st.session_state.pop(USER_KEY, None)


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
    """The user when the password matches; None for an unknown name or a wrong password
    (the caller must not say which). Raises :class:`Throttled` after ``MAX_FAILURES`` wrong
    passwords for the name within ``THROTTLE_WINDOW_S``. Every attempt is recorded."""
    factory, name = context.factory(), username.strip()
    failures = data.recent_sign_in_failures(factory, name, THROTTLE_WINDOW_S)
    user = data.get_user(factory, name)
    right = check_password(password, user.password_hash if user else _NOBODY_HASH) and user is not None
    throttled = len(failures) >= MAX_FAILURES
    data.record_sign_in(factory, name, right and not throttled)
    if throttled:
        oldest = failures[-MAX_FAILURES]
        raise Throttled(max(1.0, THROTTLE_WINDOW_S - (utcnow() - oldest).total_seconds()))
    return SignedInUser(user.username, user.role) if right else None


def create_user(username: str, password: str, confirm: str, role: str) -> str | None:
    """Add an account; returns why it was refused, or None."""
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
    return None


def sign_in_page() -> None:
    """The only page a signed-out visitor gets: the first-run admin form, or the sign-in form."""
    st.title("Classroom engagement")
    with ui.explained_database_errors():
        first_run = data.count_users(context.factory()) == 0
    if first_run:
        _first_admin_form()
    else:
        _sign_in_form()


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
            st.error("Wrong user name or password.")
            return
        st.session_state[USER_KEY] = user
        st.rerun()


def _first_admin_form() -> None:
    st.subheader("Create the admin account")
    st.write("This database has no users yet. The first account is the administrator, who can add "
             "teacher accounts later on the **Users** page.")
    with st.form("first_admin"):
        username = st.text_input("Admin user name", value="admin", key="first_username")
        password = st.text_input("Password (at least 8 characters)", type="password", key="first_password")
        confirm = st.text_input("Password again", type="password", key="first_confirm")
        submitted = st.form_submit_button("Create the admin account", type="primary")
    if submitted:
        with ui.explained_database_errors():
            # Re-check: another browser may have created the admin meanwhile.
            if data.count_users(context.factory()) > 0:
                st.error("An account was created meanwhile; sign in instead.")
                return
            problem = create_user(username, password, confirm, "admin")
        if problem:
            st.error(f"Not created: {problem}.")
            return
        st.session_state[USER_KEY] = SignedInUser(username.strip(), "admin")
        st.rerun()


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
