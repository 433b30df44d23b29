"""Recordings: upload a lecture video, watch the engine analyse it (progress read from the
database), then open its report. Earlier recordings are listed below. With ``python -m dashboard
--ray ADDRESS`` each upload is analysed on that Ray cluster (``engine batch --ray``); progress is
read from the database the same way."""

import streamlit as st

from dashboard import analytics, auth, context, data, engine_cli, same_recording, ui
from dashboard.uploads import VIDEO_EXTENSIONS, UploadRejected, save_upload

JOB_KEY = "processing_job"
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
        help=f"Up to {settings.max_upload_mb} MB. The file is stored under a generated name in "
             f"{settings.uploads_dir} while it is analysed.",
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
        course = ui.filing_course(factory, user, course_name)
        if course is None or same_recording.stop_for_earlier(factory, user, uploaded, again):
            return
        try:
            path, info = save_upload(uploaded, uploaded.name, settings.uploads_dir)
        except UploadRejected as exc:
            st.error(f"Not accepted: {exc}.", icon=":material/block:")
            return
        except OSError as exc:
            st.error(f"Could not store the upload in {settings.uploads_dir}: {exc}", icon=":material/error:")
            return
        job = engine_cli.start_processing(path, settings.db_url, settings.uploads_dir / "engine-logs", fps=fps,
                                          title=uploaded.name, keep=keep, ray=settings.ray_address,
                                          course=course.name)
        job.media_duration = info.duration
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
    if session is None:
        where = f" on Ray ({job.ray_address})" if job.ray_address else ""
        st.progress(0.0, text=f"Starting the engine{where} (loading the face detector and the model)…")
    else:
        duration = session.media_duration or job.media_duration
        share = min(1.0, session.video_seconds / duration) if duration else 0.0
        of = f" of {analytics.format_t(duration)} ({share:.0%})" if duration else ""
        st.progress(share, text=f"{analytics.format_t(session.video_seconds)}{of} analysed, "
                                f"{session.frames_analyzed} frames")
    if st.button("Cancel", key="recording_cancel"):
        engine_cli.stop(job)
        st.rerun()


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
            f"{result.get('alerts', '?')} alerts, in {result.get('wall_seconds', 0):.0f} s.", icon=":material/check_circle:")
        if session_id is not None and st.button("Open the report", type="primary", key="recording_open"):
            st.switch_page(ui.REPORT_PAGE, query_params={"session": str(session_id)})
    else:
        st.error(f"The engine could not analyse **{ui.plain(job.title)}**: {ui.plain(job.error_message())}",
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


job = st.session_state.get(JOB_KEY)
if job is None:
    upload_form()
elif job.running:
    progress_panel()
else:
    finished_panel(job)
st.divider()
earlier_recordings()
