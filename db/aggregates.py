"""Observations summed per time bin per student, in SQL (GROUP BY, on SQLite and PostgreSQL):
what the dashboard's report, students and live pages read instead of every observation. An
hour-long, 30-student lecture at 5 fps is 540,000 observations; at the report's default 2-minute
bins it is 900 rows of sums.

Sums and counts, not means, so that bins and students combine exactly afterwards (a class-wide
mean is a sum of sums over a sum of counts; a coarser bin is a sum of finer ones)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Integer, and_, cast, func, literal_column, select, true
from sqlalchemy.orm import Session

from db.models import Alert, Observation, Student

EMOTION_COLUMNS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# One row per (bin, student_id): bin start (s); observations; of them, the readable ones with an
# emotion (``n_read``: the engine's quality floor passed, or a row from before it was measured);
# first and last media time; sums of engagement (all observations) and confusion (readable ones);
# how many readable observations had each dominant emotion. (What the pages show, no more: each
# further SUM costs about a tenth more time over an hour's rows.)
BIN_COLUMNS = (
    "bin", "student_id", "n", "n_read", "t_min", "t_max", "engagement_sum", "confusion_sum",
    *(f"n_{e}" for e in EMOTION_COLUMNS),
)


def _bin_index(s: Session, bin_s: float):
    """floor(t / bin_s): SQLite has no FLOOR without its math extension, and media time is never
    negative, so a cast (which truncates there) is the floor; PostgreSQL's cast rounds, so FLOOR."""
    width = literal_column(repr(float(bin_s)))  # inlined: GROUP BY must repeat the same expression
    if s.get_bind().dialect.name == "sqlite":
        return cast(Observation.t / width, Integer)
    return func.floor(Observation.t / width)


def binned_observations(s: Session, session_id: int, bin_s: float, since_t: float | None = None) -> pd.DataFrame:
    """:data:`BIN_COLUMNS` for one session, sorted by bin then student; ``bin`` is the start of
    the bin in seconds, ``(t // bin_s) * bin_s`` as the pages always binned."""
    index = _bin_index(s, bin_s).label("bin_index")
    o = Observation
    ok = readable_clause()
    q = (
        select(
            index, o.student_id, func.count().label("n"), func.count().filter(and_(ok, o.emotion.isnot(None))),
            func.min(o.t), func.max(o.t), func.sum(o.engagement), func.sum(o.confusion).filter(ok),
            # COUNT(*) FILTER (WHERE ...): SQLite 3.30+ and PostgreSQL; half the time of SUM(CASE ...)
            *(func.count().filter(and_(ok, o.emotion == e)) for e in EMOTION_COLUMNS),
        )
        .where(o.session_id == session_id)
        .group_by(literal_column("bin_index"), o.student_id)
        .order_by(literal_column("bin_index"), o.student_id)
    )
    if since_t is not None:
        q = q.where(o.t >= since_t)
    frame = pd.DataFrame(s.execute(q).all(), columns=["bin", *BIN_COLUMNS[1:]])
    frame["bin"] = frame["bin"].astype(float) * float(bin_s)
    counts = ["n", "n_read", *(f"n_{e}" for e in EMOTION_COLUMNS)]
    frame[counts] = frame[counts].astype("int64")
    sums = [c for c in BIN_COLUMNS[3:] if c not in counts]
    frame[sums] = frame[sums].astype(float)
    frame["student_id"] = frame["student_id"].astype("int64")
    return frame


def readable_clause():
    """Observations whose expression counts (the engine's quality floor passed; NULL = recorded
    before quality was measured, which counted then and still does)."""
    return func.coalesce(Observation.readable, true())


def quality_counts(s: Session, session_id: int) -> dict[str | None, int]:
    """How many observations of the session were readable (key None), unreadable per reason
    (``small``, ``turned``, ``down``, ``blurred``, ``dark``), or recorded before quality was
    measured (key ``"unmeasured"``). One GROUP BY."""
    o = Observation
    q = (select(o.readable, o.unreadable_reason, func.count()).where(o.session_id == session_id)
         .group_by(o.readable, o.unreadable_reason))
    out: dict[str | None, int] = {}
    for readable, reason, n in s.execute(q):
        key = "unmeasured" if readable is None else (None if readable else (reason or "unknown"))
        out[key] = out.get(key, 0) + int(n)
    return out


def last_t(s: Session, session_id: int) -> float | None:
    """The media time of the session's latest observation (None without any); one index lookup."""
    return s.scalar(select(func.max(Observation.t)).where(Observation.session_id == session_id))



# Per session, for the course overview. The means scan the session's observations (by the
# (session_id, t) index), so the dashboard caches them per session; the counts are cheap.
SESSION_MEAN_COLUMNS = ("session_id", "n", "engagement", "confusion")
SESSION_COUNT_COLUMNS = ("session_id", "students", "alerts", "alerts_disengaged", "alerts_confused")


def _per_session(ids: list[int], rows: list, columns: tuple[str, ...]) -> pd.DataFrame:
    """``rows`` (one per session that has any) as a frame with every id of ``ids``, in that order."""
    found = pd.DataFrame(rows, columns=list(columns))
    return pd.DataFrame({"session_id": ids}, dtype="int64").merge(found, on="session_id", how="left")


def session_means(s: Session, session_ids: list[int]) -> pd.DataFrame:
    """:data:`SESSION_MEAN_COLUMNS`: observations, mean engagement (all of them) and mean confusion
    (the readable ones, as :func:`binned_observations` counts them; NULL, attention-only, left out;
    NaN without any) per session, in one GROUP BY."""
    ids, o = [int(i) for i in session_ids], Observation
    rows = s.execute(select(o.session_id, func.count(), func.avg(o.engagement),
                            func.avg(o.confusion).filter(readable_clause()))
                     .where(o.session_id.in_(ids)).group_by(o.session_id)).all() if ids else []
    frame = _per_session(ids, rows, SESSION_MEAN_COLUMNS)
    frame["n"] = frame["n"].fillna(0).astype("int64")
    frame[["engagement", "confusion"]] = frame[["engagement", "confusion"]].astype(float)
    return frame


def session_counts(s: Session, session_ids: list[int]) -> pd.DataFrame:
    """:data:`SESSION_COUNT_COLUMNS`: students recorded (attendance) and alerts, all and per kind,
    per session: two GROUP BYs over indexed columns."""
    ids = [int(i) for i in session_ids]
    people = s.execute(select(Student.session_id, func.count()).where(Student.session_id.in_(ids))
                       .group_by(Student.session_id)).all() if ids else []
    a = Alert
    alerts = s.execute(select(a.session_id, func.count(), func.count().filter(a.kind == "disengaged"),
                              func.count().filter(a.kind == "confused"))
                       .where(a.session_id.in_(ids)).group_by(a.session_id)).all() if ids else []
    frame = _per_session(ids, people, SESSION_COUNT_COLUMNS[:2]).merge(
        pd.DataFrame(alerts, columns=list(SESSION_COUNT_COLUMNS[:1] + SESSION_COUNT_COLUMNS[2:])),
        on="session_id", how="left")
    counts = list(SESSION_COUNT_COLUMNS[1:])
    frame[counts] = frame[counts].fillna(0).astype("int64")
    return frame
