"""The video sources the Live class page can start the engine on.

Each source draws its own option widgets and returns the arguments for
``python -m engine live ... --db URL``. To add one (screen capture, the browser's camera),
write a :class:`LiveSource` and append it to :data:`SOURCES`; the page lists them in a selector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from dashboard import browser_camera, screen_source


@dataclass(frozen=True)
class LiveSource:
    key: str
    label: str
    options: Callable[[], list[str] | None]  # draws widgets; engine CLI args, or None when not ready
    help: str = ""


def _local_camera_options() -> list[str]:
    camera = st.number_input("Camera number", min_value=0, max_value=16, value=0, step=1, key="live_camera",
                             help="0 is the computer's first camera; a USB camera is usually 1.")
    return ["--camera", str(int(camera))]


LOCAL_CAMERA = LiveSource(
    key="camera", label="Local camera", options=_local_camera_options,
    help="A camera attached to the computer that runs the dashboard.",
)

# Online classes: the meeting's gallery view on this computer's screen (dashboard/screen_source.py).
SCREEN = LiveSource(key="screen", label=screen_source.LABEL, options=screen_source.options, help=screen_source.HELP)
# The camera of the device the page is open on (dashboard/browser_camera.py).
BROWSER_CAMERA = LiveSource(key="browser_camera", label=browser_camera.LABEL, options=browser_camera.options,
                            help=browser_camera.HELP)

# The selector's entries, in order.
SOURCES: list[LiveSource] = [LOCAL_CAMERA, SCREEN, BROWSER_CAMERA]
