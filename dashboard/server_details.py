"""What the pages may say about the server itself (the database URL, the upload folder, where a
recording was stored): teachers never see it; admins see it masked (no password, the server
account's home folder written as ``~``)."""

from __future__ import annotations

from pathlib import Path, PurePath

from db.connection import safe_url


def _short(text: str) -> str:
    home = str(Path.home())
    return text.replace(home, "~") if home not in ("", "/") else text


def masked_url(url: str) -> str:
    """A database URL as an admin sees it: password hidden, home folder shortened."""
    return _short(safe_url(url))


def masked_path(path: str | PurePath) -> str:
    return _short(str(path))


def source_label(source: str, is_admin: bool) -> str:
    """A session's source (a stored file's full path, a camera, a feed): the admin's masked path,
    else only its last part (the file's name), never the folder it lies in on the server."""
    return masked_path(source) if is_admin else PurePath(source).name or source


def without_folder(text: str, folder: str | PurePath, is_admin: bool) -> str:
    """An engine's message about a file in ``folder`` (the uploads): an admin reads it masked, a
    teacher without the folder, so ``/srv/uploads/ab12.mp4`` reads ``ab12.mp4``."""
    if is_admin:
        return masked_path(text)
    return text.replace(f"{folder}/", "").replace(str(folder), "the upload folder")
