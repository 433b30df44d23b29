"""The observations CSV (:data:`db.repository.EXPORT_COLUMNS`, one row per observation), streamed:
written as the rows come, so an hour-long lecture's 540,000 rows never sit in memory at once.

On PostgreSQL the server writes the CSV itself (``COPY (SELECT ...) TO STDOUT``, read in pieces);
elsewhere rows are fetched in chunks from the driver's own cursor and written by :mod:`csv`
(SQLAlchemy's row processing would triple the time: SQLite hands times back as the text that is
written anyway). Either way: a missing value is an empty field, a number its shortest exact
form, a time ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC). A student's name (typed by a teacher) that
starts like a spreadsheet formula gets a leading apostrophe: Excel and LibreOffice would run
``=HYPERLINK(...)`` or ``@SUM(...)`` when the file is opened (OWASP "CSV injection")."""

from __future__ import annotations

import codecs
import csv
from typing import TextIO

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from db.models import Observation, Student
from db.repository import EXPORT_COLUMNS

CHUNK_ROWS = 5_000
# A cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text):
    """The SQL expression ``text`` with an apostrophe in front when it starts like a formula."""
    return case((func.substr(text, 1, 1).in_(FORMULA_STARTS), literal("'") + text), else_=text)


def _query(session_id: int):
    columns = [neutralised(func.coalesce(Student.name, Student.label)) if c == "student" else getattr(Observation, c)
               for c in EXPORT_COLUMNS]
    return (
        select(*columns)
        .join(Student, Student.id == Observation.student_id)
        .where(Observation.session_id == session_id)
        .order_by(Observation.t, Observation.student_id)
    )


def write_csv(s: Session, session_id: int, out: TextIO, chunk_rows: int = CHUNK_ROWS) -> int:
    """Write the header and every observation of the session (by time, then student) to ``out``
    (opened with ``newline=""``); returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    q = _query(int(session_id))
    dialect = s.get_bind().dialect
    # Bound values are the session id and the fixed strings above: safe to inline.
    sql = str(q.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    dbapi = s.connection().connection.dbapi_connection
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return _copy_postgresql(dbapi, sql, out)
    cur = dbapi.cursor()
    try:
        cur.execute(sql)
        n = 0
        while rows := cur.fetchmany(chunk_rows):
            writer.writerows(rows)  # csv writes None as an empty field
            n += len(rows)
        return n
    finally:
        cur.close()


def _copy_postgresql(dbapi, sql: str, out: TextIO) -> int:
    """PostgreSQL formats the CSV (floats shortest-exact since PostgreSQL 12, as Python's repr)."""
    with dbapi.cursor() as cur:
        cur.execute("SET LOCAL extra_float_digits = 1")  # the default; a server set lower would round
        decoder = codecs.getincrementaldecoder("utf-8")()  # a block may end inside a character
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                out.write(decoder.decode(bytes(block)))
        out.write(decoder.decode(b"", final=True))
        return cur.rowcount  # from the server's "COPY n"
