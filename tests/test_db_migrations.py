"""Schema migrations on SQLite and on a real PostgreSQL server: a database made by the release
before migrations upgrades in place with its rows, by ``python -m db upgrade`` and on start;
databases this release must not touch are refused in words."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, inspect, text

from db import connect
from db import repository as repo
from db.connection import DatabaseError, normalise_url
from db.migrate import BASELINE, head, state

REPO = Path(__file__).resolve().parents[1]


def _previous_release_database(url: str) -> None:
    """What the release before migrations made (``create_all`` of its models, which is the
    baseline revision without Alembic's version table), with a finished session in it."""
    from alembic import command

    from db.migrate import _config

    engine = create_engine(normalise_url(url))
    with engine.connect() as c:
        command.upgrade(_config(c), BASELINE)
        c.execute(text("DROP TABLE alembic_version"))
        c.execute(text("INSERT INTO class_sessions (title, source, source_kind, status, model_version, analysis_fps,"
                       " started_at, video_seconds, frames_analyzed, note) VALUES ('Monday', 'a.mp4', 'video',"
                       " 'complete', 'm', 5.0, :t, 12.5, 60, '')"), {"t": datetime(2026, 11, 30, 9)})
        c.execute(text("INSERT INTO students (session_id, track_id, label) VALUES (1, 1, 'Student 1')"))
        c.execute(text("INSERT INTO observations (session_id, student_id, t, wall_time, angry, disgust, fear, happy,"
                       " sad, surprise, neutral, emotion, box_x, box_y, box_w, box_h, engagement, confusion)"
                       " VALUES (1, 1, 0.2, :t, 0, 0, 0, 1, 0, 0, 0, 'happy', 1, 2, 30, 30, 0.9, 0.1)"),
                  {"t": datetime(2026, 11, 30, 9)})
        c.commit()
    engine.dispose()


def _db_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "db", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_a_previous_release_database_upgrades_in_place_with_its_rows(db_url):
    _previous_release_database(db_url)
    with create_engine(normalise_url(db_url)).connect() as c:
        assert state(c).state == "unversioned"
    assert "made by a release before schema migrations" in _db_cli("status", "--db", db_url).stdout

    done = _db_cli("upgrade", "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert f"upgraded to {head()}" in done.stdout
    with create_engine(normalise_url(db_url)).connect() as c:
        assert state(c).state == "current"
        assert "heartbeat_at" in {col["name"] for col in inspect(c).get_columns("class_sessions")}
    with connect(db_url)() as s:
        (session,) = repo.list_sessions(s)
        assert (session.title, session.video_seconds, session.heartbeat_at) == ("Monday", 12.5, None)
        obs = repo.observations_frame(s, session.id)
        assert len(obs) == 1 and obs["emotion"].tolist() == ["happy"]
    again = _db_cli("upgrade", "--db", db_url)
    assert again.returncode == 0 and "already up to date" in again.stdout
    if db_url.startswith("sqlite"):  # the file as it was is kept beside it
        path = Path(db_url.removeprefix("sqlite:///"))
        assert path.with_name(path.name + ".before-migrations").exists()


def test_the_engine_and_dashboard_upgrade_an_old_database_when_they_open_it(db_url):
    _previous_release_database(db_url)
    with connect(db_url)() as s:  # what the engine and the dashboard call on start
        sid = repo.start_session(s, source="b.mp4", source_kind="video", model_version="m").id
        repo.write_batch(s, sid, [], video_seconds=1.0, frames_analyzed=5)
        assert repo.get_session(s, sid).heartbeat_at is not None  # the new column is written
    with create_engine(normalise_url(db_url)).connect() as c:
        assert state(c).state == "current"


def test_a_database_from_a_newer_release_or_another_program_is_refused(db_url):
    connect(db_url)
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        c.commit()
    with pytest.raises(DatabaseError, match="newer version of this software"):
        connect(db_url)
    refused = _db_cli("upgrade", "--db", db_url)
    assert refused.returncode == 2 and "newer" in refused.stderr
    with engine.connect() as c:  # untouched
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
        # Every table, dependants first (reflected, so a table a later migration adds is dropped too).
        everything = MetaData()
        everything.reflect(c)
        everything.drop_all(c)
        c.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
        c.commit()
    with pytest.raises(DatabaseError, match="not this software's"):
        connect(db_url)


def test_programs_starting_at_once_make_a_new_database_once(db_url):
    url = db_url
    starts = [subprocess.Popen([sys.executable, "-m", "db", "upgrade", "--db", url], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in starts]
    assert all(rc == 0 for rc, _, _ in results), results
    outs = [out for _, out, _ in results]
    assert sum("upgraded to" in o for o in outs) == 1 and sum("already up to date" in o for o in outs) == 2


def test_the_migrations_build_the_schema_the_models_declare(db_url):
    """A database upgraded from the baseline and a new one (made from the models) are the same."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from db.migrate import _config
    from db.models import Base

    engine = create_engine(normalise_url(db_url))
    with engine.connect() as c:
        command.upgrade(_config(c), "head")
        c.commit()
        assert compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata) == []


def test_a_postgres_url_without_a_driver_uses_psycopg_and_hides_its_password():
    assert normalise_url("postgresql://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    failed = _db_cli("upgrade", "--db", "postgresql://teacher:s3cret@127.0.0.1:1/school")
    assert failed.returncode == 2
    assert "s3cret" not in failed.stderr + failed.stdout and "***" in failed.stderr
