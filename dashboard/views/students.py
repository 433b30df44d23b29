"""Students: give a tracked "Student N" a name, or merge two tracks that are one person (the
tracker lost them and came back with a new id), compared side by side first; every merge can be
undone here."""

from collections import Counter

import streamlit as st

from dashboard import analytics, auth, context, data, merge_compare, privacy, ui
from db.repository import MergeRefused

# Bumped after every change on this page: every merge widget's key carries it, so after a merge or an
# undo the choices and the confirmation start afresh (a second click cannot reuse a ticked box).
GENERATION_KEY = "students_generation"

user = auth.signed_in_user()
st.title("Students")
st.caption("Students are \"Student N\" until you name them; names are stored only in this database.")
ui.show_flash()
factory = context.factory()
generation = st.session_state.get(GENERATION_KEY, 0)


def done(message: str) -> None:
    st.session_state[GENERATION_KEY] = generation + 1
    st.cache_data.clear()  # an undo brings a roster back whose cached sums were those of another merge
    ui.flash(message)
    st.rerun()


session = ui.choose_session(factory, key="students_session", viewer=user)  # only sessions user may see
privacy.attention_only_note(session)  # the table below has no emotion columns either way; say why for such a session
with ui.explained_database_errors():
    roster = data.students(factory, session.id)
    merges = data.merges(factory, session.id)
    alert_counts = Counter(a.student_id for a in data.alerts(factory, session.id) if a.student_id is not None)
    # Totals per student from sums grouped in the database (the report's cached ones, regrouped into
    # the widest bin): not every observation of an hour-long lecture.
    bins = context.binned(session.id, analytics.BIN_CHOICES[-1])
if not roster:
    st.info("No students have been seen in this session yet.", icon=":material/info:")
    st.stop()

summary = analytics.student_summary(bins).set_index("student") if not bins.empty else None
rows = []
for s in roster:
    stats = summary.loc[s.display_name] if summary is not None and s.display_name in summary.index else None
    rows.append({"id": s.id, "tracked as": s.label, "name": s.name or "", "first seen": stats["first seen"] if stats is not None else "-",
                 "last seen": stats["last seen"] if stats is not None else "-",
                 "observations": int(stats["observations"]) if stats is not None else 0})
st.dataframe(rows, hide_index=True, key="students_table")
by_id = {s.id: s for s in roster}
ids = list(by_id)


def describe(i: int) -> str:
    s = by_id[i]
    return f"{s.label} ({s.name})" if s.name else s.label


st.subheader("Name a student")
with st.form("rename_form"):
    who = st.selectbox("Student", ids, format_func=describe, key="rename_who")
    name = st.text_input("Name (empty to go back to \"Student N\")", key="rename_name", max_chars=200)
    if st.form_submit_button("Save the name", type="primary"):
        with ui.explained_database_errors():
            data.rename_student(factory, who, name, user)
        done(f"{by_id[who].label} is now {name.strip() or by_id[who].label}.")


def comparison(keep: int, gone: int) -> None:
    """The two students side by side: figures, then engagement over time on one axis."""
    end_t = float(bins["t_max"].max()) if not bins.empty else 0.0
    bin_s = analytics.auto_bin_seconds(end_t)
    with ui.explained_database_errors():
        fine = context.binned(session.id, bin_s)
    names = {i: describe(i) for i in ids}
    pair = merge_compare.tracks(fine, [keep, gone], names, alert_counts)
    for col, track, role in zip(st.columns(2), pair, ("Kept", "Merged into it"), strict=True):
        with col, st.container(border=True):
            st.markdown(f"**{role}: {ui.plain(track.name)}**")
            for line in merge_compare.card_lines(track):
                st.caption(line)
    st.plotly_chart(merge_compare.timeline_figure(fine, pair, bin_s), key=f"merge_timeline_{generation}")
    st.caption("Engagement over time, one row per student; a gap is a time the student was not in view. One "
               "person tracked twice shows lines that take turns; two people show lines that run at the same time.")


st.subheader("Merge two tracks")
if len(ids) < 2:
    st.caption("Only one student in this session.")
elif session.status == "running":
    st.caption("Students can be merged once the class has ended: the engine is still writing to them.")
else:
    left, right = st.columns(2)
    keep = left.selectbox("Keep this student", ids, index=None, format_func=describe, placeholder="Choose a student",
                          key=f"merge_keep_{generation}")
    gone = right.selectbox("Merge this one into it (its records move over)", ids, index=None, format_func=describe,
                           placeholder="Choose a student", key=f"merge_gone_{generation}")
    if keep is None or gone is None:
        st.caption("Choose both students to compare them before merging.")
    elif keep == gone:
        st.caption("Choose two different students.")
    else:
        comparison(keep, gone)
        with ui.explained_database_errors():
            together = data.co_present_frames(factory, keep, gone)
        # The confirmation belongs to this pair: choosing another student shows a fresh, unticked box.
        pair = f"{generation}_{keep}_{gone}"
        override = False
        if together:
            st.warning(f"These two were seen at the same moment in {together:,} frames. Two faces at the same "
                       "moment are two people, so this is usually not one person tracked twice.",
                       icon=":material/group:")
            override = st.checkbox("Merge anyway: I know they are one person (for example a reflection or a photo "
                                   "of them was tracked)", key=f"merge_override_{pair}")
        sure = st.checkbox(f"{describe(gone)} and {describe(keep)} are the same person", key=f"merge_sure_{pair}")
        if st.button("Merge", key=f"merge_go_{generation}", icon=":material/merge:"):
            if not sure:
                st.error("Tick the box to confirm.")
            elif together and not override:
                st.error("Not merged: they were seen at the same moment. Tick \"Merge anyway\" only if you are sure.")
            else:
                try:
                    with ui.explained_database_errors():
                        data.merge_students(factory, keep, gone, user, allow_co_present=override)
                except MergeRefused as refused:  # SeenTogether too: seen together since the page was drawn
                    st.error(f"Not merged: {refused}.")
                else:
                    done(f"Merged {describe(gone)} into {describe(keep)}. You can undo it below.")

if merges:
    st.subheader("Undo a merge")
    blocked = {m.keep_id for m in merges} & {m.merged_id for m in merges}  # kept, then merged away itself
    for m in merges:
        text, button = st.columns([4, 1])
        anyway = f"; seen together in {m.co_present_frames:,} frames" if m.co_present_frames else ""
        text.markdown(f"{ui.plain(m.merged)} merged into {ui.plain(m.kept)} by {ui.plain(m.username or 'someone')} "
                      f"on {m.created_at:%Y-%m-%d %H:%M} ({m.observations:,} observations, "
                      f"{'1 alert' if m.alerts == 1 else f'{m.alerts} alerts'}{anyway})")
        later = m.keep_id in blocked
        if later:
            text.caption(f"{ui.plain(m.kept)} was merged into another student afterwards: undo that merge first.")
        if button.button("Undo", key=f"undo_{m.id}_{generation}", disabled=later, icon=":material/undo:"):
            try:
                with ui.explained_database_errors():
                    data.undo_merge(factory, m.id, user)
            except MergeRefused as refused:
                st.error(f"Not undone: {refused}.")
            else:
                done(f"{m.merged} is separate from {m.kept} again, with their own observations and alerts.")

st.subheader("Erase a student's records")
st.caption("Here: one student in this session. A named student in every session of a course: the Course overview "
           "page (the course's owner or an admin).")
if not user.is_admin:
    st.caption("An admin can erase one student's records in this session (observations and alerts).")
else:
    with st.form("erase_student_form"):
        who = st.selectbox("Student", ids, format_func=describe, key="erase_who")
        sure = st.checkbox("Erase every observation and alert of this student in this session; this cannot be undone",
                           key="erase_student_sure")
        if st.form_submit_button("Erase", icon=":material/delete_forever:"):
            if not sure:
                st.error("Tick the box to confirm.")
            else:
                with ui.explained_database_errors():
                    data.delete_student(factory, who, user)
                    auth.audit("erasure", f"session #{session.id}", f"the records of {describe(who)}")
                done(f"The records of {describe(who)} are erased.")
