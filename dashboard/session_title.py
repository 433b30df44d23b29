"""Renaming a session from the page that shows it (Session report, Course overview): uploads are
titled by their file name and live classes by course and start, which a teacher may want to say
better ("Week 3: fractions")."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import sessionmaker

from dashboard import course_week, ui
from db import repository as repo


def title_editor(factory: sessionmaker, viewer: repo.Viewer, session_id: int, title: str, key: str) -> None:
    """A folded form: the session's title, editable, saved for everyone who sees the session."""
    key = f"{key}_{session_id}"  # another session's form starts from its own title
    with st.expander("Rename this session", icon=":material/edit:"), st.form(f"{key}_form"):
        new = st.text_input("Title", value=title, max_chars=course_week.TITLE_MAX, key=f"{key}_title")
        if st.form_submit_button("Save the title"):
            try:
                with ui.explained_database_errors():
                    saved = course_week.rename_session(factory, viewer, session_id, new)
            except course_week.TitleRefused as exc:
                st.error(f"Not saved: {exc}.", icon=":material/block:")
                return
            ui.flash(f"Session #{session_id} is now called {saved}.")
            st.session_state[ui.RETITLED_KEY] = True
            st.rerun()

