"""Small widgets shared by the pages: database-problem messages, empty states, the session picker."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import streamlit as st

from dashboard import data
from dashboard.data import DatabaseProblem, SessionInfo

# Page scripts, relative to app.py (what st.switch_page and st.page_link take). Not in a
# folder named "pages": Streamlit would treat that as an old-style multipage app and, on a
# fresh server, run a page script straight from its address without app.py's sign-in.
LIVE_PAGE = "views/live.py"
RECORDINGS_PAGE = "views/recordings.py"
REPORT_PAGE = "views/report.py"
STUDENTS_PAGE = "views/students.py"
MODEL_PAGE = "views/model.py"
USERS_PAGE = "views/users.py"
AUDIT_PAGE = "views/audit.py"
ACCOUNT_PAGE = "views/account.py"
COURSES_PAGE = "views/courses.py"
COURSE_OVERVIEW_PAGE = "views/course_overview.py"
ALL_PAGES = (LIVE_PAGE, RECORDINGS_PAGE, REPORT_PAGE, STUDENTS_PAGE, MODEL_PAGE, USERS_PAGE, AUDIT_PAGE, ACCOUNT_PAGE,
             COURSES_PAGE, COURSE_OVERVIEW_PAGE)

# Material icons (Streamlit draws them from its own font: no emoji font needed on the server or the client).
STATUS_ICONS = {"running": ":material/radio_button_checked:", "complete": ":material/check_circle:",
                "failed": ":material/error:", "interrupted": ":material/pause_circle:"}


def show_problem(problem: DatabaseProblem) -> None:
    """The problem in the words for whoever reads it: an admin gets the database's (masked) URL and
    the fixing command; teachers and signed-out visitors nothing about the server."""
    from dashboard import auth  # auth's pages use this module

    user = auth.current_user()
    message = str(problem) if user is not None and user.is_admin else problem.for_teacher
    if problem.kind == "busy":
        st.warning(message, icon=":material/hourglass_empty:")
        st.button("Try again", key=f"retry_{id(problem)}")
    else:
        st.error(message, icon=":material/error:")


@contextmanager
def explained_database_errors() -> Iterator[None]:
    """Run a page body; a database problem ends the page with a message instead of a traceback."""
    try:
        yield
    except DatabaseProblem as problem:
        show_problem(problem)
        st.stop()


def no_sessions_yet() -> None:
    st.info(
        "No class sessions yet. Start one from a terminal with `make run` (camera) or "
        "`python -m engine process lecture.mp4 --db URL`, start a camera on the **Live class** page, "
        "or upload a recording on the **Recordings** page.",
        icon=":material/info:",
    )


def session_param() -> int | None:
    raw = st.query_params.get("session")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


CHOSEN_SESSION_KEY = "chosen_session"  # the session last picked on any page: the next page opens on it


def chosen_session() -> int | None:
    """The session the address names (``?session=ID``), else the one last picked on any page of
    this tab (the sidebar's page links drop the address's parameters)."""
    wanted = session_param()
    return wanted if wanted is not None else st.session_state.get(CHOSEN_SESSION_KEY)


def keep_session(session_id: int) -> None:
    """Make ``session_id`` the tab's chosen session, shown in the address (``?session=ID``)."""
    st.session_state[CHOSEN_SESSION_KEY] = session_id
    if st.query_params.get("session") != str(session_id):
        st.query_params["session"] = str(session_id)


def keep_chosen_session_in_url() -> None:
    """Every page's address carries the tab's chosen session (the sidebar's page links drop the
    address's parameters), so a reload or a copied address on any page keeps it; an address that
    names one (a link, a reload) makes it the chosen one. The pickers still offer only sessions
    the user may see (:func:`choose_session`)."""
    named = session_param()
    if named is not None:
        st.session_state[CHOSEN_SESSION_KEY] = named
    elif (chosen := st.session_state.get(CHOSEN_SESSION_KEY)) is not None:
        st.query_params["session"] = str(chosen)


def forget_chosen_session() -> None:
    """The chosen session is gone (erased): no page should open on it."""
    st.session_state.pop(CHOSEN_SESSION_KEY, None)
    st.query_params.pop("session", None)


RETITLED_KEY = "session_retitled"  # a session was just renamed: its picker must show the new title


def relabel_choice(key: str, value: object) -> bool:
    """After a session was renamed (:data:`RETITLED_KEY`), put the selectbox ``key``'s choice in the
    session state before it is drawn, so the browser shows the new title (it keeps showing the
    chosen option's old label otherwise, until the next click). True when done: the selectbox is
    then drawn with index 0."""
    if not st.session_state.pop(RETITLED_KEY, False):
        return False
    st.session_state[key] = value
    return True


def pick_session(sessions: Sequence[SessionInfo], key: str, label: str = "Class session") -> SessionInfo:
    """A session selectbox that starts at ``?session=ID`` when given (else at the session picked
    last on another page) and keeps the URL in step, so a report can be linked to."""
    ids = [s.id for s in sessions]
    wanted = session_param()
    if wanted not in ids:
        wanted = st.session_state.get(CHOSEN_SESSION_KEY)
    index = ids.index(wanted) if wanted in ids else 0
    by_id = {s.id: s for s in sessions}
    if relabel_choice(key, ids[index]):
        index = 0  # the value comes from the session state; an index too would be a conflict
    chosen = st.selectbox(label, ids, index=index, key=key,
                          format_func=lambda i: by_id[i].label if i in by_id else f"#{i}")
    if chosen not in by_id:  # a widget value from an earlier list (or forged): only listed sessions are shown
        chosen = ids[index]
    keep_session(chosen)
    return by_id[chosen]


# Every character that means something to Streamlit's Markdown: links and pictures (a picture's
# address is fetched by every viewer's browser), emphasis, colour and icon directives, HTML.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")


def plain(text: object) -> str:
    """``text`` that someone typed (a student's name, a session title, a user name) shown
    literally inside Markdown: ``![x](http://...)`` stays those characters, nothing is fetched."""
    return _MARKDOWN_SYNTAX.sub(r"\\\1", str(text))


FLASH_KEY = "flash_message"


def flash(message: str) -> None:
    """A success message that survives the rerun that follows a change."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(plain(message), icon=":material/check_circle:")


def choose_session(factory, key: str, viewer) -> SessionInfo:
    """The session a page is about (see :func:`pick_session`), among those ``viewer`` (the
    signed-in user) may see: every page's picker goes through here, so another teacher's session
    is neither offered nor opened by its id in the address (``?session=ID``). With none visible,
    the explanation of how to make one, and the page ends there."""
    with explained_database_errors():
        sessions = data.list_sessions(factory, viewer)
    wanted = session_param()
    if wanted is not None and wanted not in {s.id for s in sessions}:
        # Worded the same whether the session exists or not: its existence is not the viewer's business.
        st.warning(f"There is no session #{wanted} among the classes you can see"
                   f"{'' if viewer.is_admin else ' (your courses and the ones shared with you)'}.",
                   icon=":material/block:")
    if not sessions:
        no_sessions_yet()
        if not viewer.is_admin:
            st.caption("You see the sessions of your own courses and of the courses an admin has shared with you.")
        st.stop()
    return pick_session(sessions, key=key)


NEW_COURSE = -1  # the course picker's "a new course" choice


def filing_course(factory, viewer, name: str):
    """The course ``name`` as ``viewer`` may file under it (made now, with its owner, if new);
    None, with the refusal shown, where the name is another teacher's course."""
    from db.repository import CourseRefused

    try:
        with explained_database_errors():
            return data.course_for(factory, viewer, name)
    except CourseRefused as exc:
        st.error(f"Not started: {plain(exc)}.", icon=":material/block:")
        return None


def choose_course(factory, viewer, key: str) -> str:
    """The course a recording or a class is filed under: one of ``viewer``'s courses (owned or
    shared with them; an admin: any), or a new one named here (created, with ``viewer`` as its
    owner, by :func:`dashboard.data.course_for` when the engine is started). Returns the name;
    empty when none is given yet."""
    with explained_database_errors():
        courses = data.visible_courses(factory, viewer)
    names = {c.id: c.name for c in courses}
    chosen = st.selectbox("Course", [*names, NEW_COURSE], key=f"{key}_course",
                          format_func=lambda i: names.get(i, "A new course…"),
                          help="Who can see the analysis: you, the co-teachers this course is shared with, and "
                               "the admins.")
    if chosen != NEW_COURSE and chosen in names:
        return names[chosen]
    return st.text_input("Name of the new course", value=f"Classes of {viewer.username}", max_chars=200,
                         key=f"{key}_new_course",
                         help="Course names are unique across all teachers: add your name or the year if it is "
                              "taken.").strip()


def _favicon():
    """A 32x32 bar chart in white on blue (a PIL image), drawn here rather than fetched."""
    import numpy as np
    from PIL import Image

    icon = np.zeros((32, 32, 3), np.uint8)
    icon[:] = (25, 103, 210)
    for x, height in ((6, 10), (14, 18), (22, 14)):
        icon[28 - height:28, x:x + 5] = 255
    return Image.fromarray(icon)


def local_favicon() -> None:
    """The browser tab's icon, served by this server. Call after ``st.navigation``: a page's
    Material icon as the tab icon would make every browser fetch it from Google's font server on
    each page (a school network may block it, and it tells Google who opened which page)."""
    st.set_page_config(page_icon=_favicon())
