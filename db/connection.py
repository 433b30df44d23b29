"""Engine creation: any SQLAlchemy URL; SQLite gets WAL and a busy timeout so the
dashboard can read while the engine writes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker

from db.models import Base

DEFAULT_URL = "sqlite:///classroom.db"
BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """The database cannot be opened or written, in words a person can act on."""


def connect(url: str = DEFAULT_URL, create: bool = True) -> sessionmaker:
    """A session factory bound to ``url``; creates missing tables unless ``create`` is False."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        # A URI-style URL (sqlite:///file:PATH?mode=ro&uri=true) names its file between "file:" and "?".
        path = url.removeprefix("sqlite:///").split("?", 1)[0].removeprefix("file:")
        parent = Path(path).expanduser().resolve().parent
        if not parent.exists():
            raise DatabaseError(f"folder for the database does not exist: {parent}")
    engine = make_engine(url)
    if create:
        try:
            Base.metadata.create_all(engine)
        except Exception as exc:  # OperationalError, permission errors, bad URLs
            raise DatabaseError(f"cannot open database {engine.url!r}: {exc}") from exc
    return sessionmaker(engine, expire_on_commit=False)


def make_engine(url: str) -> Engine:
    try:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if url.startswith("sqlite") else {})
    except Exception as exc:  # ArgumentError for a malformed URL, missing driver modules
        raise DatabaseError(f"not a usable database URL {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses at most the last commit
    cur.close()
