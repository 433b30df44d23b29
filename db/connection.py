"""Engine creation: any SQLAlchemy URL (SQLite by default, PostgreSQL through psycopg); SQLite
gets WAL and a busy timeout so the dashboard can read while the engine writes."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import sessionmaker

from db.migrate import MigrationError, upgrade

DEFAULT_URL = "sqlite:///classroom.db"
# The database URL may come from the environment instead of a command line, where every user of
# the machine can read it (``ps``) with its password: the dashboard starts the engine this way.
ENV_DB = "CLASSROOM_DB"


def default_url() -> str:
    return os.environ.get(ENV_DB) or DEFAULT_URL
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
        # A new database gets this release's schema; one made by an earlier release is upgraded
        # in place (db/migrate.py says how that is kept safe).
        try:
            upgrade(engine)
        except MigrationError as exc:
            raise DatabaseError(f"cannot use database {engine.url!r}: {exc}") from exc
        except Exception as exc:  # OperationalError, permission errors, bad URLs
            raise DatabaseError(f"cannot open database {engine.url!r}: {exc}") from exc
    return sessionmaker(engine, expire_on_commit=False)


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` (what admins and hosting panels write) mean our
    PostgreSQL driver, psycopg 3; SQLAlchemy's own default for them is psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: nothing to find a password in
        return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if url.startswith("sqlite") else {},
                               pool_pre_ping=not url.startswith("sqlite"))
    except Exception as exc:  # ArgumentError for a malformed URL, missing driver modules
        raise DatabaseError(f"not a usable database URL {safe_url(url)!r}: {exc}") from exc
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
