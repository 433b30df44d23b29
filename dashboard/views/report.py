"""Session report: class mood over time, per-student timelines, the worst moments, a table per
student, alerts, and the downloads (CSV, HTML, PDF)."""

import dataclasses
from collections import Counter

import pandas as pd
import streamlit as st

from dashboard import (
    alert_feedback,
    analytics,
    auth,
    charts,
    context,
    data,
    explain,
    privacy,
    report_export,
    server_details,
    session_title,
    ui,
    uploads,
)

user = auth.signed_in_user()
st.title("Session report")
ui.show_flash()
factory = context.factory()

session = ui.choose_session(factory, key="report_session", viewer=user)  # only sessions user may see
session_title.title_editor(factory, user, session.id, session.title, key="report_rename")
with ui.explained_database_errors():
    last_t = data.last_observation_t(factory, session.id)
    alert_rows = data.alerts(factory, session.id)

if session.status == "running":
    st.info("This session is still being analysed; the report shows what has been recorded so far. "
            "Reload the page for more.", icon=":material/hourglass_empty:")
elif session.status == "failed":
    st.error(f"The analysis failed{': ' + ui.plain(session.note) if session.note else ''}.", icon=":material/error:")
elif session.status == "interrupted":
    st.warning(f"The analysis stopped early{': ' + ui.plain(session.note) if session.note else ''}; "
               "the report covers the part that was analysed.", icon=":material/pause_circle:")


def erase_section() -> None:
    """An admin's erasure of the whole session (also offered when its observations are gone)."""
    st.subheader("Erase")
    if not user.is_admin:
        st.caption("An admin can erase this session and everything recorded in it.")
    elif session.status == "running":
        st.caption("A session still being analysed cannot be erased: stop it first.")
    else:
        with st.form("erase_session"):
            sure = st.checkbox(f"Erase session #{session.id} and every observation, student and alert in it "
                               "(and its recording, if it was kept). This cannot be undone.", key="erase_session_sure")
            if st.form_submit_button("Erase this session", icon=":material/delete_forever:"):
                if not sure:
                    st.error("Tick the box to confirm.")
                else:
                    with ui.explained_database_errors():
                        source = data.delete_session(factory, session.id, user)
                        auth.audit("erasure", f"session #{session.id}", f"the whole session ({session.title})")
                    uploads.remove_kept_recordings([source], context.settings().uploads_dir)
                    ui.flash(f"Session #{session.id} ({session.title}) is erased.")
                    st.query_params.clear()
                    ui.forget_chosen_session()  # no page opens on the erased session
                    st.rerun()


emotions = not privacy.attention_only_note(session)  # an attention-only session: no emotion view at all
if last_t is None and analytics.PURGED_MARK in session.note:
    st.info(f"The observations of this session were deleted under the retention setting ({ui.plain(session.note)}); "
            "its students and alerts are kept.", icon=":material/auto_delete:")
    st.subheader("Alerts")
    st.dataframe(pd.DataFrame([{"from": analytics.format_t(a.start_t), "to": analytics.format_t(a.end_t),
                                "kind": a.kind, "message": a.message} for a in alert_rows],
                              columns=["from", "to", "kind", "message"]), hide_index=True, key="alerts_table")
    erase_section()  # the students' names and the alerts are still there: an admin can still erase them
    st.stop()
if last_t is None:
    st.info("No faces have been recorded in this session. If it is still running, wait; if it finished, "
            "the video may show no one facing the camera.", icon=":material/info:")
    st.stop()

end_t = float(max(last_t, session.video_seconds))
default_bin = analytics.auto_bin_seconds(end_t)
bin_s = st.select_slider("Time bin (seconds)", options=list(analytics.BIN_CHOICES), value=default_bin,
                         key="report_bin", help="Observations are averaged over bins of this width.")

# Sums per bin per student, grouped in the database (an hour-long lecture is 540,000 observations,
# a few thousand rows of these) and cached: a widget change regroups them without a query.
with ui.explained_database_errors():
    bins = context.binned(session.id, bin_s)
    reach = explain.coverage(session.id, last_t) if emotions else None  # readable faces (engine's quality floor)
reach_note = reach.sentence() if reach is not None else ""
totals = analytics.overall(bins)
mood = analytics.class_mood(bins)
names = bins.groupby("student_id")["student"].first().to_dict()

cols = st.columns(5 if emotions else 4)
cols[0].metric("Students seen", totals["students"])
cols[1].metric("Length analysed", analytics.format_t(end_t))
cols[2].metric("Mean engagement", f"{totals['engagement']:.2f}")
if emotions:
    cols[3].metric("Mean confusion", f"{totals['confusion']:.2f}")
cols[-1].metric("Alerts", len(alert_rows))
explain.numbers_panel(context.settings().models_dir, session.model_version, emotions)

class_spans = [(a.start_t, a.end_t if a.end_t is not None else end_t, a.kind) for a in alert_rows if a.student_id is None]
if emotions:
    st.subheader("Class mood over time")
    st.caption("Above: the share of readable faces showing each emotion. Below: mean engagement (solid) and "
               "confusion (dashed, readable faces only), from 0 to 1. Shaded spans: alerts about the whole class.")
    if reach_note:
        st.caption(f":material/visibility: {reach_note}")
    mood_heading = "Class mood over time"
else:
    st.subheader("Engagement over time")
    st.caption("Mean engagement of the class, from 0 to 1. Shaded spans: alerts about the whole class.")
    mood_heading = "Engagement over time"
mood_fig = charts.mood_figure(mood, class_spans, bin_s=bin_s, emotions=emotions, note=reach_note)
st.plotly_chart(mood_fig, key="mood_chart")

st.subheader("Per-student timeline")
if emotions:
    value = st.radio("Colour by", ["engagement", "emotion", "confusion", "baseline"], horizontal=True,
                     key="report_heatmap_value",
                     format_func={"engagement": "engagement", "emotion": "dominant emotion",
                                  "confusion": "confusion", "baseline": "confusion against their usual"}.get)
else:
    value = "engagement"
timeline = analytics.baseline_timeline(bins) if value == "baseline" else analytics.student_timeline(bins, value)
heatmap_fig = charts.timeline_heatmap(timeline, value, bin_s=bin_s)
st.plotly_chart(heatmap_fig, key="timeline_chart")

# The tables below the charts, computed once the charts are on their way to the browser (which
# takes longest over a report's first open: plotly.js to load and compile).
alert_counts = Counter(a.student_id for a in alert_rows if a.student_id is not None)
summary = analytics.student_summary(bins, dict(alert_counts))
if not emotions:
    summary = summary.drop(columns=list(analytics.EMOTION_SUMMARY_COLUMNS))
confused = analytics.notable_moments(mood, "confusion", largest=True, bin_s=bin_s) if emotions else None
disengaged = analytics.notable_moments(mood, "engagement", largest=False, bin_s=bin_s)
alerts_table = pd.DataFrame([
    {"from": analytics.format_t(a.start_t), "to": analytics.format_t(a.end_t) if a.end_t is not None else "ongoing",
     "who": "whole class" if a.student_id is None else names.get(a.student_id, f"student #{a.student_id}"),
     "kind": a.kind, "message": a.message}
    for a in alert_rows
], columns=["from", "to", "who", "kind", "message"])

if emotions:
    left, right = st.columns(2)
    with left:
        st.subheader("Most confused moments")
        st.dataframe(confused, hide_index=True, key="confused_table")
else:
    right = st.container()
with right:
    st.subheader("Least engaged moments")
    st.dataframe(disengaged, hide_index=True, key="disengaged_table")

st.subheader("Students")
st.dataframe(summary, hide_index=True, key="summary_table")
st.page_link(ui.STUDENTS_PAGE, label="Name students or merge duplicates on the Students page", icon=":material/groups:",
             query_params={"session": str(session.id)})

baseline = analytics.student_baseline(bins) if emotions else None
if baseline is not None:
    st.subheader(report_export.BASELINE_HEADING)
    st.caption("Each student against their own usual in this session, so a face that looks sad or stern at rest "
               "is not read as a problem all lesson: how much of their time in view their expression could be "
               "read, the emotion they showed most and how often another, their usual confusion (the middle "
               f"value of their time bins) and how far and how often they were {analytics.ABOVE_USUAL:.1f} or more "
               "above it.")
    st.dataframe(baseline, hide_index=True, key="baseline_table")

st.subheader("Alerts")
if alerts_table.empty:
    st.write("No alerts in this session.")
else:
    st.dataframe(alerts_table, hide_index=True, key="alerts_table")
    alert_feedback.report_marks(factory, user, session.id, alert_rows, names)  # right / wrong, with a note

st.subheader("Download")
content = report_export.ReportContent(
    # The source as this viewer may see it: a teacher gets the file's name, never the server's folder.
    session=dataclasses.replace(session, source=server_details.source_label(session.source, user.is_admin)),
    mood=mood, bin_s=bin_s,
    figures={mood_heading: mood_fig, "Per-student timeline": heatmap_fig},
    summary=summary, confused=confused, disengaged=disengaged, alerts=alerts_table, alert_spans=class_spans,
    coverage=reach_note, baseline=baseline,
)
stem = f"session-{session.id}"
d1, d2, d3 = st.columns(3)
# Every download is built only when asked for (a deferred download): the CSV of an hour-long lecture
# is 150 MB, streamed from the database to a temporary file; the HTML and PDF take a moment, and
# are made from the aggregates above, not the observations.
# Each download, once made, is written to the audit log (who, which session, which file).
target = f"session #{session.id}"
d1.download_button("Observations (CSV)",
                   auth.audited_export(factory, user.username, target, "observations CSV",
                                       lambda: report_export.csv_file(factory, session.id, viewer=user)),
                   file_name=f"{stem}-observations.csv", mime="text/csv", key="download_csv", on_click="ignore",
                   icon=":material/table_view:")
d2.download_button("Report (HTML)",
                   auth.audited_export(factory, user.username, target, "HTML report",
                                       lambda: report_export.html_report(content)),
                   file_name=f"{stem}-report.html", mime="text/html", key="download_html", on_click="ignore",
                   icon=":material/html:")
d3.download_button("Report (PDF)",
                   auth.audited_export(factory, user.username, target, "PDF report",
                                       lambda: report_export.pdf_report(content)),
                   file_name=f"{stem}-report.pdf", mime="application/pdf", key="download_pdf", on_click="ignore",
                   icon=":material/picture_as_pdf:")

erase_section()
