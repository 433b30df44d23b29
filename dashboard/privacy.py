"""Privacy in the app (issue 13): the notice every signed-in user sees in the sidebar (what is
recorded, for how long, who can see it), the admin's switches on the Users page (attention-only
mode, how long observations are kept), and the one line a page shows for a session recorded
without emotions. docs/privacy.md is the long version."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import sessionmaker

from dashboard import data, ui

# The one line the report, students and live pages show for an attention-only session.
ATTENTION_ONLY_LINE = ("This session was recorded in attention-only mode: no expressions were read, so there are "
                       "no emotion, mood or confusion figures for it (presence, head pose, eyes and engagement only).")
LAW = ("In the European Union the AI Act (Article 5(1)(f), since 2 February 2025) prohibits inferring the emotions "
       "of people in education institutions, except for medical or safety reasons.")


def attention_only_note(session: data.SessionInfo) -> bool:
    """For a session recorded without emotions, say so in one line; True when it was."""
    if session.emotions:
        return False
    st.info(ATTENTION_ONLY_LINE, icon=":material/visibility_off:")
    return True


def notice_text(emotions: bool, retention_days: int | None) -> str:
    """The notice, in Markdown (fixed text and numbers only: nothing typed by a user)."""
    reading = ("the seven expression probabilities and the most likely expression, and a \"confused\" score "
               "derived from them (an expression reading, not a mental state)" if emotions else
               "no expressions: this school runs attention-only (no emotion or confusion values)")
    kept = (f"Observations are deleted {retention_days} days after their class ended; the session, its students "
            "and its alerts stay." if retention_days else
            "Observations are kept until an admin erases them (no retention period is set).")
    return "\n".join([
        "**What is recorded**, about 5 times a second for each visible face: where the face is (a box), "
        f"the head's turn and tilt, how open the eyes are, engagement, and {reading}.",
        "",
        "No face pictures are stored, unless someone asks for an annotated video on the command line. Students are "
        "\"Student N\" until a teacher names them. An uploaded recording is deleted after its analysis unless "
        "*keep* is ticked.",
        "",
        f"**For how long**: {kept}",
        "",
        "**Who can see it**: the teacher who owns the class's course, the co-teachers it is shared with, and the "
        "admins; admins can also erase sessions and students, reassign courses (Courses page) and change these "
        "settings (Users page). Details: docs/privacy.md.",
    ])


def sidebar_notice(factory: sessionmaker) -> None:
    """The privacy notice as a closed expander (every page's sidebar, once signed in)."""
    try:
        emotions, days = data.emotions_enabled(factory), data.retention_days(factory)
    except data.DatabaseProblem:
        return  # the page itself explains the database's trouble
    with st.expander("Privacy: what is recorded", icon=":material/shield:"):
        st.markdown(notice_text(emotions, days))


def admin_settings(factory: sessionmaker, audit) -> None:
    """The admin's switches (on the Users page): emotions on/off and the retention period.
    ``audit(kind, target, detail)`` records a change in the audit log."""
    st.subheader("Privacy")
    with ui.explained_database_errors():
        emotions, days = data.emotions_enabled(factory), data.retention_days(factory)
    st.caption(f"{LAW} A school there must switch emotions off. With emotions off, the engines this dashboard "
               "starts load no expression model and store presence, head pose, eyes and engagement only; each "
               "session records the mode it ran in. Engines started from a terminal on this database obey it "
               "too.")
    with st.form("privacy_settings"):
        want_emotions = st.toggle("Read emotions (expressions and confusion)", value=emotions, key="privacy_emotions")
        want_days = st.number_input("Keep observations for this many days after a class (0 = keep them)",
                                    min_value=0, max_value=36500, value=days or 0, step=1, key="privacy_retention")
        st.caption("Older observations are deleted when the dashboard starts (or by `python -m db purge`); the "
                   "session, its students and its alerts stay, marked \"observations purged\".")
        if st.form_submit_button("Save the privacy settings"):
            new_days = int(want_days) or None
            with ui.explained_database_errors():
                data.set_emotions_enabled(factory, bool(want_emotions))
                data.set_retention_days(factory, new_days)
                purged = data.purge_expired(factory) if new_days else []
                audit("settings changed", "privacy",
                      f"emotions {'on' if want_emotions else 'off'}; "
                      f"retention {f'{new_days} days' if new_days else 'off'}")
            done = f" Observations purged from {len(purged)} sessions." if purged else ""
            ui.flash(f"Privacy settings saved: emotions {'on' if want_emotions else 'off (attention-only)'}, "
                     f"observations kept {f'{new_days} days' if new_days else 'until erased'}.{done}")
            st.rerun()
