"""Data access for the pages: the repository's functions wrapped so that every database
problem arrives as a :class:`DatabaseProblem` a page can explain (busy, outdated, unusable),
and ORM rows leave as plain dataclasses (no lazy loading after the session closes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db import aggregates, connect, export
from db import repository as repo
from db.connection import DatabaseError, safe_url
from db.models import Alert, ClassSession, SessionStatus, Student, StudentMerge


class DatabaseProblem(Exception):
    """``kind`` is "busy" (try again), "outdated" (made by an older version) or "unusable".
    ``str()`` is the admin's message (the database's masked URL and the command that fixes it);
    ``for_teacher`` says the same without anything about the server."""

    def __init__(self, kind: str, message: str, for_teacher: str = ""):
        super().__init__(message)
        self.kind = kind
        self.for_teacher = for_teacher or message


def explain(exc: Exception, url: str = "") -> DatabaseProblem:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    low = text.lower()
    where = f" ({safe_url(url)})" if url else ""
    if "locked" in low or "busy" in low:
        busy = "The database is busy{}: the engine is writing a batch. Try again in a moment."
        return DatabaseProblem("busy", busy.format(where), busy.format(""))
    if "no such table" in low or "no such column" in low or "undefined column" in low or "does not exist" in low:
        return DatabaseProblem(
            "outdated",
            f"The database{where} was made by an older version of this software ({text}). "
            f"Upgrade it in place with: python -m db upgrade --db {safe_url(url) if url else 'URL'}",
            "The database was made by an older version of this software. Ask your admin to upgrade it "
            "(python -m db upgrade).",
        )
    return DatabaseProblem("unusable", f"Cannot read the database{where}: {text}",
                           "Cannot read the database just now. If this persists, tell your admin.")


def open_database(url: str) -> sessionmaker:
    """The session factory; creates missing tables (a fresh file gets the users table), marks
    sessions whose engine died as interrupted and purges observations older than the admin's
    retention period (once per dashboard process: the factory is cached per URL)."""
    try:
        factory = connect(url)
    except DatabaseError as exc:
        raise explain(exc.__cause__ or exc, url) from exc
    except SQLAlchemyError as exc:
        raise explain(exc, url) from exc
    close_abandoned_sessions(factory)
    purge_expired(factory)
    return factory


def close_abandoned_sessions(factory: sessionmaker) -> list[int]:
    """"Running" sessions whose engine gave no sign of life for a minute (killed, crashed, power
    cut) become interrupted, so they stop showing as a live class; their ids. A best effort: a
    database that cannot be written now (locked, read-only) is tried again on the next call."""
    try:
        with factory() as s:
            return repo.mark_running_as_interrupted(s)
    except SQLAlchemyError:
        return []


@contextmanager
def reading(factory: sessionmaker) -> Iterator[Session]:
    try:
        with factory() as s:
            yield s
    except (DBAPIError, SQLAlchemyError) as exc:
        raise explain(exc, str(factory.kw["bind"].url)) from exc


LIVE_SOURCE_KINDS = ("camera", "stream", "screen", "feed")  # engine.sources SourceInfo.kind of live sources


@dataclass(frozen=True)
class SessionInfo:
    id: int
    title: str
    source: str
    source_kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    video_seconds: float
    media_duration: float | None
    frames_analyzed: int
    note: str
    model_version: str
    analysis_fps: float
    emotions: bool = True  # False: recorded attention-only (no emotion or confusion values)

    @property
    def label(self) -> str:
        return f"#{self.id} {self.title} ({self.status}, {self.started_at:%Y-%m-%d %H:%M})"

    @property
    def live(self) -> bool:
        """A class watched as it happens (camera, stream, screen, browser camera), not a file."""
        return self.source_kind in LIVE_SOURCE_KINDS

    @property
    def progress(self) -> float | None:
        """Share of the file analysed, when its length is known."""
        if not self.media_duration:
            return None
        return max(0.0, min(1.0, self.video_seconds / self.media_duration))


@dataclass(frozen=True)
class StudentInfo:
    id: int
    session_id: int
    track_id: int
    label: str
    name: str | None

    @property
    def display_name(self) -> str:
        return self.name or self.label


@dataclass(frozen=True)
class AlertInfo:
    id: int
    student_id: int | None
    kind: str
    start_t: float
    end_t: float | None
    message: str


@dataclass(frozen=True)
class EvaluationInfo:
    id: int
    created_at: datetime
    model_name: str
    split: str
    tta: bool
    n: int
    accuracy: float
    top2: float
    per_class: dict
    confusion: list

    @property
    def label(self) -> str:
        return f"{self.model_name} on {self.split}{' (flip TTA)' if self.tta else ''}, {self.created_at:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class UserInfo:
    username: str
    role: str
    password_hash: str
    created_at: datetime
    disabled: bool = False


def _session_info(cs) -> SessionInfo:
    status = cs.status.value if isinstance(cs.status, SessionStatus) else str(cs.status)
    return SessionInfo(
        id=cs.id, title=cs.title or cs.source, source=cs.source, source_kind=cs.source_kind, status=status,
        started_at=cs.started_at, ended_at=cs.ended_at, video_seconds=cs.video_seconds or 0.0,
        media_duration=cs.media_duration, frames_analyzed=cs.frames_analyzed or 0, note=cs.note or "",
        model_version=cs.model_version or "", analysis_fps=cs.analysis_fps or 0.0,
        emotions=repo.session_has_emotions(cs),
    )


class NotVisible(DatabaseProblem):
    """A session, student or course the signed-in user may not see (another teacher's, or the
    admins'). Worded the same whether it exists or not."""

    def __init__(self, what: str):
        super().__init__("not visible", f"There is no {what} among the classes you can see.")


def list_sessions(factory: sessionmaker, viewer: repo.Viewer) -> list[SessionInfo]:
    """The sessions ``viewer`` may see (:func:`db.repository.visible_sessions_clause`), newest first:
    what every page's session picker, the live page and the recordings list offer."""
    with reading(factory) as s:
        return [_session_info(cs) for cs in repo.list_visible_sessions(s, viewer)]


def has_sessions(factory: sessionmaker) -> bool:
    """Whether the database holds any session at all (``python -m dashboard --demo``; no page's business)."""
    with reading(factory) as s:
        return next(iter(repo.iter_session_ids(s)), None) is not None


def get_session(factory: sessionmaker, session_id: int, viewer: repo.Viewer | None = None) -> SessionInfo | None:
    """The session, or None; with ``viewer``, None too when they may not see it."""
    with reading(factory) as s:
        if viewer is not None and not repo.can_see_session(s, viewer, session_id):
            return None
        cs = repo.get_session(s, session_id)
        return _session_info(cs) if cs else None


def _check_session(s: Session, viewer: repo.Viewer, session_id: int) -> None:
    if not repo.can_see_session(s, viewer, session_id):
        raise NotVisible(f"session #{session_id}")


def _check_student(s: Session, viewer: repo.Viewer, *student_ids: int) -> None:
    for student_id in student_ids:
        if not repo.can_see_student(s, viewer, student_id):
            raise NotVisible(f"student #{student_id}")


def sessions_from_source(factory: sessionmaker, source_suffix: str) -> list[SessionInfo]:
    """Not filtered by viewer: the recordings page looks up its own upload's session (a generated
    file name only that browser tab knows) to file it under the teacher's course."""
    with reading(factory) as s:
        return [_session_info(cs) for cs in repo.sessions_from_source(s, source_suffix)]


def set_session_title(factory: sessionmaker, session_id: int, title: str) -> None:
    with reading(factory) as s:
        repo.set_session_title(s, session_id, title)


def students(factory: sessionmaker, session_id: int) -> list[StudentInfo]:
    with reading(factory) as s:
        return [StudentInfo(st.id, st.session_id, st.track_id, st.label, st.name) for st in repo.students(s, session_id)]


def alerts(factory: sessionmaker, session_id: int) -> list[AlertInfo]:
    """The session's alerts, each message with its student's current name
    (:func:`db.repository.render_alert_message`): what the live feed, the report and its exports show."""
    with reading(factory) as s:
        names = {st.id: st.display_name for st in repo.students(s, session_id)}
        return [AlertInfo(a.id, a.student_id, a.kind, a.start_t, a.end_t,
                          repo.render_alert_message(a.message, None if a.student_id is None
                                                    else names.get(a.student_id)))
                for a in repo.alerts(s, session_id)]


def observations(factory: sessionmaker, session_id: int, since_t: float | None = None) -> pd.DataFrame:
    with reading(factory) as s:
        return repo.observations_frame(s, session_id, since_t=since_t)


def binned(factory: sessionmaker, session_id: int, bin_s: float, since_t: float | None = None,
           names: bool = True) -> pd.DataFrame:
    """Observations summed per time bin per student, in SQL (:func:`db.aggregates.binned_observations`),
    with each student's display name as ``student`` (unless ``names`` is False)."""
    with reading(factory) as s:
        bins = aggregates.binned_observations(s, session_id, bin_s, since_t=since_t)
        if names:
            names_by_id = {st.id: st.display_name for st in repo.students(s, session_id)}
            bins["student"] = bins["student_id"].map(names_by_id)
    return bins


def quality_counts(factory: sessionmaker, session_id: int) -> dict[str | None, int]:
    """Observations by readability (:func:`db.aggregates.quality_counts`): the report's coverage note."""
    with reading(factory) as s:
        return aggregates.quality_counts(s, session_id)


def last_observation_t(factory: sessionmaker, session_id: int) -> float | None:
    """Media time of the session's latest observation; None when it has none."""
    with reading(factory) as s:
        return aggregates.last_t(s, session_id)


def recent_observations(factory: sessionmaker, session_id: int, window_s: float) -> pd.DataFrame:
    """The observations of the last ``window_s`` seconds of media time (the live page's "now")."""
    with reading(factory) as s:
        last = aggregates.last_t(s, session_id)
        return repo.observations_frame(s, session_id, since_t=None if last is None else last - window_s)


def export_csv(factory: sessionmaker, session_id: int, out: TextIO, viewer: repo.Viewer | None = None) -> int:
    """The observations CSV streamed into ``out`` (:func:`db.export.write_csv`); returns the rows.
    With ``viewer``, refused (:class:`NotVisible`) unless they may see the session."""
    with reading(factory) as s:
        if viewer is not None:
            _check_session(s, viewer, session_id)
        return export.write_csv(s, session_id, out)


# Changes to a session's records: refused (NotVisible) for a session the viewer may not see.

def rename_student(factory: sessionmaker, student_id: int, name: str, viewer: repo.Viewer) -> None:
    with reading(factory) as s:
        _check_student(s, viewer, student_id)
        repo.rename_student(s, student_id, name)


def delete_session(factory: sessionmaker, session_id: int, viewer: repo.Viewer) -> str | None:
    """Erase a session; its source (a kept recording's path: :func:`dashboard.uploads.remove_kept_recordings`)."""
    with reading(factory) as s:
        _check_session(s, viewer, session_id)
        source = s.scalar(select(ClassSession.source).where(ClassSession.id == session_id))
        repo.delete_session(s, session_id)
    return source


def delete_student(factory: sessionmaker, student_id: int, viewer: repo.Viewer) -> None:
    with reading(factory) as s:
        _check_student(s, viewer, student_id)
        repo.delete_student(s, student_id)


def merge_students(factory: sessionmaker, keep_id: int, merge_id: int, viewer: repo.Viewer,
                   allow_co_present: bool = False) -> None:
    """:func:`db.repository.merge_students` (undoable; raises :class:`db.repository.MergeRefused`)."""
    with reading(factory) as s:
        _check_student(s, viewer, keep_id, merge_id)
        repo.merge_students(s, keep_id, merge_id, viewer.username, allow_co_present=allow_co_present)


def evaluations(factory: sessionmaker) -> list[EvaluationInfo]:
    with reading(factory) as s:
        return [
            EvaluationInfo(e.id, e.created_at, e.model_name, e.split, bool(e.tta), e.n, e.accuracy, e.top2,
                           dict(e.per_class or {}), list(e.confusion or []))
            for e in repo.evaluations(s)
        ]


def count_users(factory: sessionmaker) -> int:
    with reading(factory) as s:
        return repo.count_users(s)


def get_user(factory: sessionmaker, username: str) -> UserInfo | None:
    with reading(factory) as s:
        u = repo.get_user(s, username)
        return UserInfo(u.username, u.role, u.password_hash, u.created_at, bool(u.disabled)) if u else None


def record_sign_in(factory: sessionmaker, username: str, succeeded: bool) -> None:
    with reading(factory) as s:
        repo.record_sign_in(s, username, succeeded)


def recent_sign_in_failures(factory: sessionmaker, username: str, window_s: float) -> list[datetime]:
    with reading(factory) as s:
        return repo.recent_sign_in_failures(s, username, window_s)


def list_users(factory: sessionmaker) -> list[UserInfo]:
    with reading(factory) as s:
        return [UserInfo(u.username, u.role, u.password_hash, u.created_at, bool(u.disabled)) for u in repo.list_users(s)]


def add_user(factory: sessionmaker, username: str, password_hash: str, role: str) -> None:
    with reading(factory) as s:
        repo.add_user(s, username, password_hash, role)


# --- accounts and the audit log (issue 13) ---

@dataclass(frozen=True)
class AuditInfo:
    at: datetime
    username: str
    kind: str
    target: str
    detail: str


def record_event(factory: sessionmaker, username: str, kind: str, target: str = "", detail: str = "") -> None:
    with reading(factory) as s:
        repo.record_event(s, username, kind, target, detail)


def audit_events(factory: sessionmaker, username: str | None = None, kind: str | None = None,
                 limit: int = 1000) -> list[AuditInfo]:
    with reading(factory) as s:
        return [AuditInfo(e.at, e.username, e.kind, e.target or "", e.detail or "")
                for e in repo.audit_events(s, username, kind, limit)]


def audit_usernames(factory: sessionmaker) -> list[str]:
    with reading(factory) as s:
        return repo.audit_usernames(s)


def create_first_admin(factory: sessionmaker, username: str, password_hash: str) -> bool:
    with reading(factory) as s:
        return repo.create_first_admin(s, username, password_hash)


def set_password(factory: sessionmaker, username: str, password_hash: str) -> None:
    with reading(factory) as s:
        repo.set_password(s, username, password_hash)


def set_disabled(factory: sessionmaker, username: str, disabled: bool) -> None:
    with reading(factory) as s:
        repo.set_disabled(s, username, disabled)


def set_role(factory: sessionmaker, username: str, role: str) -> None:
    with reading(factory) as s:
        repo.set_role(s, username, role)


def delete_user(factory: sessionmaker, username: str) -> None:
    with reading(factory) as s:
        repo.delete_user(s, username)


# --- attention-only mode and retention (issue 13) ---

def emotions_enabled(factory: sessionmaker) -> bool:
    """The admin's switch: False = the engines the dashboard starts run attention-only."""
    with reading(factory) as s:
        return repo.emotions_enabled(s)


def set_emotions_enabled(factory: sessionmaker, enabled: bool) -> None:
    with reading(factory) as s:
        repo.set_emotions_enabled(s, enabled)


def retention_days(factory: sessionmaker) -> int | None:
    with reading(factory) as s:
        return repo.retention_days(s)


def set_retention_days(factory: sessionmaker, days: int | None) -> None:
    with reading(factory) as s:
        repo.set_retention_days(s, days)


def purge_expired(factory: sessionmaker) -> list[int]:
    """Observations past the retention period deleted (:func:`db.repository.purge_by_setting`); the
    ids of the sessions purged. A best effort, as closing abandoned sessions: a database that cannot
    be written now is purged at the next start."""
    try:
        with factory() as s:
            return repo.purge_by_setting(s)
    except SQLAlchemyError:
        return []


# --- courses: ownership and sharing (issue 13, migration 0006) ---

@dataclass(frozen=True)
class CourseInfo:
    id: int
    name: str
    owner: str | None = None  # None: no owner, the admins' until reassigned
    shared_with: tuple[str, ...] = ()
    sessions: int = 0


def visible_courses(factory: sessionmaker, viewer: repo.Viewer) -> list[CourseInfo]:
    with reading(factory) as s:
        return [CourseInfo(c.id, c.name) for c in repo.visible_courses(s, viewer)]


def course_for(factory: sessionmaker, viewer: repo.Viewer, name: str) -> CourseInfo:
    """The course ``name`` for a recording or a class: one ``viewer`` may use, else a new one they
    own; raises :class:`db.repository.CourseRefused` when another teacher's course has the name."""
    with reading(factory) as s:
        c = repo.course_for(s, viewer, name)
        return CourseInfo(c.id, c.name)


def file_session(factory: sessionmaker, session_id: int, course_id: int) -> bool:
    with reading(factory) as s:
        return repo.file_session(s, session_id, course_id)


def course_overview(factory: sessionmaker) -> list[CourseInfo]:
    with reading(factory) as s:
        return [CourseInfo(r["id"], r["name"], r["owner"], tuple(r["shared_with"]), r["sessions"])
                for r in repo.course_overview(s)]


def sessions_without_course(factory: sessionmaker) -> list[SessionInfo]:
    with reading(factory) as s:
        return [_session_info(cs) for cs in repo.sessions_without_course(s)]


def set_course_owner(factory: sessionmaker, course_id: int, username: str | None) -> None:
    with reading(factory) as s:
        repo.set_course_owner(s, course_id, username)


def share_course(factory: sessionmaker, course_id: int, username: str) -> None:
    with reading(factory) as s:
        repo.share_course(s, course_id, username)


def unshare_course(factory: sessionmaker, course_id: int, username: str) -> None:
    with reading(factory) as s:
        repo.unshare_course(s, course_id, username)


def set_session_course(factory: sessionmaker, session_id: int, course_id: int | None) -> None:
    with reading(factory) as s:
        repo.set_session_course(s, session_id, course_id)


# --- undoable merges and marks on alerts (issue 14, migration 0008) ---

@dataclass(frozen=True)
class MergeInfo:
    id: int
    keep_id: int
    merged_id: int
    kept: str  # the kept student's display name now
    merged: str  # the merged student's display name (its row waits, hidden, for an undo)
    observations: int  # how many observations and alerts moved
    alerts: int
    co_present_frames: int  # > 0: merged although seen together (overridden)
    username: str
    created_at: datetime


def co_present_frames(factory: sessionmaker, a_id: int, b_id: int) -> int:
    with reading(factory) as s:
        return repo.co_present_frames(s, a_id, b_id)


def merges(factory: sessionmaker, session_id: int) -> list[MergeInfo]:
    """The session's merges that can be undone, newest first."""
    with reading(factory) as s:
        out = []
        for m in repo.merges(s, session_id):
            kept, merged = s.get(Student, m.keep_id), s.get(Student, m.merged_id)
            out.append(MergeInfo(m.id, m.keep_id, m.merged_id, kept.display_name, merged.display_name,
                                 len(m.observation_ids), len(m.alert_ids), m.co_present_frames, m.username,
                                 m.created_at))
        return out


def undo_merge(factory: sessionmaker, merge_id: int, viewer: repo.Viewer) -> None:
    """:func:`db.repository.undo_merge`, for a merge in a session ``viewer`` may see."""
    with reading(factory) as s:
        merge = s.get(StudentMerge, merge_id)
        if merge is not None:
            _check_session(s, viewer, merge.session_id)
        repo.undo_merge(s, merge_id, viewer.username)


@dataclass(frozen=True)
class MarkInfo:
    alert_id: int
    right: bool
    note: str


def alert_marks(factory: sessionmaker, session_id: int, viewer: repo.Viewer) -> dict[int, MarkInfo]:
    """``viewer``'s own marks on the session's alerts, by alert id."""
    with reading(factory) as s:
        return {i: MarkInfo(i, bool(m.right), m.note or "")
                for i, m in repo.alert_marks(s, session_id, viewer.username).items()}


def mark_alert(factory: sessionmaker, alert_id: int, viewer: repo.Viewer, right: bool | None, note: str = "") -> None:
    """Store ``viewer``'s right/wrong mark (None: take it back) on an alert of a session they may see."""
    with reading(factory) as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise NotVisible(f"alert #{alert_id}")
        _check_session(s, viewer, alert.session_id)
        repo.mark_alert(s, alert_id, viewer.username, right, note)


def alert_mark_summary(factory: sessionmaker) -> list[dict]:
    """Per alert kind: alerts raised, alerts marked, marks and marks saying right (admins' model page)."""
    with reading(factory) as s:
        return repo.alert_mark_summary(s)


# --- erasure across a course (issue 13): the course's owner or an admin, confirmed by typing ---

def _check_course(s: Session, viewer: repo.Viewer, course_id: int) -> None:
    if not any(c.id == course_id for c in repo.visible_courses(s, viewer)):
        raise NotVisible(f"course #{course_id}")


def may_erase_course(factory: sessionmaker, course_id: int, viewer: repo.Viewer) -> bool:
    """Whether ``viewer`` may erase the course and its students (its owner or an admin; not a co-teacher)."""
    with reading(factory) as s:
        return repo.may_erase_course(s, viewer, course_id)


def named_students_in_course(factory: sessionmaker, course_id: int, viewer: repo.Viewer) -> list[str]:
    """The names given to students of the course: who can be erased across it."""
    with reading(factory) as s:
        _check_course(s, viewer, course_id)
        return repo.named_students_in_course(s, course_id)


def course_student_count(factory: sessionmaker, course_id: int, name: str,
                         viewer: repo.Viewer) -> repo.ErasureCount:
    with reading(factory) as s:
        _check_course(s, viewer, course_id)
        return repo.course_student_count(s, course_id, name)


def course_count(factory: sessionmaker, course_id: int, viewer: repo.Viewer) -> repo.ErasureCount:
    with reading(factory) as s:
        _check_course(s, viewer, course_id)
        return repo.course_count(s, course_id)


def erase_course_student(factory: sessionmaker, course_id: int, name: str, typed: str,
                         viewer: repo.Viewer) -> repo.ErasureCount:
    """:func:`db.repository.erase_course_student` (audited; raises :class:`db.repository.ErasureRefused`)."""
    with reading(factory) as s:
        _check_course(s, viewer, course_id)
        return repo.erase_course_student(s, viewer, course_id, name, typed)


def erase_course(factory: sessionmaker, course_id: int, typed: str,
                 viewer: repo.Viewer) -> tuple[repo.ErasureCount, list[str]]:
    """:func:`db.repository.erase_course` (audited; raises :class:`db.repository.ErasureRefused`), and the
    erased sessions' sources (kept recordings: :func:`dashboard.uploads.remove_kept_recordings`)."""
    with reading(factory) as s:
        _check_course(s, viewer, course_id)
        sources = list(s.scalars(select(ClassSession.source).where(ClassSession.course_id == course_id)))
        return repo.erase_course(s, viewer, course_id, typed), sources
