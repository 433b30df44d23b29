"""The engine runs the dashboard started (live classes, analyses of uploads), held by the server,
not by a browser tab: every tab of everyone who may see a run lists it with its progress and its
Stop / Cancel, after any reload. One registry per dashboard server and database
(``st.cache_resource``); a reaper thread waits for each engine process the moment it ends (no
``<defunct>`` children left under the dashboard, whether or not a tab is still open) and finds the
run's session as soon as the engine has made it, filing an upload's session under its course."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dashboard import data, engine_cli
from db import repository as repo
from db.models import ClassSession, Course, SessionStatus

log = logging.getLogger(__name__)

REAP_S = 0.5  # how often the reaper looks at the running engines
CLOCK_SLACK_S = 2.0  # a live session started this long before its engine's Popen is still that engine's


@dataclass
class Job:
    """One engine run: its process (``engine``: the Popen handle, logs, start time), who started it,
    the course it is filed under (who may see it before its session exists) and its session once
    the engine has made it (the progress: seconds analysed, read from the database)."""

    id: str
    kind: str  # "process" (an upload's analysis) | "live" (a class)
    engine: engine_cli.EngineJob
    owner: str  # the signed-in user name that started it
    course_id: int | None
    factory: sessionmaker
    session_id: int | None = None

    @property
    def running(self) -> bool:
        return self.engine.running

    @property
    def title(self) -> str:
        return self.engine.title


class JobRegistry:
    """The server's running engines. Thread-safe: pages (one script thread per tab) and the reaper
    share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._reaper: threading.Thread | None = None

    def add(self, kind: str, engine: engine_cli.EngineJob, owner: str, course_id: int | None,
            factory: sessionmaker) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, engine=engine, owner=owner, course_id=course_id,
                  factory=factory)
        with self._lock:
            self._jobs[job.id] = job
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap, name="engine-reaper", daemon=True)
                self._reaper.start()
        return job

    def running(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted((j for j in jobs if (kind is None or j.kind == kind) and j.running),
                      key=lambda j: j.engine.started)

    def find(self, engine: engine_cli.EngineJob | None) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.engine is engine), None)

    def visible(self, viewer: repo.Viewer, kind: str | None = None) -> list[Job]:
        """The running jobs ``viewer`` may see, by the dashboard's one visibility rule
        (:func:`db.repository.visible_sessions_clause`): once its session exists, whether they may see
        that session; before, whether they may see the course it will be filed under."""
        jobs = self.running(kind)
        if viewer.is_admin or not jobs:
            return jobs
        shown = []
        for job in jobs:
            with data.reading(job.factory) as s:
                if job.session_id is not None:
                    ok = repo.can_see_session(s, viewer, job.session_id)
                else:
                    ok = job.course_id is not None and s.scalar(
                        select(Course.id).where(Course.id == job.course_id,
                                                     repo.visible_courses_clause(viewer))) is not None
            if ok:
                shown.append(job)
        return shown

    def stop(self, job: Job) -> int | None:
        """Stop / Cancel, from whichever tab: SIGINT (the engine writes its last batch and closes its
        session), then terminate if it ignores that (:func:`dashboard.engine_cli.stop`)."""
        return engine_cli.stop(job.engine)

    def _reap(self) -> None:
        while True:
            with self._lock:
                jobs = list(self._jobs.values())
            ended = [job for job in jobs if not _still_running(job)]  # poll() collects the exit status: no zombie
            with self._lock:
                for job in ended:
                    self._jobs.pop(job.id, None)
            claimed = {j.session_id for j in jobs if j.session_id is not None}
            for job in jobs:
                if job.session_id is None:
                    try:
                        _find_session(job, claimed)
                    except Exception:  # noqa: BLE001 - the others are still reaped; this one is tried again
                        log.exception("could not find the session of engine job %s", job.id)
            with self._lock:
                if not self._jobs:
                    self._reaper = None
                    return
            time.sleep(REAP_S)


def _still_running(job: Job) -> bool:
    """Whether the job's engine runs; a handle that cannot say is dropped rather than allowed to end
    the reaper (which would leave every later engine unreaped)."""
    try:
        return bool(job.running)
    except Exception:  # noqa: BLE001 - one broken handle must not stop the others being reaped
        log.exception("dropping engine job %s: its state cannot be read", job.id)
        return False


def _find_session(job: Job, claimed: set[int]) -> None:
    """The session the engine made for this job, filed under the job's course (``engine batch``
    files nothing itself); a database busy now is tried again on the next round."""
    try:
        with data.reading(job.factory) as s:
            if job.kind == "process":
                found = repo.sessions_from_source(s, job.engine.source_name)
            else:  # a live class: the first session of its course started since its engine
                since = datetime.fromtimestamp(job.engine.started - CLOCK_SLACK_S, tz=UTC).replace(tzinfo=None)
                found = list(s.scalars(select(ClassSession).where(
                    ClassSession.course_id == job.course_id, ClassSession.started_at >= since,
                    ClassSession.source_kind != "video", ClassSession.status == SessionStatus.running)
                    .order_by(ClassSession.id)))
            found = [cs for cs in found if cs.id not in claimed]  # another class's
            if not found:
                return
            session_id = found[0].id
            if job.course_id is not None:
                repo.file_session(s, session_id, job.course_id)  # a no-op once filed
        job.session_id = session_id
    except data.DatabaseProblem:
        return


@st.cache_resource(show_spinner=False)
def _registry(db_url: str) -> JobRegistry:
    return JobRegistry()


def registry(db_url: str) -> JobRegistry:
    """The server's registry for the database at ``db_url``."""
    return _registry(db_url)
