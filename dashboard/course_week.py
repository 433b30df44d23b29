"""A teacher's week, as data for the pages: a course's sessions in date order with their
engagement, confusion, attendance and alerts (the Course overview), renaming a session, and the
sessions that already analysed a recording with the same bytes (the Recordings page's warning).
Every lookup keeps to :func:`db.repository.visible_sessions_clause`: what a user may see."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import streamlit as st
from sqlalchemy.orm import sessionmaker

from dashboard import context, data
from db import aggregates
from db import repository as repo
from db.models import SessionStatus

TITLE_MAX = 300  # class_sessions.title


@dataclass(frozen=True)
class WeekSession:
    """One session of a course overview. ``engagement`` and ``confusion`` are means over its
    observations (None: no observations, or no confusion in an attention-only session)."""

    id: int
    title: str
    started_at: datetime
    status: str
    emotions: bool
    students: int  # attendance: the students recorded in the session
    alerts: int
    alerts_disengaged: int
    alerts_confused: int
    observations: int = 0
    engagement: float | None = None
    confusion: float | None = None


@dataclass(frozen=True)
class _Row:
    info: WeekSession
    signature: tuple  # what changes when the session's means may have changed


def _bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole days, ``until`` included."""
    start = datetime.combine(since, time.min) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min) if until else None
    return start, end


def _rows(factory: sessionmaker, viewer: repo.Viewer, course_id: int, since: date | None,
          until: date | None) -> list[_Row]:
    with data.reading(factory) as s:
        sessions = repo.course_sessions(s, viewer, course_id, *_bounds(since, until))
        counts = aggregates.session_counts(s, [cs.id for cs in sessions]).set_index("session_id")
        rows = []
        for cs in sessions:
            c = counts.loc[cs.id]
            status = cs.status.value if isinstance(cs.status, SessionStatus) else str(cs.status)
            info = WeekSession(id=cs.id, title=cs.title or cs.source, started_at=cs.started_at, status=status,
                               emotions=repo.session_has_emotions(cs), students=int(c["students"]),
                               alerts=int(c["alerts"]), alerts_disengaged=int(c["alerts_disengaged"]),
                               alerts_confused=int(c["alerts_confused"]))
            # A new batch, a purge (its note) or an erased student changes the means; nothing else does.
            signature = (status, cs.video_seconds, cs.frames_analyzed, cs.note, info.students)
            rows.append(_Row(info, signature))
    return rows


@st.cache_data(show_spinner=False, max_entries=1024)
def _means(url: str, session_id: int, signature: tuple) -> tuple[int, float | None, float | None]:
    # ``signature`` is only in the key: an hour-long lecture's means are one scan of 540,000 rows,
    # made again only when the session changed.
    with data.reading(context.factory()) as s:
        row = aggregates.session_means(s, [session_id]).iloc[0]
    return int(row["n"]), _number(row["engagement"]), _number(row["confusion"])


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def course_sessions(viewer: repo.Viewer, course_id: int, since: date | None = None,
                    until: date | None = None) -> list[WeekSession]:
    """The sessions of ``course_id`` that ``viewer`` may see, started between ``since`` and
    ``until`` (whole days, UTC, both included), oldest first, with their means and counts."""
    url = context.settings().db_url
    out = []
    for row in _rows(context.factory(), viewer, course_id, since, until):
        n, engagement, confusion = _means(url, row.info.id, row.signature)
        out.append(WeekSession(**{**row.info.__dict__, "observations": n, "engagement": engagement,
                                  "confusion": confusion if row.info.emotions else None}))
    return out


def course_span(factory: sessionmaker, viewer: repo.Viewer, course_id: int) -> tuple[date, date] | None:
    """The days (UTC) of the course's first and last session ``viewer`` may see; None without any."""
    with data.reading(factory) as s:
        sessions = repo.course_sessions(s, viewer, course_id)
        return (sessions[0].started_at.date(), sessions[-1].started_at.date()) if sessions else None


def course_of(factory: sessionmaker, viewer: repo.Viewer, session_id: int | None) -> int | None:
    """The course of a session ``viewer`` may see (None: not theirs, no such session, no course)."""
    if session_id is None:
        return None
    with data.reading(factory) as s:
        if not repo.can_see_session(s, viewer, session_id):
            return None
        cs = repo.get_session(s, session_id)
        return cs.course_id if cs else None


class TitleRefused(ValueError):
    """A title that cannot be saved (empty, too long); the message says why."""


def rename_session(factory: sessionmaker, viewer: repo.Viewer, session_id: int, title: str) -> str:
    """Give a session the title a teacher typed; refused for a session ``viewer`` may not see
    (:class:`dashboard.data.NotVisible`) and for an empty or too long one. Returns it as stored."""
    title = " ".join(title.split())
    if not title:
        raise TitleRefused("a title cannot be empty")
    if len(title) > TITLE_MAX:
        raise TitleRefused(f"a title has at most {TITLE_MAX} characters")
    with data.reading(factory) as s:
        if not repo.can_see_session(s, viewer, session_id):
            raise data.NotVisible(f"session #{session_id}")
        repo.set_session_title(s, session_id, title)
    return title


def earlier_analyses(factory: sessionmaker, viewer: repo.Viewer, sha256: str) -> list[data.SessionInfo]:
    """The sessions ``viewer`` may see that analysed a file with this SHA-256, newest first."""
    with data.reading(factory) as s:
        return [data._session_info(cs) for cs in repo.sessions_with_source_hash(s, viewer, sha256)]
