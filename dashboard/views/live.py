"""Live class: start/stop the engine on a camera, then watch the class mood, one tile per
student and the alert feed, refreshed every few seconds."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import (
    alert_feedback,
    analytics,
    auth,
    browser_camera,
    charts,
    context,
    data,
    engine_cli,
    explain,
    jobs,
    live_view,
    privacy,
    server_details,
    ui,
)
from dashboard.live_sources import SOURCES

JOB_KEY = "live_job"
CLASSES_KEY = "live_classes_shown"  # the running classes the page's Stop buttons are for
REFRESH_S = 3.0  # how often the monitor redraws
HISTORY_S = 300.0  # "the last minutes" shown in the mood chart
MOOD_BIN_S = 5  # the mood chart's bin
NOW_WINDOW_S = 10.0  # a student seen within this much media time counts as present now
TILES_PER_ROW = 4
RATE_KEY = "live_rate_history"  # per session: (video_seconds, frames_analyzed) as the refreshes read them
KEEP_UP_SHARE = 0.9  # analysing under this share of the asked frame rate: the page says the engine is behind
FACES = {"angry": ":material/sentiment_extremely_dissatisfied:", "disgust": ":material/sick:",
         "fear": ":material/sentiment_stressed:", "happy": ":material/sentiment_satisfied:",
         "sad": ":material/sentiment_dissatisfied:", "surprise": ":material/sentiment_excited:",
         "neutral": ":material/sentiment_neutral:"}  # Material icons: no emoji font needed

user = auth.signed_in_user()
st.title("Live class")
settings = context.settings()
factory = context.factory()


def controls() -> None:
    """Start/stop the engine's live mode in the background. The server holds every class it started
    (dashboard/jobs.py): each tab of everyone who may see one lists it with its Stop, after any reload."""
    job = st.session_state.get(JOB_KEY)  # the class this tab started, if any
    with ui.explained_database_errors():
        running = jobs.registry(settings.db_url).visible(user, kind="live")
    st.session_state[CLASSES_KEY] = [j.id for j in running]  # the monitor redraws the page when they change
    for shown in running:
        class_panel(shown, here=shown.engine is job)
    if job is not None and job.running:
        return
    if job is not None:  # ended on its own: most likely the camera could not be opened
        if job.returncode not in (0, None) and not job.stop_requested:
            reason = server_details.without_folder(job.error_message(), settings.uploads_dir, user.is_admin)
            st.error(f"The engine stopped: {reason}", icon=":material/error:")
        st.session_state.pop(JOB_KEY, None)
    left, right = st.columns([1, 2])
    with left:
        index = st.selectbox("Source", range(len(SOURCES)), format_func=lambda i: SOURCES[i].label, key="live_source",
                             help="Where the engine takes its video from.")
    source = SOURCES[index]
    with right:
        args = source.options()
    if source.help:
        st.caption(source.help)
    course_name = ui.choose_course(factory, user, key="live")  # the class is filed under it: who sees it
    with ui.explained_database_errors():
        if not data.emotions_enabled(factory):
            st.caption(":material/visibility_off: Attention-only: an admin has switched emotions off, so this class "
                       "will be recorded without emotions or confusion.")
    if st.button("Start the class", type="primary", key="live_start", disabled=args is None or not course_name):
        course = ui.filing_course(factory, user, course_name)
        if course is None:
            return
        args = [*args, *live_view.engine_args(settings.uploads_dir), "--course", course.name]  # --preview: the live view
        job = engine_cli.start_live(args, settings.db_url, settings.uploads_dir / "engine-logs", title=source.label)
        jobs.registry(settings.db_url).add("live", job, owner=user.username, course_id=course.id, factory=factory)
        st.session_state[JOB_KEY] = job
        st.rerun()


def class_panel(job: jobs.Job, here: bool) -> None:
    """A running class and its Stop (``here``: the class this tab started)."""
    engine = job.engine
    by = "" if job.owner == user.username else f", started by {ui.plain(job.owner)}"
    since = datetime.fromtimestamp(engine.started).strftime("%H:%M")
    st.success(f"The engine is watching **{ui.plain(engine.title)}** (since {since}{by}).", icon=":material/videocam:")
    feed = engine.option("--feed")
    if feed and (here or job.owner == user.username):  # the camera of the device the class was started on
        browser_camera.camera_panel(Path(feed))
    if engine.stop_requested:
        st.caption("Stopping: the engine writes its last observations and closes the session…")
        return
    # A callback, not `if st.button(...)`: it runs as the click's script run starts, so a refresh
    # of the monitor that interrupts that run cannot lose the click (seen under load in a browser).
    st.button("Stop the class", type="primary", key="live_stop" if here else f"live_stop_{job.id}",
              on_click=_stop_class, args=(job, here))


def _stop_class(job: jobs.Job, here: bool) -> None:
    with st.spinner("Stopping: the engine writes its last observations and closes the session…"):
        jobs.registry(settings.db_url).stop(job)
    if here:
        st.session_state.pop(JOB_KEY, None)


def watched_session(running: list[data.SessionInfo]) -> data.SessionInfo | None:
    """The session to show: the one our engine just started, else the newest running one."""
    job = st.session_state.get(JOB_KEY)
    if job is not None:
        since = datetime.fromtimestamp(job.started - 2, tz=UTC).replace(tzinfo=None)
        ours = [s for s in running if s.started_at >= since]
        if ours or job.running:
            return ours[0] if ours else None  # None while our engine is still starting
    if len(running) > 1:
        ids = [s.id for s in running]
        chosen = st.selectbox("Running sessions", ids, key="live_watch",
                              format_func=lambda i: next(s.label for s in running if s.id == i))
        return next(s for s in running if s.id == chosen)
    return running[0] if running else None


def student_tile(name: str, row: pd.Series | None, emotions: bool = True) -> None:
    with st.container(border=True):
        st.markdown(f"**{ui.plain(name)}**")
        if row is None:
            st.caption("not in view")
            return
        if emotions and isinstance(row["emotion"], str):
            st.markdown(f"{FACES.get(row['emotion'], '')} {row['emotion']}")
        elif emotions and isinstance(row.get("unreadable_reason"), str):  # below the engine's quality floor
            st.caption(f"expression not readable: {analytics.READING_WORDS.get(row['unreadable_reason'], 'unclear')}")
        st.progress(float(row["engagement"]), text=f"attention {row['engagement']:.2f}")
        if emotions and pd.notna(row["confusion"]):
            st.caption(f"confusion {row['confusion']:.2f}")


def alert_feed(alerts: list[data.AlertInfo], names: dict[int, str], session_id: int) -> None:
    if not alerts:
        st.caption("No alerts so far.")
        return
    try:
        marks = data.alert_marks(factory, session_id, user)  # the teacher's right/wrong marks (alert_feedback)
    except data.DatabaseProblem:  # a busy database this refresh: the feed shows, unmarked, until the next
        marks = {}
    for a in sorted(alerts, key=lambda a: a.start_t, reverse=True)[:10]:
        who = "Whole class" if a.student_id is None else names.get(a.student_id, f"student #{a.student_id}")
        state = ":red[:material/radio_button_checked:] ongoing" if a.end_t is None else f"until {analytics.format_t(a.end_t)}"
        st.markdown(f"**{analytics.format_t(a.start_t)}** · {ui.plain(who)} · *{a.kind}* ({state})  \n"
                    f"{ui.plain(a.message)}")
        alert_feedback.mark_control(factory, user, a, marks.get(a.id), key=f"live_mark_{a.id}")


def recent_rate(session: data.SessionInfo) -> float | None:
    """Frames a second the live engine analysed over the last half-minute (see
    analytics.analysed_rate); None for a recording, which is never cut short."""
    if not session.live:
        return None
    history = st.session_state.setdefault(RATE_KEY, {}).setdefault(session.id, [(0.0, 0)])
    if (session.video_seconds, session.frames_analyzed) != history[-1]:
        history.append((session.video_seconds, session.frames_analyzed))
        del history[1:-30]  # the first reading (the class's start) and the last refreshes
    return analytics.analysed_rate(history)


@st.fragment(run_every=REFRESH_S)
def monitor() -> None:
    with ui.explained_database_errors():
        classes = [j.id for j in jobs.registry(settings.db_url).visible(user, kind="live")]
        if classes != st.session_state.get(CLASSES_KEY, classes):  # started or stopped elsewhere: new buttons
            st.rerun()
        data.close_abandoned_sessions(factory)  # a class whose engine died is not shown as live
        running = [s for s in data.list_sessions(factory, user) if s.status == "running"]  # only classes user may see
        session = watched_session(running)
        if session is None:
            job = st.session_state.get(JOB_KEY)
            if job is not None and job.running:
                st.info("Starting the engine (loading the model, opening the camera)…", icon=":material/hourglass_empty:")
            else:
                st.info("No class is being watched right now. Start one above, or from a terminal with "
                        "`make run` (or `python -m engine live --camera 0 --db URL`); it appears here by itself.",
                        icon=":material/info:")
            return
        # The last minutes as sums per 5 s bin per student (grouped in the database), and the raw
        # observations of the last few seconds only, for "now": a refresh reads a few thousand rows
        # however long the class has run.
        bins = data.binned(factory, session.id, MOOD_BIN_S, since_t=max(0.0, session.video_seconds - HISTORY_S))
        recent = data.recent_observations(factory, session.id, NOW_WINDOW_S)
        alerts = data.alerts(factory, session.id)
        roster = data.students(factory, session.id)
    st.caption(f"Watching {ui.plain(session.label)}; {analytics.format_t(session.video_seconds)} so far. "
               f"Updates every {REFRESH_S:g} s.")
    rate = recent_rate(session)
    if rate is not None and rate < KEEP_UP_SHARE * session.analysis_fps:
        # Said while the class runs, not only in the session's note at its end: the teacher is
        # reading these numbers now, and fewer frames means each student is read less often.
        st.warning(f"Analysing {rate:.1f} of the {session.analysis_fps:g} frames a second asked: this computer is "
                   "not keeping up with the class. Every student is still read, less often, and a face that "
                   "arrives is found later. Closing other programs helps; the session's note will say so too.",
                   icon=":material/speed:")
    emotions = not privacy.attention_only_note(session)  # attention-only: no mood, emotion or confusion shown
    latest = analytics.latest_per_student(recent, NOW_WINDOW_S)
    now = analytics.mood_now(latest)
    cols = st.columns(4 if emotions else 2)
    cols[0].metric("Students in view", len(latest))
    cols[1].metric("Attention now", f"{now['engagement']:.2f}" if now else "-")
    if emotions:
        cols[2].metric("Confusion now", f"{now['confusion']:.2f}" if now and pd.notna(now["confusion"]) else "-")
        read = now and any(now.get(e, 0.0) for e in analytics.EMOTIONS)  # no readable face: no mood
        top = max(analytics.EMOTIONS, key=lambda e: now.get(e, 0.0)) if read else None
        cols[3].metric("Main mood now", top if top else "-")

    watching = next((j for j in jobs.registry(settings.db_url).running("live") if j.session_id == session.id), None)
    preview = watching.engine.option("--preview") if watching is not None else None
    if preview:  # the class's own view file: any tab that may see the session shows it
        live_view.show(settings.uploads_dir, path=Path(preview))

    chart, feed = st.columns([3, 2])
    with chart:
        st.markdown("**Class mood, last minutes**" if emotions else "**Engagement, last minutes**")
        if bins.empty:
            st.caption("No faces yet.")
        else:
            mood = analytics.class_mood(bins)
            spans = [(a.start_t, a.end_t if a.end_t is not None else session.video_seconds, a.kind)
                     for a in alerts if a.student_id is None and (a.end_t is None or a.end_t >= bins["t_min"].min())]
            st.plotly_chart(charts.mood_figure(mood, spans, bin_s=MOOD_BIN_S, height=320, emotions=emotions),
                            key="live_mood_chart")
    with feed:
        st.markdown("**Alerts**")
        alert_feed(alerts, {s.id: s.display_name for s in roster}, session.id)

    st.markdown("**Students**")
    by_id = {int(r["student_id"]): r for _, r in latest.iterrows()}
    for start in range(0, len(roster), TILES_PER_ROW):
        row_cols = st.columns(TILES_PER_ROW)
        for col, student in zip(row_cols, roster[start:start + TILES_PER_ROW], strict=False):
            with col:
                student_tile(student.display_name, by_id.get(student.id), emotions)


controls()
with ui.explained_database_errors():
    explain.numbers_panel(settings.models_dir, None, data.emotions_enabled(factory))
st.divider()
monitor()
