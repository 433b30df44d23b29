"""The Live class page's "Screen (online class)" source: the meeting window's gallery view on
this computer's screen, a whole monitor or a rectangle of it.

The engine captures the screen of the computer the dashboard runs on (it is the dashboard's
subprocess), so this works when the teacher runs the dashboard on the computer that shows the
meeting. Monitors are listed with ``mss`` here (the dashboard does not import the engine).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import cv2
import numpy as np
import streamlit as st

THUMB_WIDTH = 640


@dataclass(frozen=True)
class ScreenMonitor:
    number: int  # mss numbering: 1, 2, ... ; 0 is all monitors together
    left: int
    top: int
    width: int
    height: int

    @property
    def label(self) -> str:
        what = "All monitors together" if self.number == 0 else f"Monitor {self.number}"
        return f"{what} ({self.width}×{self.height})"


class NoScreen(Exception):
    """No screen to capture on this computer, with the reason in words."""


def _mss():
    import mss

    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise NoScreen("no screen to capture: the dashboard runs without a display ($DISPLAY is not set), "
                       "e.g. on a server; run it on the computer that shows the meeting")
    try:
        return mss.MSS()
    except mss.ScreenShotError as exc:
        raise NoScreen(f"no screen to capture: cannot connect to the display ({exc})") from None


def monitors() -> list[ScreenMonitor]:
    with _mss() as sct:
        return [ScreenMonitor(i, m["left"], m["top"], m["width"], m["height"]) for i, m in enumerate(sct.monitors)]


def thumbnail(monitor: ScreenMonitor, region: tuple[int, int, int, int] | None) -> np.ndarray:
    """The monitor as it looks now, scaled down, with the region outlined (RGB for st.image)."""
    with _mss() as sct:
        shot = np.asarray(sct.grab({"left": monitor.left, "top": monitor.top, "width": monitor.width,
                                    "height": monitor.height}))
    image = cv2.cvtColor(shot, cv2.COLOR_BGRA2RGB)
    scale = min(1.0, THUMB_WIDTH / image.shape[1])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if region is not None:
        x, y, w, h = (round(v * scale) for v in region)
        cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), (255, 64, 64), 2)
    return image


def region_problem(region: tuple[int, int, int, int], monitor: ScreenMonitor) -> str | None:
    x, y, w, h = region
    if w <= 0 or h <= 0:
        return "The rectangle needs a width and a height above 0."
    if x + w > monitor.width or y + h > monitor.height:
        return (f"The rectangle reaches outside the monitor ({monitor.width}×{monitor.height}): "
                f"x + width must be at most {monitor.width} and y + height at most {monitor.height}.")
    return None


def options() -> list[str] | None:
    """The source's widgets on the Live class page; the engine's arguments, or None when not ready."""
    try:
        found = monitors()
    except NoScreen as problem:
        st.warning(f"{problem}.", icon=":material/desktop_access_disabled:")
        return None
    choices = found[1:] + found[:1] if len(found) > 2 else found[1:]  # "all together" only with 2+ monitors
    monitor = st.selectbox("Monitor", choices, format_func=lambda m: m.label, key="live_screen_monitor",
                           help="The monitor that shows the meeting's gallery view.")
    region = None
    if st.checkbox("Only a part of the screen", key="live_screen_part",
                   help="Draw the engine's attention to the meeting's gallery: fewer pixels, faster analysis, "
                        "and nothing else on the screen is looked at."):
        cols = st.columns(4)
        x = cols[0].number_input("x", 0, monitor.width - 1, 0, key="live_screen_x")
        y = cols[1].number_input("y", 0, monitor.height - 1, 0, key="live_screen_y")
        w = cols[2].number_input("width", 1, monitor.width, monitor.width, key="live_screen_w")
        h = cols[3].number_input("height", 1, monitor.height, monitor.height, key="live_screen_h")
        region = (int(x), int(y), int(w), int(h))
        problem = region_problem(region, monitor)
        if problem:
            st.error(problem, icon=":material/crop_free:")
            return None
    if st.toggle("Show what will be analysed", key="live_screen_preview"):
        try:
            st.image(thumbnail(monitor, region), caption="The screen now; the red frame is the part analysed.")
        except NoScreen as problem:
            st.warning(f"{problem}.", icon=":material/desktop_access_disabled:")
    args = ["--screen", "--monitor", str(monitor.number)]
    return args + (["--region", ",".join(map(str, region))] if region else [])


LABEL = "Screen (online class)"
HELP = ("For Zoom, Meet or Teams: show the meeting in gallery view on this computer, then pick its monitor "
        "(or just the gallery's rectangle). The picture is analysed as it comes; no video is saved.")
