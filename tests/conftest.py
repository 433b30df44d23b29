"""Fixtures shared by every area's tests: where the repository and the FER2013 copy are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
FER_CSV = REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def fer_csv() -> Path:
    """The FER2013 CSV in ../shared; tests that need it skip when it is not beside the repo."""
    if not FER_CSV.exists():
        pytest.skip(f"FER2013 data not found at {FER_CSV} (clone the repo with ../shared beside it)")
    return FER_CSV


@pytest.fixture(scope="session")
def fer_data(fer_csv):
    from training.data import load

    return load(fer_csv)


# -- databases: every test that takes ``db_url`` runs on SQLite and on a real PostgreSQL server --
@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server for the session (tests/pg_server.py), or a skip that says
    why there is none (no binaries: ``make test`` installs Debian's postgresql package)."""
    from pg_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server for this test: {exc}")
    yield server
    server.stop()


_databases = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database URL: a SQLite file, or a new database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("postgres")
    return server.new_database(f"test_{next(_databases)}")
