"""The live view on the Live class page: the engine's latest analysed frame with boxes and labels.

The page starts the engine with ``--preview PATH`` (engine/preview.py writes the annotated
frame there twice a second, replacing it whole, and deletes it when it stops); the page's
monitor shows that file each time it refreshes. One file per browser tab.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import streamlit as st

VIEW_FOLDER = "live-view"
STATE_KEY = "live_view_file"
STALE_S = 10.0  # a view older than this is not "live": the engine is busy, stuck or gone


def preview_path(uploads_dir: Path) -> Path:
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = uuid.uuid4().hex[:12]
    return uploads_dir / VIEW_FOLDER / f"{st.session_state[STATE_KEY]}.jpg"


def engine_args(uploads_dir: Path) -> list[str]:
    path = preview_path(uploads_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a view left by a crashed engine is not this class
    return ["--preview", str(path)]


def show(uploads_dir: Path, width: int | None = None, path: Path | None = None) -> None:
    """The latest view, or a word on why there is none. ``path``: the class's own view file (its
    engine's ``--preview``), so any tab shows it, not only the one that started the class."""
    path = path or preview_path(uploads_dir)
    try:
        picture = path.read_bytes()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        st.caption("The live view appears when the engine has analysed its first frame.")
        return
    if not picture:
        return
    note = f"Live view, {age:.1f} s old" if age < STALE_S else f"Live view from {age:.0f} s ago (no newer frame)"
    st.image(picture, caption=note, width=width or "stretch")
