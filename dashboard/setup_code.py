"""The one-time setup code that the first admin account needs. ``python -m dashboard`` (so ``make
run``) prints a fresh code in its terminal when the database has no account; the page that
creates the admin asks for it, so a stranger who reaches the page first cannot claim the admin.

Only the code's SHA-256 is kept, in a file readable by its owner only (0600): beside a SQLite
database (``classroom.db.setup-code``), or for a server database in the uploads folder. The file is
deleted once the admin exists, and the page refuses every code from then on. No Streamlit here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from dashboard.config import Settings, sqlite_path

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a terminal and typed
GROUPS, GROUP_LEN = 3, 4  # XXXX-XXXX-XXXX: 60 random bits


def code_path(settings: Settings) -> Path:
    db_file = sqlite_path(settings.db_url)
    if db_file is not None:
        return db_file.with_name(db_file.name + ".setup-code")
    tag = hashlib.sha256(settings.db_url.encode()).hexdigest()[:12]  # one file per server database
    return settings.uploads_dir / f".setup-code-{tag}"


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _digest(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def issue(path: Path) -> str:
    """A new random code; its hash replaces any earlier one in ``path`` (mode 0600)."""
    code = "-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LEN)) for _ in range(GROUPS))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (_digest(code) + "\n").encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)  # atomic: a reader sees the old hash or the new one
    return code


def ensure(path: Path) -> str | None:
    """Issue a code when there is none (the dashboard was started some other way than ``python -m
    dashboard``, e.g. ``streamlit run``); returns it then, to be printed, else None."""
    return None if path.exists() else issue(path)


def check(path: Path, code: str) -> bool:
    try:
        stored = path.read_text().strip()
    except OSError:
        return False
    return bool(stored) and bool(_normalise(code)) and hmac.compare_digest(stored, _digest(code))


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def announce(code: str) -> str:
    """The lines printed in the terminal."""
    return (f"No account exists yet. To create the admin account, open the dashboard and enter this one-time "
            f"setup code:\n\n    {code}\n")
