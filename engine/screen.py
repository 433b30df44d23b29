"""The screen as a video source: a whole monitor or a rectangle of it, captured with ``mss``.

An online class reaches the teacher as the meeting app's gallery view on their own screen,
so "live" for Zoom / Meet / Teams means analysing that picture: pick the monitor the meeting
window is on, or just the rectangle of its gallery.

Frames are grabbed at the analysis rate only (a screen has no frame rate of its own; a grab
costs a few ms). When the rest of the pipeline is slower than that rate, missed slots are
skipped rather than queued, so what is analysed is always what is on screen now.
Media time is seconds since the capture started; wall time is UTC at the grab.

A minimised meeting window is not an error: the screen still gives pictures, they just show
no faces, which the pipeline records as absence.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from engine.sources import LIVE_RETRY_READS, LIVE_RETRY_SECONDS, Frame, Source, SourceError, SourceInfo, utcnow


class ScreenError(SourceError):
    """The screen cannot be captured as asked (no display, bad monitor or region)."""


@dataclass(frozen=True)
class Region:
    """A rectangle in pixels, relative to the top-left corner of the chosen monitor."""

    x: int
    y: int
    w: int
    h: int

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


@dataclass(frozen=True)
class Monitor:
    """One monitor as ``mss`` numbers them: 1, 2, ... are the monitors, 0 is all of them together."""

    number: int
    left: int
    top: int
    width: int
    height: int

    def __str__(self) -> str:
        what = "all monitors" if self.number == 0 else f"monitor {self.number}"
        return f"{what} ({self.width}x{self.height} at {self.left},{self.top})"


def parse_region(text: str) -> Region:
    """``"x,y,w,h"`` (pixels, relative to the monitor) -> :class:`Region`."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ScreenError(f"region must be x,y,w,h in whole pixels (e.g. 0,0,1280,720), not {text!r}") from None
    if w <= 0 or h <= 0:
        raise ScreenError(f"region {text!r} has no area: width and height must be above 0")
    if x < 0 or y < 0:
        raise ScreenError(f"region {text!r} starts outside the monitor: x and y must be 0 or more")
    return Region(x, y, w, h)


def _check_display() -> None:
    """Fail early, in words, where there is no screen (a headless server, an SSH session)."""
    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY"):
        return
    if os.environ.get("WAYLAND_DISPLAY"):
        raise ScreenError("no screen to capture: this is a Wayland session without XWayland ($DISPLAY is not set); "
                          "log in with an X11 session, or start the meeting app under XWayland")
    raise ScreenError("no screen to capture: $DISPLAY is not set (a headless server has no screen); run the engine "
                      "on the computer that shows the meeting, or use --camera / a recording instead")


def _open_mss():
    import mss  # imported here so the rest of the engine runs where mss or X libraries are missing

    _check_display()
    try:
        return mss.MSS()
    except mss.ScreenShotError as exc:
        where = os.environ.get("DISPLAY", "the desktop")
        raise ScreenError(f"no screen to capture: cannot connect to display {where} ({exc})") from None


def list_monitors() -> list[Monitor]:
    """The monitors this machine can capture; raises :class:`ScreenError` when there is no screen."""
    with _open_mss() as sct:
        return [Monitor(i, m["left"], m["top"], m["width"], m["height"]) for i, m in enumerate(sct.monitors)]


def capture_area(monitors: list[Monitor], monitor: int, region: Region | None) -> dict:
    """The absolute rectangle to grab (mss's ``{"left", "top", "width", "height"}``), checked
    against the monitor so a wrong number or a region off the screen is a clear error."""
    if not 0 <= monitor < len(monitors):
        have = ", ".join(str(m.number) for m in monitors[1:]) or "none"
        raise ScreenError(f"no monitor {monitor}: this screen has monitors {have} (0 = all together)")
    m = monitors[monitor]
    if region is None:
        return {"left": m.left, "top": m.top, "width": m.width, "height": m.height}
    if region.x + region.w > m.width or region.y + region.h > m.height:
        raise ScreenError(f"region {region} (x,y,w,h) reaches outside {m}; "
                          f"it must fit in 0,0,{m.width},{m.height}")
    return {"left": m.left + region.x, "top": m.top + region.y, "width": region.w, "height": region.h}


class ScreenSource(Source):
    """A monitor (``monitor``: 1 = first, 0 = all together) or a ``region`` of it, grabbed ``fps``
    times a second."""

    def __init__(self, fps: float, monitor: int = 1, region: Region | str | None = None):
        super().__init__(fps)
        if isinstance(region, str):
            region = parse_region(region)
        self.monitor, self.region = monitor, region
        self.area = capture_area(list_monitors(), monitor, region)
        first = self._grab_once()
        where = f"screen {monitor}" + (f" region {region}" if region else "")
        self.info = SourceInfo(kind="screen", name=where, width=first.shape[1], height=first.shape[0],
                               duration=None, native_fps=None, live=True)

    def _grab_once(self) -> np.ndarray:
        import mss

        with _open_mss() as sct:
            try:
                return _to_bgr(sct.grab(self.area))
            except mss.ScreenShotError as exc:
                raise ScreenError(f"the screen cannot be captured ({exc})") from None

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        period = 1.0 / self.fps
        slot, n_out, failures, first_failure = 0, 0, 0, 0.0
        sct = None  # the X connection, opened in the thread that iterates (mss handles are per thread)
        try:
            while not self.stopping():
                wait = start + slot * period - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                t = time.monotonic() - start
                try:
                    sct = sct or _open_mss()
                    image = _to_bgr(sct.grab(self.area))
                # mss reports a broken X connection as ScreenShotError, or (10.2) as a failed
                # assert inside its XCB layer; either way: reconnect and retry for a while.
                except Exception as exc:  # noqa: BLE001
                    now = time.monotonic()
                    if failures == 0:
                        first_failure = now
                    failures += 1
                    if sct is not None:
                        _close_quietly(sct)
                        sct = None
                    if failures >= LIVE_RETRY_READS and now - first_failure >= LIVE_RETRY_SECONDS:
                        self.lost = True
                        reason = str(exc) or type(exc).__name__
                        self.end_note = (f"the screen stopped giving pictures at {t:.1f} s "
                                         f"(display closed or resolution changed: {reason})")
                        return
                    time.sleep(0.1)
                    continue
                failures = 0
                yield Frame(n_out, round(t, 6), utcnow(), image)
                n_out += 1
                # Next slot strictly after now: a slow consumer skips frames instead of queueing them.
                slot = max(slot + 1, int((time.monotonic() - start) / period) + 1)
        finally:
            if sct is not None:
                _close_quietly(sct)


def _close_quietly(sct) -> None:
    try:
        sct.close()
    except Exception:  # noqa: BLE001 - closing a dead connection may fail; nothing is left to free
        pass


def _to_bgr(shot) -> np.ndarray:
    """mss gives BGRA rows; the engine works on contiguous BGR."""
    return cv2.cvtColor(np.asarray(shot), cv2.COLOR_BGRA2BGR)
