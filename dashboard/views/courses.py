"""Courses (admins only): who owns each course and who it is shared with. A teacher sees only the
sessions of the courses they own or that are shared with them (db.repository's visibility rule);
an admin sees all, and here reassigns a course to another teacher, shares it with a co-teacher or
stops sharing it, and files a session that has no course (those, and courses without an owner,
are the admins' only until then). Every change is written to the audit log."""

import pandas as pd
import streamlit as st

from dashboard import auth, context, data, ui
from db.repository import CourseRefused

ADMINS_ONLY = "nobody (admins only)"

admin = auth.require_role("admin")
st.title("Courses")
st.caption("A teacher sees the sessions of their own courses and of the courses shared with them; admins see "
           "all. A course without an owner, and a session without a course, are seen by admins only.")
ui.show_flash()
factory = context.factory()

with ui.explained_database_errors():
    courses = data.course_overview(factory)
    accounts = [u.username for u in data.list_users(factory)]
    loose = data.sessions_without_course(factory)

st.dataframe(pd.DataFrame([{"course": c.name, "owner": c.owner or ADMINS_ONLY, "shared with": ", ".join(c.shared_with),
                            "sessions": c.sessions} for c in courses],
                          columns=["course", "owner", "shared with", "sessions"]), hide_index=True, key="courses_table")


def done(action, message: str, target: str, detail: str) -> None:
    try:
        with ui.explained_database_errors():
            action()
            auth.audit("course changed", target, detail)
    except CourseRefused as exc:
        st.error(f"Not changed: {ui.plain(exc)}.")
        return
    ui.flash(message)
    st.rerun()


if not courses:
    st.caption("No courses yet: teachers make them when they upload a recording or start a class.")
else:
    by_id = {c.id: c for c in courses}
    st.subheader("Reassign or share a course")
    cid = st.selectbox("Course", list(by_id), key="course_pick", format_func=lambda i: by_id[i].name)
    course = by_id[cid]
    owner_col, share_col = st.columns(2)
    with owner_col:
        with st.form("course_owner"):
            st.markdown("**Owner**")
            choices = [ADMINS_ONLY, *accounts]
            owner = st.selectbox("Owner", choices, key="course_owner_to",
                                 index=choices.index(course.owner) if course.owner in choices else 0)
            if st.form_submit_button("Reassign"):
                new = None if owner == ADMINS_ONLY else owner
                done(lambda: data.set_course_owner(factory, cid, new), f"{course.name} now belongs to {owner}.",
                     f"course {course.name}", f"owner {course.owner or ADMINS_ONLY} -> {owner}")
    with share_col:
        with st.form("course_share"):
            st.markdown("**Co-teachers**")
            others = [a for a in accounts if a != course.owner and a not in course.shared_with]
            who = st.selectbox("Share with", others, key="course_share_with") if others else None
            if st.form_submit_button("Share", disabled=who is None):
                done(lambda: data.share_course(factory, cid, who), f"{course.name} is shared with {who}.",
                     f"course {course.name}", f"shared with {who}")
        if course.shared_with:
            with st.form("course_unshare"):
                gone = st.selectbox("Stop sharing with", list(course.shared_with), key="course_unshare_with")
                if st.form_submit_button("Stop sharing"):
                    done(lambda: data.unshare_course(factory, cid, gone), f"{course.name} is no longer shared with "
                         f"{gone}.", f"course {course.name}", f"no longer shared with {gone}")

st.subheader("Sessions without a course")
if not loose:
    st.caption("None: every session is filed under a course.")
elif not courses:
    st.caption(f"{len(loose)} sessions have no course; they can be filed once a course exists.")
else:
    sessions = {s.id: s for s in loose}
    with st.form("file_session"):
        sid = st.selectbox("Session", list(sessions), key="file_session_pick", format_func=lambda i: sessions[i].label)
        target = st.selectbox("File under", list(by_id), key="file_session_course", format_func=lambda i: by_id[i].name)
        if st.form_submit_button("File it"):
            done(lambda: data.set_session_course(factory, sid, target),
                 f"Session #{sid} is filed under {by_id[target].name}.", f"session #{sid}",
                 f"filed under course {by_id[target].name}")
