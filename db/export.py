"""The observations CSV (:data:`db.repository.EXPORT_COLUMNS`, one row per observation), streamed:
rows are fetched in chunks (a server-side cursor on PostgreSQL) and written as they come, so an
hour-long lecture's 540,000 rows never sit in memory at once."""

from __future__ import annotations

import csv
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Observation, Student
from db.repository import EXPORT_COLUMNS

CHUNK_ROWS = 5_000


def _value(v):
    # pandas' to_csv wrote the file before: a missing value is an empty field, a float its repr.
    return "" if v is None else v


def write_csv(s: Session, session_id: int, out: TextIO, chunk_rows: int = CHUNK_ROWS) -> int:
    """Write the header and every observation of the session (by time, then student) to ``out``
    (opened with ``newline=""``); returns the number of rows."""
    columns = [func.coalesce(Student.name, Student.label) if c == "student" else getattr(Observation, c)
               for c in EXPORT_COLUMNS]
    q = (
        select(*columns)
        .join(Student, Student.id == Observation.student_id)
        .where(Observation.session_id == session_id)
        .order_by(Observation.t, Observation.student_id)
        .execution_options(yield_per=chunk_rows)  # stream_results: a server-side cursor where there is one
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for chunk in s.execute(q).partitions():
        writer.writerows([_value(v) for v in row] for row in chunk)
        n += len(chunk)
    return n
