"""ORM models. Media time ``t`` is seconds from the start of the source; wall-clock
times are naive UTC datetimes."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class SessionStatus(str, enum.Enum):
    running = "running"
    complete = "complete"
    failed = "failed"
    interrupted = "interrupted"


class Course(Base):
    """A course belongs to the teacher who created it (``owner_id``, migration 0006) and to the
    co-teachers it is shared with (``course_shares``). A course without an owner (one made before
    0006, or by an engine started from a terminal, or whose owner was deleted) is the admins' until
    an admin reassigns it. Names are unique across all teachers."""

    __tablename__ = "courses"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # delete_user clears it
    sessions: Mapped[list[ClassSession]] = relationship(back_populates="course")


class CourseShare(Base):
    """A co-teacher of a course (migration 0006): sees and exports its sessions as its owner does."""

    __tablename__ = "course_shares"
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class ClassSession(Base):
    __tablename__ = "class_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    title: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(Text)  # file name, "camera 0", "screen", URL
    source_kind: Mapped[str] = mapped_column(String(20), default="video")  # video|camera|screen|image|folder|stream
    status: Mapped[SessionStatus] = mapped_column(Enum(SessionStatus, native_enum=False), default=SessionStatus.running)
    model_version: Mapped[str] = mapped_column(String(200), default="")
    analysis_fps: Mapped[float] = mapped_column(Float, default=5.0)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    video_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # media time covered so far
    media_duration: Mapped[float | None] = mapped_column(Float)  # whole file's length; None for live sources
    frames_analyzed: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")  # why it failed / where a broken file stopped
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)  # the engine's last batch (UTC); migration 0002
    # Whether expressions were read (migration 0004): False = attention-only; None = before 0004 (with emotions)
    emotions: Mapped[bool | None] = mapped_column(Boolean)
    # SHA-256 of the recording's bytes (migration 0009): the same file analysed again is found by it.
    # None for live sources, folders and sessions recorded before 0009.
    source_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    course: Mapped[Course | None] = relationship(back_populates="sessions")
    students: Mapped[list[Student]] = relationship(back_populates="session", cascade="all, delete-orphan")


class Student(Base):
    """One tracked person in one session: "Student N" until the teacher names them."""

    __tablename__ = "students"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_sessions.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(Integer)  # the tracker's id within the session
    label: Mapped[str] = mapped_column(String(100))  # "Student N"
    name: Mapped[str | None] = mapped_column(String(200))  # set by the teacher
    session: Mapped[ClassSession] = relationship(back_populates="students")

    @property
    def display_name(self) -> str:
        return self.name or self.label


class Observation(Base):
    __tablename__ = "observations"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_sessions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    t: Mapped[float] = mapped_column(Float)  # media seconds
    wall_time: Mapped[datetime] = mapped_column(DateTime)
    angry: Mapped[float | None] = mapped_column(Float)
    disgust: Mapped[float | None] = mapped_column(Float)
    fear: Mapped[float | None] = mapped_column(Float)
    happy: Mapped[float | None] = mapped_column(Float)
    sad: Mapped[float | None] = mapped_column(Float)
    surprise: Mapped[float | None] = mapped_column(Float)
    neutral: Mapped[float | None] = mapped_column(Float)
    emotion: Mapped[str | None] = mapped_column(String(16))  # the 7 above and this: None when attention-only
    box_x: Mapped[int] = mapped_column(Integer)
    box_y: Mapped[int] = mapped_column(Integer)
    box_w: Mapped[int] = mapped_column(Integer)
    box_h: Mapped[int] = mapped_column(Integer)
    yaw: Mapped[float | None] = mapped_column(Float)  # degrees, + = turned to the image's right
    pitch: Mapped[float | None] = mapped_column(Float)  # degrees, + = looking up
    eye_openness: Mapped[float | None] = mapped_column(Float)  # 0 closed .. 1 open
    engagement: Mapped[float] = mapped_column(Float)  # 0..1
    confusion: Mapped[float | None] = mapped_column(Float)  # 0..1; None when attention-only or not readable
    # How good the evidence was (migration 0007; NULL for rows recorded before it, which count as
    # readable): the detector's confidence, blur (variance of the Laplacian of the 48x48 grey face),
    # brightness (mean grey 0-255) and contrast (std of grey) of the face, and whether the reading
    # passed the engine's quality floor; when not, why: small | turned | down | blurred | dark.
    detector_score: Mapped[float | None] = mapped_column(Float)
    blur: Mapped[float | None] = mapped_column(Float)
    brightness: Mapped[float | None] = mapped_column(Float)
    contrast: Mapped[float | None] = mapped_column(Float)
    readable: Mapped[bool | None] = mapped_column(Boolean)
    unreadable_reason: Mapped[str | None] = mapped_column(String(16))
    __table_args__ = (Index("ix_obs_session_t", "session_id", "t"), Index("ix_obs_student_t", "student_id", "t"))


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_sessions.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))  # None = whole class
    kind: Mapped[str] = mapped_column(String(20))  # disengaged | confused | absent
    start_t: Mapped[float] = mapped_column(Float)
    end_t: Mapped[float | None] = mapped_column(Float)  # None while still active
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StudentMerge(Base):
    """A merge of two tracks, kept so that it can be undone exactly (migration 0008). The merged
    student's row stays where it was (hidden from the roster while this row exists), so undoing
    brings back its id, label and name, and no later student of a live class reuses its id or its
    "Student N". ``observation_ids`` and ``alert_ids`` are the rows that moved to ``keep_id``; undo
    moves exactly those back and deletes this row. ``co_present_frames`` > 0: the teacher overrode
    the "seen at the same moment" refusal."""

    __tablename__ = "student_merges"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_sessions.id", ondelete="CASCADE"), index=True)
    keep_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), unique=True)
    observation_ids: Mapped[list] = mapped_column(JSON)
    alert_ids: Mapped[list] = mapped_column(JSON)
    co_present_frames: Mapped[int] = mapped_column(Integer, default=0)
    username: Mapped[str] = mapped_column(String(100), default="")  # who merged
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AlertMark(Base):
    """A teacher's word on one alert (migration 0008): right or wrong, with an optional note. One
    mark per alert per account (marking again replaces it); a deleted account's marks stay, without
    the account (``user_id`` NULL), so the model page's counts do not change."""

    __tablename__ = "alert_marks"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    right: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("alert_id", "user_id", name="uq_alert_marks_alert_user"),)


class ModelEvaluation(Base):
    __tablename__ = "model_evaluations"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    model_name: Mapped[str] = mapped_column(String(200))
    split: Mapped[str] = mapped_column(String(20))
    tta: Mapped[bool] = mapped_column(Boolean, default=False)
    n: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    top2: Mapped[float] = mapped_column(Float)
    per_class: Mapped[dict] = mapped_column(JSON)
    confusion: Mapped[list] = mapped_column(JSON)


class SignInAttempt(Base):
    """Every sign-in, right or wrong (migration 0003): wrong ones are throttled per user name and
    both are the start of an audit trail."""

    __tablename__ = "sign_in_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)  # as typed: unknown names are throttled too
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class AuditEvent(Base):
    """Who did what, when (migration 0005): sign-ins, failed sign-ins, account changes, exports
    and erasures. ``username`` is who acted (as typed, for a sign-in); ``target`` what it was done
    to (an account, a session); ``detail`` a short sentence."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | teacher
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # A disabled account cannot sign in (migration 0005); its rows and its audit trail stay.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AppSetting(Base):
    """The admin's switches (migration 0004), one row per key: ``emotions`` ("true"/"false"),
    ``retention_days`` (days to keep observations; absent or empty = keep)."""

    __tablename__ = "app_settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
