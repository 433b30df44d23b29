"""Schema migrations (Alembic, ``db/migrations/versions``): what state a database is in, and
bringing it to this release's schema in place.

States: ``empty`` (no tables: made at the newest schema), ``unversioned`` (tables made by a
release before migrations existed, whose schema is the baseline revision: stamped, then
upgraded), ``behind`` (upgraded), ``current``, ``ahead`` (made by a newer release: refused,
since this code would misread it).

Safety when several processes start at once (dashboard, engine workers): the upgrade holds a
lock (PostgreSQL: an advisory lock; SQLite: its write lock, ``BEGIN IMMEDIATE``) and runs in
one transaction (both databases' DDL is transactional: a failed migration leaves the old
schema whole); whoever comes second finds the work done. A database already current takes no
lock. A SQLite file is copied to ``<file>.before-<revision>`` before an existing database is
changed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from db.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema of every release before migrations (what create_all made)
BASELINE_TABLES = ("courses", "class_sessions", "students", "observations", "alerts", "model_evaluations", "users")
PG_LOCK_KEY = 7_205_117_001  # any fixed number; pg_advisory_lock serialises upgrades on one server


class MigrationError(Exception):
    """The database cannot be brought to this release's schema (the message says why and what to do)."""


@dataclass(frozen=True)
class SchemaState:
    state: str  # empty | unversioned | behind | current | ahead
    revision: str | None  # the database's revision (None: empty or unversioned)
    head: str  # this release's newest revision


def _config(connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    return _script().get_current_head()


def state(connection: Connection) -> SchemaState:
    from alembic.runtime.migration import MigrationContext

    tip = head()
    tables = set(inspect(connection).get_table_names())
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        return SchemaState("unversioned" if tables - {"alembic_version"} else "empty", None, tip)
    if revision == tip:
        return SchemaState("current", revision, tip)
    known = {r.revision for r in _script().walk_revisions()}
    return SchemaState("behind" if revision in known else "ahead", revision, tip)


def upgrade(engine: Engine) -> tuple[SchemaState, SchemaState]:
    """Bring the database to ``head()``; (state before, state after)."""
    from alembic import command

    with engine.connect() as conn:
        first = state(conn)
        conn.rollback()
        if first.state == "current":  # the usual case: no lock taken, a running engine is not waited for
            return first, first
        sqlite = conn.dialect.name == "sqlite"
        if sqlite and first.state in ("unversioned", "behind"):
            _backup_sqlite(engine, first)
        # Programs starting together: the first to lock upgrades, the others then find it done.
        if sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's write lock, held to the commit
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_KEY})
            conn.commit()
        try:
            before = state(conn)
            if before.state == "ahead":
                raise MigrationError(
                    f"the database is at schema revision {before.revision}, newer than this release's "
                    f"{before.head}: it was upgraded by a newer version of this software; use that version")
            if before.state == "empty":
                # Alembic's recipe for a new database: the models' tables, stamped at the head
                # (tests/test_db_migrations.py checks that the migrations build the same schema).
                Base.metadata.create_all(conn)
                command.stamp(_config(conn), "head")
            if before.state == "unversioned":
                _check_baseline(conn)
                command.stamp(_config(conn), BASELINE)
            if before.state in ("unversioned", "behind"):
                command.upgrade(_config(conn), "head")
            conn.commit()
            return before, state(conn)
        finally:
            conn.rollback()
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                conn.commit()


def _check_baseline(conn: Connection) -> None:
    """An unversioned database must hold the baseline's tables, or it is not ours."""
    missing = set(BASELINE_TABLES) - set(inspect(conn).get_table_names())
    if missing:
        raise MigrationError(
            f"the database has tables but not this software's ({', '.join(sorted(missing))} missing): "
            "point --db at this software's database, or at a new one")


def _backup_sqlite(engine: Engine, before: SchemaState) -> Path | None:
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    path = Path(engine.url.database.removeprefix("file:").split("?", 1)[0])
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.before-{before.revision or 'migrations'}")
    with engine.connect() as c:  # the WAL's pages into the file first, so the copy is whole
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy2(path, target)
    return target
