"""The small API the engine and dashboard use; each function is one transaction unit
(the caller owns the ``Session`` and commits), except the batch writer, which commits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import pandas as pd
from sqlalchemy import ColumnElement, delete, func, insert, literal, or_, select, text, true, update
from sqlalchemy.orm import Session, aliased

from db.models import (
    Alert,
    AlertMark,
    AppSetting,
    AuditEvent,
    ClassSession,
    Course,
    CourseShare,
    ModelEvaluation,
    Observation,
    SessionStatus,
    SignInAttempt,
    Student,
    StudentMerge,
    User,
    utcnow,
)

EMOTION_COLUMNS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# The export contract (issue 4): one row per observation, these columns first, in this order.
EXPORT_COLUMNS = (
    "session_id", "student", "t", "wall_time", *EMOTION_COLUMNS, "emotion", "engagement", "confusion",
    "box_x", "box_y", "box_w", "box_h", "yaw", "pitch", "eye_openness",
)
# How good the evidence was and whether the reading counted (migration 0007; None before it):
# in observations_frame (the dashboard's analytics), not in the CSV contract above.
QUALITY_COLUMNS = ("detector_score", "blur", "brightness", "contrast", "readable", "unreadable_reason")


def get_or_create_course(s: Session, name: str) -> Course:
    course = s.scalar(select(Course).where(Course.name == name))
    if course is None:
        course = Course(name=name)
        s.add(course)
        s.flush()
    return course


def start_session(
    s: Session, source: str, source_kind: str = "video", model_version: str = "",
    analysis_fps: float = 5.0, title: str = "", course: str | None = None,
    media_duration: float | None = None, emotions: bool = True, source_sha256: str | None = None,
) -> ClassSession:
    """``emotions=False``: an attention-only session (no emotion or confusion values);
    ``source_sha256``: the recording's content hash (finds the same file analysed again)."""
    cs = ClassSession(
        source=source, source_kind=source_kind, model_version=model_version, media_duration=media_duration,
        analysis_fps=analysis_fps, title=title or source, status=SessionStatus.running,
        course=get_or_create_course(s, course) if course else None, emotions=bool(emotions),
        source_sha256=source_sha256,
    )
    s.add(cs)
    s.commit()
    return cs


def finish_session(
    s: Session, session_id: int, status: SessionStatus, note: str = "",
    video_seconds: float | None = None, frames_analyzed: int | None = None,
) -> None:
    values: dict = {"status": status, "ended_at": utcnow()}
    if note:
        values["note"] = note
    if video_seconds is not None:
        values["video_seconds"] = video_seconds
    if frames_analyzed is not None:
        values["frames_analyzed"] = frames_analyzed
    s.execute(update(ClassSession).where(ClassSession.id == session_id).values(**values))
    # Alerts still open when a session ends, end with it.
    end_t = values.get("video_seconds")
    if end_t is not None:
        s.execute(update(Alert).where(Alert.session_id == session_id, Alert.end_t.is_(None)).values(end_t=end_t))
    s.commit()


def add_student(s: Session, session_id: int, track_id: int) -> Student:
    n = s.scalar(select(func.count()).select_from(Student).where(Student.session_id == session_id)) or 0
    st = Student(session_id=session_id, track_id=track_id, label=f"Student {n + 1}")
    s.add(st)
    s.flush()
    return st


def write_batch(
    s: Session, session_id: int, observations: Sequence[dict], video_seconds: float, frames_analyzed: int,
) -> None:
    """Observations plus the session's progress counters in one transaction: a crash loses
    at most this batch, never leaves half of it."""
    if observations:
        s.execute(Observation.__table__.insert(), [{"session_id": session_id, **o} for o in observations])
    s.execute(
        update(ClassSession).where(ClassSession.id == session_id)
        .values(video_seconds=video_seconds, frames_analyzed=frames_analyzed, heartbeat_at=utcnow())
    )
    s.commit()


def open_alert(s: Session, session_id: int, kind: str, start_t: float, message: str,
               student_id: int | None = None) -> Alert:
    alert = Alert(session_id=session_id, student_id=student_id, kind=kind, start_t=start_t, message=message)
    s.add(alert)
    s.flush()
    return alert


def close_alert(s: Session, alert_id: int, end_t: float) -> None:
    s.execute(update(Alert).where(Alert.id == alert_id).values(end_t=end_t))


def list_sessions(s: Session) -> list[ClassSession]:
    return list(s.scalars(select(ClassSession).order_by(ClassSession.started_at.desc())))


def students(s: Session, session_id: int) -> list[Student]:
    """The session's roster: not the students merged into another (their rows wait for an undo)."""
    merged = select(StudentMerge.merged_id).where(StudentMerge.session_id == session_id)
    return list(s.scalars(select(Student).where(Student.session_id == session_id, Student.id.not_in(merged))
                          .order_by(Student.id)))


def alerts(s: Session, session_id: int) -> list[Alert]:
    return list(s.scalars(select(Alert).where(Alert.session_id == session_id).order_by(Alert.start_t)))


def observations_frame(s: Session, session_id: int, since_t: float | None = None) -> pd.DataFrame:
    """All observations of a session as a DataFrame with :data:`EXPORT_COLUMNS`
    (``student`` is the display name) plus :data:`QUALITY_COLUMNS` and ``student_id``."""
    q = (
        select(Observation, Student.name, Student.label)
        .join(Student, Student.id == Observation.student_id)
        .where(Observation.session_id == session_id)
        .order_by(Observation.t, Observation.student_id)
    )
    if since_t is not None:
        q = q.where(Observation.t >= since_t)
    rows = []
    for obs, name, label in s.execute(q):
        row = {c: getattr(obs, c) for c in (*EXPORT_COLUMNS, *QUALITY_COLUMNS) if c != "student"}
        row["student"] = name or label
        row["student_id"] = obs.student_id
        rows.append(row)
    return pd.DataFrame(rows, columns=[*EXPORT_COLUMNS, *QUALITY_COLUMNS, "student_id"])


def rename_student(s: Session, student_id: int, name: str) -> None:
    s.execute(update(Student).where(Student.id == student_id).values(name=name.strip() or None))
    s.commit()


def merge_students(s: Session, keep_id: int, merge_id: int, username: str = "",
                   allow_co_present: bool = False) -> StudentMerge:
    """Two tracks that are one person: move the second's observations and alerts to the first, and
    keep what moved (:class:`StudentMerge`) so that :func:`undo_merge` can put it back. Refused
    (:class:`MergeRefused`) for students of a running session, students already merged away, and,
    unless ``allow_co_present``, two students seen in the same frame (:class:`SeenTogether`): two faces
    at the same moment are two people. Written to the audit log as ``username``'s."""
    keep, gone = s.get(Student, keep_id), s.get(Student, merge_id)
    if keep is None or gone is None or keep.session_id != gone.session_id or keep_id == merge_id:
        raise MergeRefused("pick two different students of the same session")
    hidden = set(s.scalars(select(StudentMerge.merged_id).where(StudentMerge.merged_id.in_((keep_id, merge_id)))))
    if hidden:
        raise MergeRefused("one of these students was already merged into another; undo that merge first")
    if s.get(ClassSession, keep.session_id).status == SessionStatus.running:
        raise MergeRefused("the class is still being analysed (the engine writes to both students); merge them "
                           "once it has ended")
    together = co_present_frames(s, keep_id, merge_id)
    if together and not allow_co_present:
        raise SeenTogether(together)
    observation_ids = list(s.scalars(select(Observation.id).where(Observation.student_id == merge_id)
                                     .order_by(Observation.id)))
    alert_ids = list(s.scalars(select(Alert.id).where(Alert.student_id == merge_id).order_by(Alert.id)))
    s.execute(update(Observation).where(Observation.student_id == merge_id).values(student_id=keep_id))
    s.execute(update(Alert).where(Alert.student_id == merge_id).values(student_id=keep_id))
    merge = StudentMerge(session_id=keep.session_id, keep_id=keep_id, merged_id=merge_id,
                         observation_ids=observation_ids, alert_ids=alert_ids, co_present_frames=together,
                         username=username[:100], created_at=utcnow())
    s.add(merge)
    overridden = f"; seen together in {together} frames, merged anyway" if together else ""
    record_event(s, username or "?", "students merged", f"session #{keep.session_id}",
                 f"{gone.display_name} into {keep.display_name} ({len(observation_ids)} observations, "
                 f"{len(alert_ids)} alerts){overridden}", commit=False)
    s.commit()
    return merge


def delete_session(s: Session, session_id: int) -> None:
    """Erase a session and everything recorded in it. Explicit deletes, child rows first, so the
    erasure does not depend on a database enforcing ON DELETE CASCADE."""
    _delete_session_rows(s, session_id)
    s.commit()


def _delete_session_rows(s: Session, session_id: int) -> None:
    """:func:`delete_session`'s statements, in the caller's transaction (a course's erasure runs
    them for each of its sessions, then commits once)."""
    s.execute(delete(AlertMark).where(AlertMark.alert_id.in_(select(Alert.id).where(Alert.session_id == session_id))))
    for table in (StudentMerge, Observation, Alert, Student):
        s.execute(delete(table).where(table.session_id == session_id))
    s.execute(delete(ClassSession).where(ClassSession.id == session_id))


def delete_student(s: Session, student_id: int) -> None:
    """Erase one student's records in their session: observations, own alerts (and their marks),
    the student, and the students merged into them (their rows are part of this student's now)."""
    _delete_student_rows(s, _with_merged_in(s, {student_id}))
    s.commit()


def _with_merged_in(s: Session, ids: set[int]) -> set[int]:
    """``ids`` and every student merged into one of them, however long the chain."""
    ids = set(ids)
    while True:  # merges chain: A into B, then B into C; erasing C erases all three
        more = set(s.scalars(select(StudentMerge.merged_id).where(StudentMerge.keep_id.in_(ids)))) - ids
        if not more:
            return ids
        ids |= more


def _delete_student_rows(s: Session, ids: set[int]) -> None:
    """The students ``ids`` with their observations, alerts (and marks on them) and merges, in the
    caller's transaction; explicit deletes, child rows first."""
    s.execute(delete(AlertMark).where(AlertMark.alert_id.in_(select(Alert.id).where(Alert.student_id.in_(ids)))))
    s.execute(delete(StudentMerge).where(or_(StudentMerge.keep_id.in_(ids), StudentMerge.merged_id.in_(ids))))
    for table in (Observation, Alert):
        s.execute(delete(table).where(table.student_id.in_(ids)))
    s.execute(delete(Student).where(Student.id.in_(ids)))


def store_evaluation(s: Session, model_name: str, split: str, tta: bool, result: dict) -> ModelEvaluation:
    ev = ModelEvaluation(
        model_name=model_name, split=split, tta=tta, n=result["n"], accuracy=result["accuracy"],
        top2=result["top2"], per_class=result["per_class"], confusion=result["confusion"],
    )
    s.add(ev)
    s.commit()
    return ev


def evaluations(s: Session) -> list[ModelEvaluation]:
    return list(s.scalars(select(ModelEvaluation).order_by(ModelEvaluation.created_at.desc())))


def get_user(s: Session, username: str) -> User | None:
    return s.scalar(select(User).where(User.username == username))


def add_user(s: Session, username: str, password_hash: str, role: str) -> User:
    if role not in ("admin", "teacher"):
        raise ValueError(f"role must be admin or teacher, not {role!r}")
    user = User(username=username, password_hash=password_hash, role=role)
    s.add(user)
    s.commit()
    return user


def record_sign_in(s: Session, username: str, succeeded: bool) -> None:
    s.add(SignInAttempt(username=username, succeeded=succeeded, at=utcnow()))
    s.commit()


def recent_sign_in_failures(s: Session, username: str, window_s: float) -> list[datetime]:
    """When ``username``'s wrong sign-ins within the last ``window_s`` seconds, since its last
    right one, happened (oldest first)."""
    since = utcnow() - timedelta(seconds=window_s)
    last_ok = s.scalar(select(func.max(SignInAttempt.at)).where(SignInAttempt.username == username,
                                                                SignInAttempt.succeeded.is_(True)))
    if last_ok is not None and last_ok > since:
        since = last_ok
    return list(s.scalars(select(SignInAttempt.at).where(
        SignInAttempt.username == username, SignInAttempt.succeeded.is_(False), SignInAttempt.at > since,
    ).order_by(SignInAttempt.at)))


def count_users(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(User)) or 0


# A running engine stamps its session at least this often (engine/recorder.py's heartbeat); a
# "running" session silent for STALE_AFTER_S has lost its engine (killed, crashed, power cut).
STALE_AFTER_S = 60.0
ABANDONED_NOTE = "engine stopped without finishing"


def heartbeat(s: Session, session_id: int) -> None:
    """The engine is alive: stamp the session (between batches too, e.g. while the model loads)."""
    s.execute(update(ClassSession).where(ClassSession.id == session_id).values(heartbeat_at=utcnow()))
    s.commit()


def mark_running_as_interrupted(s: Session, stale_after_s: float = STALE_AFTER_S) -> list[int]:
    """Mark "running" sessions whose engine has given no sign of life (heartbeat, else start) for
    ``stale_after_s`` seconds as interrupted, keeping what they recorded; returns their ids.
    Called when the dashboard starts, on the live page and when an engine starts."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    last_sign = func.coalesce(ClassSession.heartbeat_at, ClassSession.started_at)
    stale = list(s.scalars(select(ClassSession.id).where(ClassSession.status == SessionStatus.running,
                                                         last_sign < cutoff)))
    if stale:
        # The same condition again: an engine that stamped its session meanwhile keeps it running.
        s.execute(
            update(ClassSession).where(ClassSession.id.in_(stale), ClassSession.status == SessionStatus.running,
                                       last_sign < cutoff)
            .values(status=SessionStatus.interrupted, ended_at=last_sign,
                    note=f"{ABANDONED_NOTE} (no sign of life for {stale_after_s:.0f} s)"),
        )
        # Alerts still open end where the session's writes stopped, as finish_session ends them.
        written = select(ClassSession.video_seconds).where(ClassSession.id == Alert.session_id).scalar_subquery()
        s.execute(update(Alert).where(Alert.session_id.in_(stale), Alert.end_t.is_(None)).values(end_t=written))
    s.commit()
    return stale


def iter_session_ids(s: Session) -> Iterable[int]:
    return s.scalars(select(ClassSession.id).order_by(ClassSession.id))


# --- additions for the dashboard (issue 5) ---

def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.username)))


def get_session(s: Session, session_id: int) -> ClassSession | None:
    return s.get(ClassSession, session_id)


def set_session_title(s: Session, session_id: int, title: str) -> None:
    """The engine titles a session after its file; an upload's file has a generated name,
    so the dashboard puts the teacher's file name back."""
    s.execute(update(ClassSession).where(ClassSession.id == session_id).values(title=title))
    s.commit()


def sessions_from_source(s: Session, source_suffix: str) -> list[ClassSession]:
    """Sessions whose source ends with ``source_suffix`` (the engine may store a full path
    or just the file name), newest first."""
    q = select(ClassSession).where(ClassSession.source.endswith(source_suffix, autoescape=True))
    return list(s.scalars(q.order_by(ClassSession.started_at.desc(), ClassSession.id.desc())))


# --- accounts and the audit log (issue 13, migration 0005) ---

# What the audit log records (``audit_log.kind``).
AUDIT_KINDS = (
    "sign-in", "sign-in failed", "sign-out", "first admin", "account created", "password changed", "password reset",
    "account disabled", "account enabled", "account deleted", "role changed", "export", "erasure",
    "settings changed", "course changed", "students merged", "merge undone",
)


class AccountRefused(ValueError):
    """An account change that would leave no enabled admin, or names no account."""


def record_event(s: Session, username: str, kind: str, target: str = "", detail: str = "",
                 commit: bool = True) -> None:
    """One audit-log row: ``username`` did ``kind`` to ``target``. Fields are cut to their columns."""
    s.add(AuditEvent(username=username[:100], kind=kind[:40], target=str(target)[:200], detail=detail,
                     at=utcnow()))
    if commit:
        s.commit()


def audit_events(s: Session, username: str | None = None, kind: str | None = None,
                 limit: int = 1000) -> list[AuditEvent]:
    """The audit log, newest first, optionally one user's (who acted) and/or one kind's."""
    q = select(AuditEvent)
    if username is not None:
        q = q.where(AuditEvent.username == username)
    if kind is not None:
        q = q.where(AuditEvent.kind == kind)
    return list(s.scalars(q.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


def audit_usernames(s: Session) -> list[str]:
    return list(s.scalars(select(AuditEvent.username).distinct().order_by(AuditEvent.username)))


def _lock_users(s: Session) -> None:
    """PostgreSQL: hold the users table against other writers until this transaction ends, so a
    check-then-write on it is atomic (READ COMMITTED would let two such transactions both pass the
    check). SQLite needs nothing: the statements below are single conditional writes, and SQLite
    runs one writer at a time."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))


def create_first_admin(s: Session, username: str, password_hash: str, commit: bool = True) -> bool:
    """Create the admin account if and only if there is no account at all, in one transaction:
    of two browsers submitting at once, exactly one gets True; the other False (nothing written)."""
    _lock_users(s)
    nobody = ~select(User.id).exists()
    row = select(literal(username), literal(password_hash), literal("admin"), literal(utcnow()),
                 literal(False)).where(nobody)
    stmt = insert(User.__table__).from_select(["username", "password_hash", "role", "created_at", "disabled"], row)
    # An INSERT's row count is kept only when asked for (psycopg's cursor is closed before it is read).
    result = s.execute(stmt.execution_options(preserve_rowcount=True))
    created = result.rowcount == 1
    if created:
        record_event(s, username, "first admin", username, "the first admin account, with the setup code",
                     commit=False)
    if commit:
        s.commit()
    return created


def _other_enabled_admins(username: str):
    """How many enabled admins there are besides ``username`` (a scalar subquery)."""
    others = aliased(User)
    return (select(func.count()).select_from(others)
            .where(others.role == "admin", others.disabled.is_(False), others.username != username)
            .scalar_subquery())


def _keeps_an_admin(username: str):
    """True for rows whose change leaves an enabled admin: not an enabled admin, or not the last."""
    return or_(User.role != "admin", User.disabled.is_(True), _other_enabled_admins(username) > 0)


def _refuse(s: Session, username: str, what: str) -> None:
    s.rollback()
    if get_user(s, username) is None:
        raise AccountRefused(f"there is no account called {username!r}")
    raise AccountRefused(f"{username!r} is the last enabled admin: {what} would leave nobody who can manage "
                         "accounts (make another admin first)")


def set_password(s: Session, username: str, password_hash: str) -> None:
    if s.execute(update(User).where(User.username == username).values(password_hash=password_hash)).rowcount != 1:
        _refuse(s, username, "")
    s.commit()


def set_disabled(s: Session, username: str, disabled: bool) -> None:
    """Disable (or enable) an account; never the last enabled admin."""
    _lock_users(s)
    q = update(User).where(User.username == username)
    if disabled:
        q = q.where(_keeps_an_admin(username))
    if s.execute(q.values(disabled=disabled)).rowcount != 1:
        _refuse(s, username, "disabling them")
    s.commit()


def set_role(s: Session, username: str, role: str) -> None:
    """Change an account's role; never demote the last enabled admin."""
    if role not in ("admin", "teacher"):
        raise ValueError(f"role must be admin or teacher, not {role!r}")
    _lock_users(s)
    q = update(User).where(User.username == username)
    if role != "admin":
        q = q.where(_keeps_an_admin(username))
    if s.execute(q.values(role=role)).rowcount != 1:
        _refuse(s, username, "making them a teacher")
    s.commit()


def delete_user(s: Session, username: str) -> None:
    """Delete an account (its audit trail stays); never the last enabled admin. Its courses go
    back to the admins (no owner) and its shares end, by explicit statements (not relying on the
    database's ON DELETE)."""
    _lock_users(s)
    uid = _user_id(username)
    s.execute(update(Course).where(Course.owner_id == uid).values(owner_id=None))
    s.execute(update(AlertMark).where(AlertMark.user_id == uid).values(user_id=None))  # the marks count on
    s.execute(delete(CourseShare).where(CourseShare.user_id == uid))
    if s.execute(delete(User).where(User.username == username, _keeps_an_admin(username))).rowcount != 1:
        _refuse(s, username, "deleting them")
    s.commit()


# --- attention-only mode and retention (issue 13, migration 0004) ---

EMOTIONS_SETTING = "emotions"  # "true" | "false": whether the engines the dashboard starts read expressions
RETENTION_SETTING = "retention_days"  # days to keep a finished session's observations; absent or "" = keep
PURGED_NOTE = "observations purged after {days} days"


def get_setting(s: Session, key: str, default: str | None = None) -> str | None:
    row = s.get(AppSetting, key)
    return default if row is None else row.value


def set_setting(s: Session, key: str, value: str | None) -> None:
    """Set (or, with ``None``, remove) one admin setting."""
    row = s.get(AppSetting, key)
    if value is None:
        if row is not None:
            s.delete(row)
    elif row is None:
        s.add(AppSetting(key=key, value=value))
    else:
        row.value = value
    s.commit()


def emotions_enabled(s: Session) -> bool:
    """The admin's switch: False = attention-only (the default, with nothing set, is emotions on)."""
    return (get_setting(s, EMOTIONS_SETTING) or "true").strip().lower() != "false"


def set_emotions_enabled(s: Session, enabled: bool) -> None:
    set_setting(s, EMOTIONS_SETTING, "true" if enabled else "false")


def retention_days(s: Session) -> int | None:
    """Days to keep observations, or None (keep them); a value that is not a positive whole number is None."""
    value = (get_setting(s, RETENTION_SETTING) or "").strip()
    try:
        days = int(value)
    except ValueError:
        return None
    return days if days > 0 else None


def set_retention_days(s: Session, days: int | None) -> None:
    if days is not None and (isinstance(days, bool) or int(days) < 1):
        raise ValueError(f"days to keep observations must be a whole number of at least 1, not {days!r}")
    set_setting(s, RETENTION_SETTING, None if days is None else str(int(days)))


def session_has_emotions(cs: ClassSession) -> bool:
    """Whether a session read expressions: False only for attention-only sessions (NULL = before
    migration 0004, when every session did)."""
    return cs.emotions is not False


def purge_old_observations(s: Session, days: int, now: datetime | None = None) -> list[int]:
    """Delete the observations of sessions that ended more than ``days`` days ago (never a running
    one); the session row, its students and alerts stay, and its note says the observations were
    purged. Returns the ids of the sessions purged now (a session already purged is not counted
    again)."""
    if isinstance(days, bool) or int(days) < 1:
        raise ValueError(f"days must be a whole number of at least 1, not {days!r}")
    days = int(days)
    cutoff = (now or utcnow()) - timedelta(days=days)
    has_rows = select(Observation.id).where(Observation.session_id == ClassSession.id).exists()
    ids = list(s.scalars(select(ClassSession.id).where(
        ClassSession.ended_at.is_not(None), ClassSession.ended_at < cutoff,
        ClassSession.status != SessionStatus.running, has_rows).order_by(ClassSession.id)))
    mark = PURGED_NOTE.format(days=days)
    for sid in ids:
        s.execute(delete(Observation).where(Observation.session_id == sid))
        cs = s.get(ClassSession, sid)
        if mark not in (cs.note or ""):
            cs.note = f"{cs.note}; {mark}" if cs.note else mark
    s.commit()
    return ids


def purge_by_setting(s: Session) -> list[int]:
    """:func:`purge_old_observations` with the admin's retention setting; nothing when it is off."""
    days = retention_days(s)
    return [] if days is None else purge_old_observations(s, days)


# --- who sees what: course ownership and sharing (issue 13, migration 0006) ---
#
# THE visibility rule, used by every page and download of the dashboard: an admin sees every
# session; a teacher sees the sessions of the courses they own or that are shared with them, and
# nothing else (not a session without a course, not a course without an owner: those are the
# admins' until an admin files or reassigns them).


class Viewer(Protocol):
    """Who is looking (the dashboard's signed-in user): a name and whether they are an admin."""

    username: str

    @property
    def is_admin(self) -> bool: ...


class CourseRefused(ValueError):
    """A course name that is taken by a course the user cannot see, or a change naming nothing."""


def _user_id(username: str):
    return select(User.id).where(User.username == username).scalar_subquery()


def visible_courses_clause(viewer: Viewer) -> ColumnElement[bool]:
    """A WHERE condition on :class:`Course`: the courses ``viewer`` may see."""
    if viewer.is_admin:
        return true()
    uid = _user_id(viewer.username)
    shared = select(CourseShare.course_id).where(CourseShare.user_id == uid)
    return or_(Course.owner_id == uid, Course.id.in_(shared))


def visible_sessions_clause(viewer: Viewer) -> ColumnElement[bool]:
    """A WHERE condition on :class:`ClassSession`: the sessions ``viewer`` may see, open, export
    and change (see the rule above)."""
    if viewer.is_admin:
        return true()
    return ClassSession.course_id.in_(select(Course.id).where(visible_courses_clause(viewer)))


def visible_session_ids(s: Session, viewer: Viewer) -> set[int]:
    return set(s.scalars(select(ClassSession.id).where(visible_sessions_clause(viewer))))


def can_see_session(s: Session, viewer: Viewer, session_id: int) -> bool:
    q = select(ClassSession.id).where(ClassSession.id == session_id, visible_sessions_clause(viewer))
    return s.scalar(q) is not None


def can_see_student(s: Session, viewer: Viewer, student_id: int) -> bool:
    """Whether the student's session is one ``viewer`` may see (and so rename, merge, erase in)."""
    session_id = s.scalar(select(Student.session_id).where(Student.id == student_id))
    return session_id is not None and can_see_session(s, viewer, session_id)


def list_visible_sessions(s: Session, viewer: Viewer) -> list[ClassSession]:
    q = select(ClassSession).where(visible_sessions_clause(viewer))
    return list(s.scalars(q.order_by(ClassSession.started_at.desc(), ClassSession.id.desc())))


def sessions_with_source_hash(s: Session, viewer: Viewer, sha256: str) -> list[ClassSession]:
    """The sessions ``viewer`` may see that analysed a file with these bytes, newest first."""
    q = select(ClassSession).where(ClassSession.source_sha256 == sha256, visible_sessions_clause(viewer))
    return list(s.scalars(q.order_by(ClassSession.started_at.desc(), ClassSession.id.desc())))


def course_sessions(s: Session, viewer: Viewer, course_id: int, since: datetime | None = None,
                    until: datetime | None = None) -> list[ClassSession]:
    """A course's sessions that ``viewer`` may see, started in ``[since, until)`` (either open),
    oldest first: the course overview's weeks."""
    q = select(ClassSession).where(ClassSession.course_id == course_id, visible_sessions_clause(viewer))
    if since is not None:
        q = q.where(ClassSession.started_at >= since)
    if until is not None:
        q = q.where(ClassSession.started_at < until)
    return list(s.scalars(q.order_by(ClassSession.started_at, ClassSession.id)))


def visible_courses(s: Session, viewer: Viewer) -> list[Course]:
    """The courses ``viewer`` may file a recording or a class under (admins: every course)."""
    return list(s.scalars(select(Course).where(visible_courses_clause(viewer)).order_by(Course.name)))


def course_for(s: Session, viewer: Viewer, name: str) -> Course:
    """The course called ``name`` that ``viewer`` may use, created with ``viewer`` as its owner
    when there is none. Names are unique across all teachers: a name taken by a course ``viewer``
    cannot see is refused (:class:`CourseRefused`), never shared by accident. Commits."""
    name = name.strip()
    if not name:
        raise CourseRefused("enter a course name")
    if len(name) > 200:
        raise CourseRefused("a course name has at most 200 characters")
    course = s.scalar(select(Course).where(Course.name == name))
    if course is None:
        owner = s.scalar(_user_id(viewer.username).select())
        course = Course(name=name, owner_id=owner, created_at=utcnow())
        s.add(course)
        try:
            s.commit()
        except Exception:  # another browser made the same name meanwhile: look again
            s.rollback()
            course = s.scalar(select(Course).where(Course.name == name))
            if course is None:
                raise
    if not s.scalar(select(Course.id).where(Course.id == course.id, visible_courses_clause(viewer))):
        raise CourseRefused(f"there is already a course called {name!r} that is not yours: choose another name "
                            "(for example with your name or the year in it), or ask an admin to share that course "
                            "with you")
    return course


def file_session(s: Session, session_id: int, course_id: int) -> bool:
    """File a session that has no course yet under ``course_id`` (a recording uploaded in the
    dashboard, once its engine has made its session); a session already in a course is left
    alone. True when it was filed now."""
    done = s.execute(update(ClassSession).where(ClassSession.id == session_id, ClassSession.course_id.is_(None))
                     .values(course_id=course_id)).rowcount == 1
    s.commit()
    return done


def set_session_course(s: Session, session_id: int, course_id: int | None) -> None:
    """An admin moves a session to another course (None: no course, the admins' only)."""
    if s.execute(update(ClassSession).where(ClassSession.id == session_id)
                 .values(course_id=course_id)).rowcount != 1:
        s.rollback()
        raise CourseRefused(f"there is no session #{session_id}")
    s.commit()


def _course(s: Session, course_id: int) -> Course:
    course = s.get(Course, course_id)
    if course is None:
        raise CourseRefused(f"there is no course #{course_id}")
    return course


def _account_id(s: Session, username: str) -> int:
    uid = s.scalar(_user_id(username).select())
    if uid is None:
        raise CourseRefused(f"there is no account called {username!r}")
    return uid


def set_course_owner(s: Session, course_id: int, username: str | None) -> None:
    """An admin reassigns a course to another teacher (None: to nobody, the admins' only)."""
    course = _course(s, course_id)
    course.owner_id = None if username is None else _account_id(s, username)
    if course.owner_id is not None:  # the owner needs no share of their own course
        s.execute(delete(CourseShare).where(CourseShare.course_id == course_id, CourseShare.user_id == course.owner_id))
    s.commit()


def share_course(s: Session, course_id: int, username: str) -> None:
    """An admin shares a course with a co-teacher (nothing happens when it already is)."""
    course, uid = _course(s, course_id), _account_id(s, username)
    if uid != course.owner_id and s.get(CourseShare, (course_id, uid)) is None:
        s.add(CourseShare(course_id=course_id, user_id=uid))
    s.commit()


def unshare_course(s: Session, course_id: int, username: str) -> None:
    s.execute(delete(CourseShare).where(CourseShare.course_id == course_id,
                                        CourseShare.user_id == _user_id(username)))
    s.commit()


def course_overview(s: Session) -> list[dict]:
    """Every course for the admins' page: id, name, owner (None: the admins'), co-teachers and
    how many sessions it holds, by name."""
    owners = dict(s.execute(select(User.id, User.username)).all())
    shares: dict[int, list[str]] = {}
    for course_id, username in s.execute(select(CourseShare.course_id, User.username)
                                         .join(User, User.id == CourseShare.user_id).order_by(User.username)):
        shares.setdefault(course_id, []).append(username)
    counts = dict(s.execute(select(ClassSession.course_id, func.count()).group_by(ClassSession.course_id)).all())
    return [{"id": c.id, "name": c.name, "owner": owners.get(c.owner_id), "shared_with": shares.get(c.id, []),
             "sessions": counts.get(c.id, 0)}
            for c in s.scalars(select(Course).order_by(Course.name))]


def sessions_without_course(s: Session) -> list[ClassSession]:
    return list(s.scalars(select(ClassSession).where(ClassSession.course_id.is_(None))
                          .order_by(ClassSession.started_at.desc(), ClassSession.id.desc())))


# --- undoable merges and teachers' marks on alerts (issue 14, migration 0008) ---


class MergeRefused(ValueError):
    """A merge or an undo that would lose or mix records; the message says why, for a teacher."""


class SeenTogether(MergeRefused):
    """The two students were seen in the same frame ``frames`` times: two faces at one moment are
    two people, so the merge needs the teacher's explicit override."""

    def __init__(self, frames: int):
        super().__init__(f"these two students were seen at the same moment in {frames} frames: two faces at the same "
                         "moment are two people, not one person tracked twice")
        self.frames = frames


def co_present_frames(s: Session, a_id: int, b_id: int) -> int:
    """In how many frames (media times) both students were seen."""
    a, b = aliased(Observation), aliased(Observation)
    q = (select(func.count(a.t.distinct())).select_from(a)
         .join(b, (b.t == a.t) & (b.session_id == a.session_id))
         .where(a.student_id == a_id, b.student_id == b_id))
    return s.scalar(q) or 0


def merges(s: Session, session_id: int) -> list[StudentMerge]:
    """The session's merges that stand, newest first."""
    return list(s.scalars(select(StudentMerge).where(StudentMerge.session_id == session_id)
                          .order_by(StudentMerge.id.desc())))


_ID_CHUNK = 5000  # ids per IN (...): under SQLite's and PostgreSQL's limits on bound parameters


def _move_back(s: Session, model, ids: Sequence[int], from_id: int, to_id: int) -> None:
    for i in range(0, len(ids), _ID_CHUNK):
        s.execute(update(model).where(model.id.in_(ids[i:i + _ID_CHUNK]), model.student_id == from_id)
                  .values(student_id=to_id))


def undo_merge(s: Session, merge_id: int, username: str = "") -> StudentMerge:
    """Put a merge back exactly: the observations and alerts it moved go back to the merged student
    (whose row, label and name never left), and the merge is forgotten. Refused while the kept
    student is itself merged into another (undo that later merge first) or when it is gone."""
    merge = s.get(StudentMerge, merge_id)
    if merge is None:
        raise MergeRefused("this merge was already undone")
    keep, gone = s.get(Student, merge.keep_id), s.get(Student, merge.merged_id)
    later = s.scalar(select(StudentMerge).where(StudentMerge.merged_id == merge.keep_id))
    if later is not None:
        into = s.get(Student, later.keep_id)
        raise MergeRefused(f"{keep.display_name} was merged into {into.display_name} afterwards: undo that merge first")
    _move_back(s, Observation, merge.observation_ids, merge.keep_id, merge.merged_id)
    _move_back(s, Alert, merge.alert_ids, merge.keep_id, merge.merged_id)
    s.delete(merge)
    record_event(s, username or "?", "merge undone", f"session #{merge.session_id}",
                 f"{gone.display_name} is separate from {keep.display_name} again", commit=False)
    s.commit()
    return merge


_LEGACY_LABEL = re.compile(r"^Student \d+\b")


def render_alert_message(message: str, display_name: str | None) -> str:
    """An alert's message with the student's current name, rendered when read (feed, report,
    exports), not when the engine wrote it. A message holds the ``{name}`` placeholder, or, as the
    engine writes it, starts with the "Student N" the student had then (kept as is for rows written
    before this rendering, and for the label a merge has since replaced). Class alerts
    (``display_name`` None) are as written."""
    if display_name is None:
        return message
    if "{name}" in message:
        return message.replace("{name}", display_name)
    return _LEGACY_LABEL.sub(lambda _: display_name, message, count=1)


def mark_alert(s: Session, alert_id: int, username: str, right: bool | None, note: str = "") -> None:
    """``username``'s word on an alert: right (True) or wrong (False) with an optional note, replacing
    their earlier mark; None takes their mark back."""
    uid = s.scalar(_user_id(username).select())
    if uid is None:
        raise ValueError(f"there is no account called {username!r}")
    if s.get(Alert, alert_id) is None:
        raise ValueError(f"there is no alert #{alert_id}")
    mark = s.scalar(select(AlertMark).where(AlertMark.alert_id == alert_id, AlertMark.user_id == uid))
    if right is None:
        if mark is not None:
            s.delete(mark)
    elif mark is None:
        s.add(AlertMark(alert_id=alert_id, user_id=uid, right=bool(right), note=note.strip(), created_at=utcnow()))
    else:
        mark.right, mark.note, mark.created_at = bool(right), note.strip(), utcnow()
    s.commit()


def alert_marks(s: Session, session_id: int, username: str) -> dict[int, AlertMark]:
    """``username``'s marks on the session's alerts, by alert id."""
    q = (select(AlertMark).join(Alert, Alert.id == AlertMark.alert_id)
         .where(Alert.session_id == session_id, AlertMark.user_id == _user_id(username)))
    return {m.alert_id: m for m in s.scalars(q)}


def alert_mark_summary(s: Session) -> list[dict]:
    """Per alert kind, over every session: alerts raised, alerts marked (by anyone), marks, marks
    saying right; kinds by name."""
    raised = dict(s.execute(select(Alert.kind, func.count()).group_by(Alert.kind)).all())
    q = (select(Alert.kind, func.count(AlertMark.alert_id.distinct()), func.count(),
                func.count().filter(AlertMark.right.is_(True)))
         .join(Alert, Alert.id == AlertMark.alert_id).group_by(Alert.kind))
    marked = {kind: (alerts, marks, right) for kind, alerts, marks, right in s.execute(q)}
    return [{"kind": kind, "alerts": raised.get(kind, 0), "marked": marked.get(kind, (0, 0, 0))[0],
             "marks": marked.get(kind, (0, 0, 0))[1], "right": marked.get(kind, (0, 0, 0))[2]}
            for kind in sorted(set(raised) | set(marked))]


# --- erasure across a course (issue 13) ---
#
# Who may: an admin, and the course's owner. A co-teacher the course is shared with sees and exports
# it but may not erase it (nor a student across it): erasure is the owner's decision. A student is
# the same person across sessions by the name a teacher gave them (``students.name``); "Student N"
# labels are per session (the tracker's numbering), so an unnamed student is erased session by
# session (:func:`delete_student`), never across a course.


class ErasureRefused(ValueError):
    """An erasure not made: not allowed, not confirmed, or not now; the message says why, for a teacher."""


@dataclass(frozen=True)
class ErasureCount:
    """What an erasure removes (shown before it, for the confirmation, and written to the audit log)."""

    sessions: int  # sessions erased (a course) or touched (a student across a course)
    students: int  # student rows, merged-away ones included
    observations: int
    alerts: int
    marks: int  # teachers' right/wrong marks on those alerts
    merges: int

    @property
    def rows(self) -> int:
        """Every row, sessions included (a course's own row and its shares are not counted)."""
        return self.sessions + self.students + self.observations + self.alerts + self.marks + self.merges


def may_erase_course(s: Session, viewer: Viewer, course_id: int) -> bool:
    """An admin, or the course's owner; not a co-teacher, not another teacher."""
    if viewer.is_admin:
        return s.get(Course, course_id) is not None
    q = select(Course.id).where(Course.id == course_id, Course.owner_id == _user_id(viewer.username))
    return s.scalar(q) is not None


def named_students_in_course(s: Session, course_id: int) -> list[str]:
    """The names teachers gave students in the course's sessions (each once, by name): the people
    that can be erased across the course."""
    q = (select(Student.name).distinct().join(ClassSession, ClassSession.id == Student.session_id)
         .where(ClassSession.course_id == course_id, Student.name.is_not(None)).order_by(Student.name))
    return list(s.scalars(q))


def _course_student_ids(s: Session, course_id: int, name: str) -> set[int]:
    """Every student row called ``name`` in the course's sessions, and the students merged into them."""
    q = (select(Student.id).join(ClassSession, ClassSession.id == Student.session_id)
         .where(ClassSession.course_id == course_id, Student.name == name))
    return _with_merged_in(s, set(s.scalars(q)))


def _count(s: Session, model, condition) -> int:
    return s.scalar(select(func.count()).select_from(model).where(condition)) or 0


def course_student_count(s: Session, course_id: int, name: str) -> ErasureCount:
    """What erasing the student called ``name`` across the course removes."""
    ids = _course_student_ids(s, course_id, name)
    their_alerts = select(Alert.id).where(Alert.student_id.in_(ids))
    sessions = s.scalar(select(func.count(Student.session_id.distinct())).where(Student.id.in_(ids))) or 0
    return ErasureCount(
        sessions=sessions, students=len(ids), observations=_count(s, Observation, Observation.student_id.in_(ids)),
        alerts=_count(s, Alert, Alert.student_id.in_(ids)), marks=_count(s, AlertMark, AlertMark.alert_id.in_(their_alerts)),
        merges=_count(s, StudentMerge, or_(StudentMerge.keep_id.in_(ids), StudentMerge.merged_id.in_(ids))))


def course_count(s: Session, course_id: int) -> ErasureCount:
    """What erasing the whole course removes."""
    sessions = select(ClassSession.id).where(ClassSession.course_id == course_id)
    their_alerts = select(Alert.id).where(Alert.session_id.in_(sessions))
    return ErasureCount(
        sessions=_count(s, ClassSession, ClassSession.course_id == course_id),
        students=_count(s, Student, Student.session_id.in_(sessions)),
        observations=_count(s, Observation, Observation.session_id.in_(sessions)),
        alerts=_count(s, Alert, Alert.session_id.in_(sessions)), marks=_count(s, AlertMark, AlertMark.alert_id.in_(their_alerts)),
        merges=_count(s, StudentMerge, StudentMerge.session_id.in_(sessions)))


def _erasable_course(s: Session, viewer: Viewer, course_id: int) -> Course:
    """The course, when ``viewer`` may erase it and none of its sessions is being recorded now."""
    course = s.get(Course, course_id)
    if course is None or not s.scalar(select(Course.id).where(Course.id == course_id, visible_courses_clause(viewer))):
        raise ErasureRefused(f"there is no course #{course_id} among the courses you can see")
    if not may_erase_course(s, viewer, course_id):
        raise ErasureRefused(f"only the owner of {course.name!r} or an admin can erase its records; a co-teacher "
                             "cannot")
    running = _count(s, ClassSession, (ClassSession.course_id == course_id)
                     & (ClassSession.status == SessionStatus.running))
    if running:
        raise ErasureRefused(f"a session of {course.name!r} is still being recorded or analysed (the engine writes to "
                             "it): stop it first")
    return course


def _confirmed(typed: str, expected: str, what: str) -> None:
    if typed.strip() != expected.strip():
        raise ErasureRefused(f"the text typed is not {what} exactly; nothing was erased")


def erase_course_student(s: Session, viewer: Viewer, course_id: int, name: str, typed: str) -> ErasureCount:
    """Erase every student row called ``name`` in every session of the course, with their
    observations, alerts, marks on those alerts and merges (and the students merged into them), in
    one transaction with its audit-log entry. ``typed`` must be ``name`` (the confirmation). The
    audit entry says who erased how much of which course, not the student's name: keeping the name
    there would keep what was erased."""
    course = _erasable_course(s, viewer, course_id)
    _confirmed(typed, name, "the student's name")
    ids = _course_student_ids(s, course_id, name)
    if not ids:
        raise ErasureRefused(f"no student of {course.name!r} is called {name!r}")
    count = course_student_count(s, course_id, name)
    _delete_student_rows(s, ids)
    record_event(s, viewer.username, "erasure", f"course {course.name}",
                 f"a named student's records across the course: {count.students} student rows in {count.sessions} "
                 f"sessions, {count.observations} observations, {count.alerts} alerts", commit=False)
    s.commit()
    return count


def erase_course(s: Session, viewer: Viewer, course_id: int, typed: str) -> ErasureCount:
    """Erase the course, its shares and each of its sessions with everything recorded in it
    (:func:`delete_session`'s statements), in one transaction with its audit-log entry. ``typed``
    must be the course's name (the confirmation)."""
    course = _erasable_course(s, viewer, course_id)
    _confirmed(typed, course.name, "the course's name")
    count, name = course_count(s, course_id), course.name
    for session_id in list(s.scalars(select(ClassSession.id).where(ClassSession.course_id == course_id))):
        _delete_session_rows(s, session_id)
    s.execute(delete(CourseShare).where(CourseShare.course_id == course_id))
    s.execute(delete(Course).where(Course.id == course_id))
    record_event(s, viewer.username, "erasure", f"course {name}",
                 f"the whole course: {count.sessions} sessions, {count.students} students, {count.observations} "
                 f"observations, {count.alerts} alerts", commit=False)
    s.commit()
    return count
