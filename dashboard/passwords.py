"""Password hashing with bcrypt (salted, slow on purpose); no Streamlit here."""

from __future__ import annotations

import bcrypt

MIN_LENGTH = 8
MAX_BYTES = 72  # bcrypt's limit; longer passwords are refused rather than silently cut


def problem_with(password: str, confirm: str | None = None) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password needs at least {MIN_LENGTH} characters"
    if len(password.encode()) > MAX_BYTES:
        return f"the password can be at most {MAX_BYTES} bytes"
    if confirm is not None and confirm != password:
        return "the two passwords differ"
    return None


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # a malformed stored hash or an over-long password: no match
        return False
