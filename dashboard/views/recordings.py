"""Recordings: upload a lecture video, watch the engine analyse it (progress read from the
database), then open its report. Earlier recordings are listed below. With ``python -m dashboard
--ray ADDRESS`` each upload is analysed on that Ray cluster (``engine batch --ray``); progress is
read from the database the same way."""

import time

import streamlit as st

from dashboard import analytics, auth, context, data, engine_cli, jobs, same_recording, server_details, ui
from dashboard.uploads import VIDEO_EXTENSIONS, UploadRejected, save_upload

JOB_KEY = "processing_job"
RUNNING_KEY = "recordings_running_shown"  # the other analyses the page listed last time
COURSE_KEY = "processing_course"  # the id of the course the running upload is filed under
POLL_S = 1.0

user = auth.signed_in_user()
st.title("Recordings")
settings = context.settings()
factory = context.factory()


def upload_form() -> None:
    st.subheader("Analyse a recording")
    uploaded = st.file_uploader(
        "Lecture recording", type=[e.lstrip(".") for e in VIDEO_EXTENSIONS], key="recording_upload",
        max_upload_size=settings.max_upload_mb,
        help=f"Up to {settings.max_upload_mb} MB. The file is stored on the server under a generated name while "
             f"it is analysed{uploads_folder()}.",
    )
    # The course beside the rate, in one row: the page keeps the number of its elements before the
    # Analyse button, which the test harness (AppTest) relies on when the page then reruns.
    left, right = st.columns(2)
    with left:
        fps = st.number_input("Frames analysed per second of video", min_value=0.5, max_value=30.0, value=5.0,
                              step=0.5, key="recording_fps",
                              help="More is finer-grained but slower. 5 is plenty for a lecture.")
    with right:
        course_name = ui.choose_course(factory, user, key="recording")  # filed under it: who sees the analysis
    keep = st.checkbox("Keep the recording after the analysis", value=False, key="recording_keep",
                       help="A lecture recording is full of students' faces: by default it is deleted as soon as "
                            "the engine is done with it, and only the analysis is kept.")
    again = same_recording.again_requested()  # "Analyse it again" after the already-analysed warning
    if st.button("Analyse", type="primary", key="recording_start",
                 disabled=uploaded is None or not course_name) or (again and uploaded is not None):
        submitted = time.time()  # "analysed in N s" counts from here: what the teacher waits
        course = ui.filing_course(factory, user, course_name)
        if course is None or same_recording.stop_for_earlier(factory, user, uploaded, again):
            return
        try:
            path, info = save_upload(uploaded, uploaded.name, settings.uploads_dir)
        except UploadRejected as exc:
            st.error(f"Not accepted: {exc}.", icon=":material/block:")
            return
        except OSError as exc:
            st.error(f"Could not store the upload on the server{uploads_folder()}: {exc.strerror or exc}",
                     icon=":material/error:")
            return
        job = engine_cli.start_processing(path, settings.db_url, settings.uploads_dir / "engine-logs", fps=fps,
                                          title=uploaded.name, keep=keep, ray=settings.ray_address,
                                          course=course.name)
        job.media_duration, job.submitted = info.duration, submitted
        jobs.registry(settings.db_url).add("process", job, owner=user.username, course_id=course.id, factory=factory)
        st.session_state[JOB_KEY] = job
        st.session_state[COURSE_KEY] = course.id
        st.rerun()


@st.fragment(run_every=POLL_S)
def progress_panel() -> None:
    job: engine_cli.EngineJob = st.session_state[JOB_KEY]
    if not job.running:
        st.rerun()  # finished: redraw the whole page without the poller
    with ui.explained_database_errors():
        session = own_session(job)
        if session is not None and session.title != job.title:
            data.set_session_title(factory, session.id, job.title)
    st.subheader(f"Analysing {ui.plain(job.title)}")
    progress_bar(job, session)
    if st.button("Cancel", key="recording_cancel"):
        cancel(job)
        st.rerun()


def cancel(job: engine_cli.EngineJob) -> None:
    """Stop the engine (SIGINT, then terminate), through the server's registry when it holds the job."""
    registry = jobs.registry(settings.db_url)
    held = registry.find(job)
    if held is not None:
        registry.stop(held)
    else:
        engine_cli.stop(job)


def uploads_folder() -> str:
    """Where uploads are stored, for admins only (masked): teachers never see server paths."""
    return f" (in {server_details.masked_path(settings.uploads_dir)})" if user.is_admin else ""


@st.fragment(run_every=POLL_S)
def running_analyses() -> None:
    """Every analysis running on this server that the viewer may see, besides this tab's own: its
    progress and Cancel, from any tab, after any reload (the server holds the engines, dashboard/jobs.py)."""
    own = st.session_state.get(JOB_KEY)
    with ui.explained_database_errors():
        others = [j for j in jobs.registry(settings.db_url).visible(user, kind="process") if j.engine is not own]
        sessions = {j.id: data.get_session(factory, j.session_id) if j.session_id is not None else None
                    for j in others}
    shown, st.session_state[RUNNING_KEY] = st.session_state.get(RUNNING_KEY, []), [j.id for j in others]
    if set(shown) - {j.id for j in others}:  # one has finished: list it under the earlier recordings
        st.rerun(scope="app")
    if not others:
        return
    st.subheader("Analyses running now")
    for job in others:
        with st.container(border=True):
            by = "" if job.owner == user.username else f" (started by {ui.plain(job.owner)})"
            st.markdown(f"**{ui.plain(job.title)}**{by}")
            progress_bar(job.engine, sessions[job.id])
            if job.engine.stop_requested:
                st.caption("Cancelling…")
            elif st.button("Cancel", key=f"recording_cancel_{job.id}"):
                jobs.registry(settings.db_url).stop(job)
                st.rerun(scope="app")


def progress_bar(job: engine_cli.EngineJob, session: data.SessionInfo | None) -> None:
    if session is None:
        where = f" on Ray ({job.ray_address})" if job.ray_address else ""
        st.progress(0.0, text=f"Starting the engine{where} (loading the face detector and the model)…")
        return
    duration = session.media_duration or job.media_duration
    share = min(1.0, session.video_seconds / duration) if duration else 0.0
    of = f" of {analytics.format_t(duration)} ({share:.0%})" if duration else ""
    st.progress(share, text=f"{analytics.format_t(session.video_seconds)}{of} analysed, "
                            f"{session.frames_analyzed} frames")


def own_session(job: engine_cli.EngineJob) -> data.SessionInfo | None:
    """This tab's upload's session (found by its generated file name), filed under the course the
    teacher chose as soon as the engine has made it (so they, and only those who may see that
    course, see it)."""
    found = data.sessions_from_source(factory, job.source_name)
    session = found[0] if found else None
    course_id = st.session_state.get(COURSE_KEY)
    if session is not None and course_id is not None:
        data.file_session(factory, session.id, course_id)  # a no-op once filed
        st.session_state.pop(COURSE_KEY, None)
    return session


def finished_panel(job: engine_cli.EngineJob) -> None:
    with ui.explained_database_errors():
        session = own_session(job)
    result = job.result() or {}
    session_id = result.get("session_id") or (session.id if session else None)
    if job.ray_address and session_id is not None and "students" not in result:  # engine batch's report has no counts
        with ui.explained_database_errors():
            result = {**result, "students": len(data.students(factory, session_id)),
                      "alerts": len(data.alerts(factory, session_id))}
    if job.returncode == 0:
        faces = f"{result['faces']} faces, " if "faces" in result else ""
        cluster = f" on Ray ({job.ray_address})" if job.ray_address else ""
        st.success(
            f"**{ui.plain(job.title)}** analysed{cluster}: {result.get('students', '?')} students, {faces}"
            f"{result.get('alerts', '?')} alerts, in {elapsed(job)}.", icon=":material/check_circle:")
        if session_id is not None and st.button("Open the report", type="primary", key="recording_open"):
            st.switch_page(ui.REPORT_PAGE, query_params={"session": str(session_id)})
    elif job.stop_requested:
        st.info(f"The analysis of **{ui.plain(job.title)}** was cancelled.", icon=":material/cancel:")
        if session is not None and session.video_seconds > 0:
            st.page_link(ui.REPORT_PAGE, label="See the part that was analysed", query_params={"session": str(session.id)})
    else:
        reason = server_details.without_folder(job.error_message(), settings.uploads_dir, user.is_admin)
        st.error(f"The engine could not analyse **{ui.plain(job.title)}**: {ui.plain(reason)}",
                 icon=":material/error:")
        if session is not None and session.note:
            st.caption(f"Session note: {session.note}")
        if session is not None and session.video_seconds > 0:
            st.page_link(ui.REPORT_PAGE, label="See the part that was analysed", query_params={"session": str(session.id)})
    if st.button("Analyse another recording", key="recording_again"):
        st.session_state.pop(JOB_KEY, None)
        st.rerun()


def earlier_recordings() -> None:
    st.subheader("Earlier recordings")
    with ui.explained_database_errors():
        recordings = [s for s in data.list_sessions(factory, user) if s.source_kind == "video"]  # only user's
    if not recordings:
        st.caption("None yet: upload one above, or run `python -m engine process lecture.mp4 --db URL`.")
        return
    for s in recordings[:30]:
        length = analytics.format_t(s.media_duration or s.video_seconds)
        st.page_link(ui.REPORT_PAGE, icon=ui.STATUS_ICONS.get(s.status), label=f"#{s.id} {ui.plain(s.title)} · {length} · {s.status} · {s.started_at:%Y-%m-%d %H:%M}",
                     query_params={"session": str(s.id)})


def elapsed(job: engine_cli.EngineJob) -> str:
    """What the teacher waited, from pressing Analyse to the end (model loading and all), not the
    engine's own processing time; the engine's figure only for a job that keeps no clock."""
    seconds = getattr(job, "elapsed", None)
    if seconds is None:
        seconds = (job.result() or {}).get("wall_seconds", 0)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


running_analyses()
job = st.session_state.get(JOB_KEY)
if job is None:
    upload_form()
elif job.running:
    progress_panel()
else:
    finished_panel(job)
st.divider()
earlier_recordings()
