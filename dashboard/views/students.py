"""Students: give a tracked "Student N" a name, or merge two tracks that are one person
(the tracker lost them and came back with a new id)."""

import streamlit as st

from dashboard import analytics, auth, context, data, privacy, ui

user = auth.signed_in_user()
st.title("Students")
st.caption("Students are \"Student N\" until you name them; names are stored only in this database.")
ui.show_flash()
factory = context.factory()

session = ui.choose_session(factory, key="students_session", viewer=user)  # only sessions user may see
privacy.attention_only_note(session)  # the table below has no emotion columns either way; say why for such a session
with ui.explained_database_errors():
    roster = data.students(factory, session.id)
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


rename, merge = st.columns(2)
with rename:
    st.subheader("Name a student")
    with st.form("rename_form"):
        who = st.selectbox("Student", ids, format_func=describe, key="rename_who")
        name = st.text_input("Name (empty to go back to \"Student N\")", key="rename_name", max_chars=200)
        if st.form_submit_button("Save the name", type="primary"):
            with ui.explained_database_errors():
                data.rename_student(factory, who, name, user)
            ui.flash(f"{by_id[who].label} is now {name.strip() or by_id[who].label}.")
            st.rerun()

with merge:
    st.subheader("Merge two tracks")
    if len(ids) < 2:
        st.caption("Only one student in this session.")
    else:
        with st.form("merge_form"):
            keep = st.selectbox("Keep", ids, format_func=describe, key="merge_keep")
            gone = st.selectbox("Merge into it (this track disappears)", ids, index=1, format_func=describe,
                                key="merge_gone")
            sure = st.checkbox("They are the same person; this cannot be undone", key="merge_sure")
            if st.form_submit_button("Merge"):
                if keep == gone:
                    st.error("Pick two different students.")
                elif not sure:
                    st.error("Tick the box to confirm.")
                else:
                    with ui.explained_database_errors():
                        data.merge_students(factory, keep, gone, user)
                    ui.flash(f"Merged {describe(gone)} into {describe(keep)}.")
                    st.rerun()

st.subheader("Erase a student's records")
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
                ui.flash(f"The records of {describe(who)} are erased.")
                st.rerun()
