"""Where the dashboard finds its database and keeps uploads: command-line arguments given to
the Streamlit script (``python -m dashboard --db URL`` passes them on) win over environment
variables, which win over the defaults. ``--ray ADDRESS`` (``$CLASSROOM_RAY``): uploads are
analysed on that Ray cluster (``python -m engine batch FILE --ray ADDRESS``) instead of by an
engine process on the dashboard's machine."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from db.connection import DEFAULT_URL, ENV_DB

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
ENV_UPLOADS = "CLASSROOM_UPLOADS"
ENV_RAY = "CLASSROOM_RAY"
ENV_MAX_UPLOAD = "CLASSROOM_MAX_UPLOAD_MB"
# Streamlit keeps an upload in the server's memory until its session ends: the default fits a
# lecture recording without letting three uploads take the machine's memory.
MAX_UPLOAD_MB = 1024


def max_upload_mb(environ: Mapping[str, str] | None = None) -> int:
    """``$CLASSROOM_MAX_UPLOAD_MB`` when it is a positive whole number, else :data:`MAX_UPLOAD_MB`."""
    value = (os.environ if environ is None else environ).get(ENV_MAX_UPLOAD, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else MAX_UPLOAD_MB


@dataclass(frozen=True)
class Settings:
    db_url: str
    uploads_dir: Path
    models_dir: Path = MODELS_DIR
    max_upload_mb: int = MAX_UPLOAD_MB  # load_settings: $CLASSROOM_MAX_UPLOAD_MB
    ray_address: str | None = None  # local | auto | HOST:PORT; None: one engine subprocess per upload


def absolute_db_url(url: str, cwd: Path | None = None) -> str:
    """A relative SQLite path made absolute, so the engine subprocess (run from the
    repository root) writes the same file the dashboard reads."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite:///:memory:":
        return url
    path = Path(url.removeprefix(prefix)).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return prefix + str(path.resolve())


def sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        return Path(url.removeprefix(prefix))
    return None


def default_uploads_dir(db_url: str) -> Path:
    """``uploads/`` beside a SQLite file; for a server database, in the working folder."""
    path = sqlite_path(db_url)
    return (path.parent if path else Path.cwd()) / "uploads"


def script_arguments(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--db")
    ap.add_argument("--uploads")
    ap.add_argument("--ray")
    args, _ = ap.parse_known_args(list(argv))
    return args


def load_settings(argv: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    args = script_arguments(argv)
    db_url = absolute_db_url(args.db or env.get(ENV_DB) or DEFAULT_URL)
    uploads = args.uploads or env.get(ENV_UPLOADS)
    return Settings(db_url=db_url, uploads_dir=Path(uploads).resolve() if uploads else default_uploads_dir(db_url),
                    ray_address=args.ray or env.get(ENV_RAY) or None, max_upload_mb=max_upload_mb(env))
