"""The dashboard's pages: ``python -m dashboard --db URL`` serves this script through
:mod:`dashboard.asgi` (the signed sign-in cookie and the upload gate); served by plain
``streamlit run dashboard/app.py`` it refuses to open. Signs the visitor in, then offers the pages
their role may use."""

import sys
from pathlib import Path

# Streamlit puts this script's folder on sys.path, not the repository root the packages live in.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from dashboard import auth, context, privacy, server_details, ui, warm_up, web_session  # noqa: E402

# No Material icon as a page's or the app's icon: the browser would fetch it from Google's font server
# for the tab (a school network may block it, and it tells Google who opened which page); the tab
# icon is drawn here instead (ui.local_favicon, after each st.navigation).
st.set_page_config(page_title="Classroom engagement", layout="wide")

# Served by plain `streamlit run dashboard/app.py`, this app would have no cookie binding and no
# upload gate: refuse before touching the database. A run over the web has a page address
# (st.context.url); AppTest's in-process runs have none, and no server to protect.
if web_session.unprotected_server(st.context.url is not None):
    st.error(web_session.NOT_LAUNCHED, icon=":material/gpp_bad:")  # drawn from the local font, not fetched
    st.stop()

with ui.explained_database_errors():
    context.factory()  # opens (and if new, creates) the database; explains a bad one

with ui.explained_database_errors():
    user = auth.refresh_signed_in_user()  # an account disabled or deleted meanwhile is signed out here
if user is None:
    # Every page's address shows the sign-in form; once signed in, the same address (and its
    # ?session=...) shows the page that was asked for.
    aliases = [st.Page(auth.sign_in_page, title="Sign in", url_path=Path(p).stem, visibility="hidden")
               for p in ui.ALL_PAGES]
    sign_in = st.navigation([st.Page(auth.sign_in_page, title="Sign in", default=True),
                             *aliases], position="hidden")
    ui.local_favicon()
    sign_in.run()
    st.stop()

# Admin pages stay registered for teachers, hidden from their menu, so reaching one by its
# address shows the page's refusal rather than silently landing elsewhere.
report_page = st.Page(ui.REPORT_PAGE, title="Session report")
class_pages = [
    st.Page(ui.LIVE_PAGE, title="Live class", default=True),
    st.Page(ui.RECORDINGS_PAGE, title="Recordings"),
    report_page,
    st.Page(ui.STUDENTS_PAGE, title="Students"),
    st.Page(ui.COURSE_OVERVIEW_PAGE, title="Course overview"),
    st.Page(ui.ACCOUNT_PAGE, title="My account"),
]
admin_visibility = "visible" if user.is_admin else "hidden"
admin_pages = [
    st.Page(ui.MODEL_PAGE, title="Model evaluation", visibility=admin_visibility),
    st.Page(ui.USERS_PAGE, title="Users", visibility=admin_visibility),
    st.Page(ui.COURSES_PAGE, title="Courses", visibility=admin_visibility),
    st.Page(ui.AUDIT_PAGE, title="Audit log", visibility=admin_visibility),
]
page = st.navigation({"Class": class_pages, "Admin": admin_pages} if user.is_admin else class_pages + admin_pages)
ui.local_favicon()

with st.sidebar:
    st.caption(f"Signed in as **{ui.plain(user.username)}** ({user.role})")
    if st.button("Sign out", key="sign_out"):
        auth.sign_out()
        st.rerun()
    if user.is_admin:  # teachers never see server details; admins see them masked
        st.caption(f"Database: `{server_details.masked_url(context.settings().db_url)}`")
    privacy.sidebar_notice(context.factory())  # what is recorded, for how long, who sees it

ui.keep_chosen_session_in_url()  # the session picked on one page follows to the next, in the address
page.run()
warm_up.after_first_page(page.url_path == report_page.url_path)  # the browser's first report comes sooner (not reached after a page's st.stop())
