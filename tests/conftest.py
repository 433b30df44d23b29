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
