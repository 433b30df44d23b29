"""Teachers tell us when an alert is wrong: a right / wrong mark (with an optional note) on each
alert in the live feed and in the report, and, on the admin's model page, how often teachers
marked each kind of alert right, beside the thresholds that raise it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st
from sqlalchemy.orm import sessionmaker

from dashboard import analytics, data, ui
from db.repository import Viewer
from engine.config import ConfigError, EngineConfig, load_config

CHOICES = ("right", "wrong")
LABELS = {"right": ":material/thumb_up: Right", "wrong": ":material/thumb_down: Wrong"}


def _save(factory: sessionmaker, viewer: Viewer, alert_id: int, key: str) -> None:
    """The mark's on_change: store the choice (none: the mark is taken back) with the note."""
    choice = st.session_state.get(f"{key}_choice")
    note = st.session_state.get(f"{key}_note", "") or ""
    try:
        data.mark_alert(factory, alert_id, viewer, None if choice is None else choice == "right", note)
        st.session_state.pop(f"{key}_problem", None)
    except data.DatabaseProblem as problem:
        st.session_state[f"{key}_problem"] = problem.for_teacher


def mark_control(factory: sessionmaker, viewer: Viewer, alert: data.AlertInfo, mark: data.MarkInfo | None,
                 key: str) -> None:
    """Right / wrong for one alert, and a note once it is marked; stored as soon as it changes."""
    current = None if mark is None else ("right" if mark.right else "wrong")
    choice_col, note_col = st.columns([2, 3], vertical_alignment="center")
    choice_col.segmented_control(
        "Was this alert right?", CHOICES, default=current, format_func=LABELS.get, key=f"{key}_choice",
        label_visibility="collapsed", on_change=_save, args=(factory, viewer, alert.id, key),
        help="Tell us whether this alert was right; click your choice again to take it back.")
    note_col.text_input("Note", value=mark.note if mark else "", key=f"{key}_note", max_chars=500,
                        placeholder="Note (optional): what was going on", label_visibility="collapsed",
                        disabled=current is None and st.session_state.get(f"{key}_choice") is None,
                        on_change=_save, args=(factory, viewer, alert.id, key))
    problem = st.session_state.get(f"{key}_problem")
    if problem:
        st.error(f"The mark was not stored: {ui.plain(problem)}", icon=":material/error:")


def report_marks(factory: sessionmaker, viewer: Viewer, session_id: int, alerts: Sequence[data.AlertInfo],
                 names: Mapping[int, str]) -> None:
    """The report's list of its alerts to mark, in an expander under the alerts table."""
    if not alerts:
        return
    marks = data.alert_marks(factory, session_id, viewer)
    done = sum(a.id in marks for a in alerts)
    with st.expander(f"Were these alerts right? You marked {done} of {len(alerts)}", icon=":material/rate_review:"):
        st.caption("Your marks tell the school's admin how often each kind of alert is right, to tune when "
                   "alerts are raised. Only you and the admins see your notes.")
        for a in alerts:
            who = "Whole class" if a.student_id is None else names.get(a.student_id, f"student #{a.student_id}")
            st.markdown(f"**{analytics.format_t(a.start_t)}** · {ui.plain(who)} · *{a.kind}*: {ui.plain(a.message)}")
            mark_control(factory, viewer, a, marks.get(a.id), key=f"report_mark_{a.id}")


# --- the admin's model page ------------------------------------------------------------------------


@dataclass(frozen=True)
class KindFeedback:
    """What teachers said about one kind of alert."""

    kind: str
    alerts: int  # raised, in every session of this database
    marked: int  # alerts with at least one mark
    marks: int
    right: int  # marks saying right

    @property
    def share_right(self) -> float | None:
        return self.right / self.marks if self.marks else None


def feedback(factory: sessionmaker) -> list[KindFeedback]:
    return [KindFeedback(**row) for row in data.alert_mark_summary(factory)]


def thresholds(cfg: EngineConfig) -> dict[str, str]:
    """The rules that raise each kind of alert, with the values in use, in words."""
    a, sc = cfg.alerts, cfg.scoring
    hold = (f"held for {a.min_on_s:g} s opens it; at or below {a.off_threshold:g} for {a.min_off_s:g} s ends it; "
            f"whole class when {a.class_share:.0%} of at least {a.class_min_present} present students are over "
            f"(ends at {a.class_off_share:.0%})")
    return {
        "disengaged": (f"share of the last {sc.window_s:g} s spent looking away (head turned over {sc.away_yaw_deg:g} "
                       f"degrees or tilted over {sc.away_pitch_deg:g}), with eyes closed (under {sc.closed_eyes:g} "
                       f"open) or out of view, at or above {a.on_threshold:g} {hold}"),
        "confused": (f"confusion over the last {sc.window_s:g} s at or above {a.on_threshold:g} {hold}. Confusion is "
                     f"0 at {sc.confusion_floor:g} and 1 at {sc.confusion_ceiling:g} of fear+sad+angry+surprise"),
        "absent": f"a known student unseen for {a.absent_s:g} s",
    }


def short_thresholds(cfg: EngineConfig) -> dict[str, str]:
    """The numbers that decide each kind of alert, short enough for a table cell."""
    a = cfg.alerts
    hysteresis = f"opens at {a.on_threshold:g} held {a.min_on_s:g} s, ends at {a.off_threshold:g} held {a.min_off_s:g} s"
    return {"disengaged": hysteresis, "confused": hysteresis, "absent": f"unseen for {a.absent_s:g} s"}


def admin_section(factory: sessionmaker) -> None:
    """The model page's "Alerts as teachers marked them": per kind, how many alerts were marked and
    the share marked right, beside the thresholds in use."""
    st.subheader("Alerts as teachers marked them")
    with ui.explained_database_errors():
        rows = feedback(factory)
    try:
        cfg = load_config()
        rules, short = thresholds(cfg), short_thresholds(cfg)
    except ConfigError:
        rules, short = {}, {}
    kinds = sorted({r.kind for r in rows} | set(rules))
    by_kind = {r.kind: r for r in rows}
    table = pd.DataFrame([{
        "alert kind": kind,
        "alerts raised": by_kind[kind].alerts if kind in by_kind else 0,
        "alerts marked": by_kind[kind].marked if kind in by_kind else 0,
        "marked right": (f"{by_kind[kind].share_right:.0%} of {by_kind[kind].marks}"
                         if kind in by_kind and by_kind[kind].marks else "-"),
        "thresholds in use": short.get(kind, "-"),
    } for kind in kinds], columns=["alert kind", "alerts raised", "alerts marked", "marked right", "thresholds in use"])
    st.dataframe(table, hide_index=True, key="alert_feedback_table")
    for kind, rule in rules.items():
        st.markdown(f"- **{kind}**: {rule}")  # our own words and numbers: nothing to escape
    st.caption("Teachers mark alerts right or wrong in the live feed and in the report. A kind often marked wrong "
               "raises alerts too easily: its thresholds are in the engine's settings (engine/config.toml, "
               "[alerts] and [scoring]).")
