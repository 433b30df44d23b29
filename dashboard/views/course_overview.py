"""Course overview: a course's sessions over the weeks, in date order — mean engagement and
confusion per session, attendance (students present) and alerts — filtered by course and dates,
each linked to its report. Only the sessions the user may see (their courses and the ones shared
with them; admins: all). At the bottom, the course's owner (or an admin) erases one named student
across the course, or the whole course: here rather than on the admins' Courses page, because this
is the page where a teacher already picks one of their courses (the Courses page is for reassigning
and sharing, an admin's job)."""

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import auth, context, course_week, data, session_title, ui, uploads
from db.repository import ErasureRefused

user = auth.signed_in_user()
st.title("Course overview")
st.caption("Each session of a course, oldest first: how engaged and how confused the class was on average, how "
           "many students were there and how many alerts there were. Dates and times are UTC.")
ui.show_flash()
factory = context.factory()
# Bumped after each erasure: the confirmation boxes' keys carry it, so they start empty again.
ERASE_GENERATION = "overview_erase_generation"


def trend_figure(rows: list[course_week.WeekSession]) -> go.Figure:
    """Above: mean engagement and confusion per session (0 to 1). Below: students present and
    alerts per session. One slot per session, in date order, named by its start: sessions days or
    minutes apart get the same room (on a time axis, bars a week apart were hairlines and two
    sessions of one morning sat on each other)."""
    x = [f"{r.started_at:%-d %b %H:%M} · #{r.id}" for r in rows]  # unique: equal labels would share a slot
    titles = [r.title for r in rows]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08)
    for name, values, style in (
        ("engagement", [r.engagement for r in rows], {"color": "#1b9e77", "width": 3}),
        ("confusion", [r.confusion for r in rows], {"color": "#d95f02", "width": 3, "dash": "dash"}),
    ):
        fig.add_trace(go.Scatter(x=x, y=values, name=f"mean {name}", mode="lines+markers", line=style,
                                 customdata=titles, hovertemplate=f"%{{customdata}}<br>{name} %{{y:.2f}}<extra></extra>"),
                      row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=[r.students for r in rows], name="students present", marker_color="#7570b3",
                         customdata=titles, hovertemplate="%{customdata}<br>%{y} students<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Bar(x=x, y=[r.alerts for r in rows], name="alerts", marker_color="#e7298a",
                         customdata=titles, hovertemplate="%{customdata}<br>%{y} alerts<extra></extra>"), row=2, col=1)
    fig.update_yaxes(range=[0, 1], title_text="mean (0-1)", row=1, col=1)
    fig.update_yaxes(title_text="count", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=x, automargin=True)
    fig.update_layout(height=480, barmode="group", margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": 1.08})
    return fig


def sessions_table(rows: list[course_week.WeekSession]) -> pd.DataFrame:
    return pd.DataFrame([{
        "started (UTC)": f"{r.started_at:%Y-%m-%d %H:%M}", "session": r.title, "status": r.status,
        "students present": r.students, "mean engagement": r.engagement, "mean confusion": r.confusion,
        "alerts": r.alerts, "disengaged alerts": r.alerts_disengaged, "confused alerts": r.alerts_confused,
    } for r in rows], columns=["started (UTC)", "session", "status", "students present", "mean engagement",
                               "mean confusion", "alerts", "disengaged alerts", "confused alerts"])


def date_range(span: tuple[date, date], course_id: int) -> tuple[date, date]:
    """The days to show, first and last included (all of the course's by default)."""
    picked = st.date_input("Dates", value=span, format="YYYY-MM-DD", key=f"overview_dates_{course_id}",
                           help="Only the sessions that started on these days (UTC) are shown.")
    if isinstance(picked, (tuple, list)):
        picked = tuple(picked)
        if len(picked) == 2:
            return picked
        if len(picked) == 1:  # the second day is still being chosen
            return picked[0], picked[0]
        return span
    return picked, picked


with ui.explained_database_errors():
    courses = data.visible_courses(factory, user)
    chosen_course = course_week.course_of(factory, user, ui.chosen_session())
if not courses:
    st.info("No courses yet. A course is made when you start a class on the Live class page or analyse a "
            "recording on the Recordings page, and files every session under it.", icon=":material/info:")
    if not user.is_admin:
        st.caption("You see your own courses and the courses an admin has shared with you.")
    st.stop()

names = {c.id: c.name for c in courses}
ids = list(names)
left, right = st.columns(2)
with left:
    course_id = st.selectbox("Course", ids, format_func=names.get, key="overview_course",
                             index=ids.index(chosen_course) if chosen_course in ids else 0)
def erased(message: str, course_gone: bool) -> None:
    st.session_state[ERASE_GENERATION] = st.session_state.get(ERASE_GENERATION, 0) + 1
    st.cache_data.clear()  # the cached sums and means of erased sessions and students
    if course_gone:
        st.session_state.pop("overview_course", None)
        st.query_params.clear()
        ui.forget_chosen_session()  # no page opens on an erased session
    ui.flash(message)
    st.rerun()


def counted(n) -> str:
    return (f"{n.observations:,} observations, {n.alerts:,} alerts, {n.marks:,} marks on alerts and {n.merges:,} "
            f"merges ({n.rows:,} rows in all)")


def confirmed_erasure(form_key: str, typed_key: str, prompt: str, button: str, erase):
    """A form that runs ``erase(typed)`` when submitted; its result, or None when not submitted or
    refused (the refusal shown)."""
    with st.form(form_key):
        typed = st.text_input(prompt, key=typed_key)
        if st.form_submit_button(button, icon=":material/delete_forever:"):
            try:
                with ui.explained_database_errors():
                    return erase(typed)
            except ErasureRefused as refused:
                st.error(f"Not erased: {ui.plain(refused)}.")
    return None


def erase_section(course_id: int) -> None:
    """The owner's (or an admin's) erasures in this course, each shown with what it removes and
    confirmed by typing the name; the repository checks the permission and the name again and
    writes the audit-log entry in the same transaction."""
    st.subheader("Erase")
    course = names[course_id]
    with ui.explained_database_errors():
        allowed = data.may_erase_course(factory, course_id, user)
    if not allowed:
        st.caption("Only this course's owner or an admin can erase its records; a co-teacher cannot.")
        return
    generation = st.session_state.get(ERASE_GENERATION, 0)
    st.caption("An erasure covers every session of the course, whatever the dates chosen above. It cannot be undone, "
               "and it is written to the audit log.")
    with ui.explained_database_errors():
        people = data.named_students_in_course(factory, course_id, user)
    st.markdown("**A student across the course**")
    st.caption("A student is the same person in several sessions by the name given on the Students page. \"Student N\" "
               "is numbered afresh in every session (Student 3 today is not Student 3 last week), so only named students "
               "are offered here. To erase an unnamed student, give them a name on the Students page first (the name is "
               "erased with them).")
    if not people:
        st.caption("No student of this course has a name yet.")
    else:
        who = st.selectbox("Student", people, key=f"erase_student_who_{course_id}_{generation}")
        with ui.explained_database_errors():
            n = data.course_student_count(factory, course_id, who, user)
        st.warning(f"Erases {ui.plain(who)} in {n.sessions} sessions of {ui.plain(course)}: {n.students} student rows, "
                   f"{counted(n)}.", icon=":material/warning:")
        done = confirmed_erasure(f"erase_course_student_{generation}", f"erase_student_typed_{generation}",
                                 "Type the student's name to confirm", "Erase this student's records",
                                 lambda typed: data.erase_course_student(factory, course_id, who, typed, user))
        if done is not None:
            erased(f"The records of {who} in {done.sessions} sessions of {course} are erased.", False)

    st.markdown("**The whole course**")
    with ui.explained_database_errors():
        n = data.course_count(factory, course_id, user)
    st.warning(f"Erases the course {ui.plain(course)}, its {n.sessions} sessions and everything recorded in them: "
               f"{n.students} students, {counted(n)}.", icon=":material/warning:")
    done = confirmed_erasure(f"erase_course_{generation}", f"erase_course_typed_{generation}",
                             "Type the course's name to confirm", "Erase the whole course",
                             lambda typed: data.erase_course(factory, course_id, typed, user))
    if done is not None:
        count, sources = done
        kept = uploads.remove_kept_recordings(sources, context.settings().uploads_dir)
        also = f" and {kept} kept recording{'s' if kept != 1 else ''}" if kept else ""
        erased(f"The course {course} and its {count.sessions} sessions{also} are erased.", True)


with ui.explained_database_errors():
    span = course_week.course_span(factory, user, course_id)
if span is None:
    st.info(f"No sessions in {ui.plain(names[course_id])} yet.", icon=":material/info:")
    erase_section(course_id)  # an empty course can still be erased
    st.stop()
with right:
    since, until = date_range(span, course_id)
with ui.explained_database_errors():
    rows = course_week.course_sessions(user, course_id, since, until)
if not rows:
    st.info(f"No sessions of {ui.plain(names[course_id])} between {since:%Y-%m-%d} and {until:%Y-%m-%d}.",
            icon=":material/info:")
    erase_section(course_id)
    st.stop()

read = [r for r in rows if r.engagement is not None]
cols = st.columns(4)
cols[0].metric("Sessions", len(rows))
cols[1].metric("Mean engagement", f"{sum(r.engagement for r in read) / len(read):.2f}" if read else "-",
               help="The mean of the sessions' means.")
cols[2].metric("Students present (mean)", f"{sum(r.students for r in rows) / len(rows):.1f}")
cols[3].metric("Alerts", sum(r.alerts for r in rows))

st.subheader("Over the weeks")
st.plotly_chart(trend_figure(rows), key="overview_trend")
st.caption("A session with no faces recorded has no point on the upper chart; an attention-only session has no "
           "confusion.")

st.subheader("Sessions")
st.dataframe(sessions_table(rows), hide_index=True, key="overview_table",
             column_config={"mean engagement": st.column_config.NumberColumn(format="%.2f"),
                            "mean confusion": st.column_config.NumberColumn(format="%.2f")})
for r in rows:
    st.page_link(ui.REPORT_PAGE, label=f"#{r.id} {ui.plain(r.title)} · {r.started_at:%Y-%m-%d %H:%M}",
                 icon=ui.STATUS_ICONS.get(r.status, ":material/insert_chart:"), query_params={"session": str(r.id)})

st.subheader("Rename a session")
by_id = {r.id: r for r in rows}
default = chosen if (chosen := ui.chosen_session()) in by_id else rows[-1].id
relabelled = ui.relabel_choice("overview_rename_which", default)  # just renamed: the picker shows the new title
which = st.selectbox("Session", list(by_id), key="overview_rename_which",
                     index=0 if relabelled else list(by_id).index(default),
                     format_func=lambda i: f"#{i} {by_id[i].title} ({by_id[i].started_at:%Y-%m-%d %H:%M})")
if which not in by_id:  # a choice from before the dates changed
    which = default
if which != default:  # picked here: the chosen session on the other pages too
    ui.keep_session(which)
session_title.title_editor(factory, user, which, by_id[which].title, key="overview_rename")

erase_section(course_id)
