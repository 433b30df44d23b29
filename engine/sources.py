"""Where frames come from: video files, cameras, stream URLs, still images, image folders.

Every source yields :class:`Frame` objects sampled at the analysis rate, so the cost of the
rest of the pipeline follows the analysis fps, not the camera's: files and cameras ``grab()``
every frame (cheap: no colour conversion, no copy) and ``retrieve()`` only the sampled ones.
A new kind of source (the screen, say) is one more :class:`Source` subclass.
"""

from __future__ import annotations

import abc
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# A live source that fails this many reads in a row over this long is gone, not hiccuping.
LIVE_RETRY_READS = 20
LIVE_RETRY_SECONDS = 2.0


class SourceError(Exception):
    """A source that cannot be opened or read at all (bad input)."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Frame:
    index: int  # position among the analysed frames, from 0
    t: float  # media seconds from the start of the source
    wall_time: datetime  # naive UTC
    image: np.ndarray  # BGR uint8


@dataclass(frozen=True)
class SourceInfo:
    kind: str  # video | camera | stream | image | folder | screen
    name: str  # what the session records as its source: resolved path, "camera 0", URL
    width: int
    height: int
    duration: float | None  # media seconds; None for live sources
    native_fps: float | None
    live: bool


class Source(abc.ABC):
    """An iterable of sampled frames. After iteration, :attr:`end_note` says why it ended
    early (truncated file, unplugged camera) or is empty when it ran to its natural end."""

    info: SourceInfo
    end_note: str = ""
    # True when the source stopped by a fault (unplugged camera), not by reaching its end.
    lost: bool = False

    def __init__(self, fps: float):
        if fps <= 0:
            raise SourceError("analysis fps must be above 0")
        self.fps = fps
        self._stop: threading.Event | None = None

    @abc.abstractmethod
    def frames(self) -> Iterator[Frame]: ...

    def stop_on(self, event: threading.Event) -> None:
        """End :meth:`frames` once ``event`` is set, also while waiting for a picture that does not
        come: a stop must not wait for a camera, a stream or a browser tab that sent nothing more
        (the engine's stop handler sets it; past its grace the dashboard kills the engine, and the
        last batch is lost)."""
        self._stop = event

    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def close(self) -> None:  # noqa: B027 - sources without resources need nothing
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _valid_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0.5 <= fps <= 1000


class VideoFileSource(Source):
    """A video file, read front to back; a truncated or corrupt file yields what is readable."""

    def __init__(self, path: str | Path, fps: float):
        super().__init__(fps)
        p = Path(path).expanduser()
        if not p.exists():
            raise SourceError(f"file not found: {p}")
        if p.is_dir():
            raise SourceError(f"{p} is a folder; give a video file")
        if p.stat().st_size == 0:
            raise SourceError(f"file is empty: {p}")
        self.path = p.resolve()
        self.cap = cv2.VideoCapture(str(self.path))
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"{p} is not a readable video (not a video, or damaged so its index is missing)")
        native = self.cap.get(cv2.CAP_PROP_FPS)
        count = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.native_fps = native if _valid_fps(native) else None
        self.frame_count = int(count) if math.isfinite(count) and count > 0 else None
        duration = self.frame_count / self.native_fps if self.frame_count and self.native_fps else None
        ok, first = self.cap.read()
        if not ok or first is None:
            self.cap.release()
            raise SourceError(f"{p} has no readable frame (not a video, or damaged)")
        # Reopen rather than seek: seeking is approximate for some codecs and the first frame matters.
        self.cap.release()
        self.cap = cv2.VideoCapture(str(self.path))
        self.info = SourceInfo(
            kind="video", name=str(self.path), width=first.shape[1], height=first.shape[0],
            duration=duration, native_fps=self.native_fps, live=False,
        )
        self.start_wall = utcnow()

    def _media_time(self, i: int) -> float:
        ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        # Some containers report 0 for every frame; the frame index is then the only clock.
        if math.isfinite(ms) and (ms > 0 or i == 0):
            return round(ms / 1000.0, 6)
        return round(i / (self.native_fps or 25.0), 6)

    def frames(self) -> Iterator[Frame]:
        last_slot, n_out, i, bad_in_row, t = -1, 0, 0, 0, 0.0
        while True:
            if not self.cap.grab():
                break
            t = self._media_time(i)
            i += 1
            slot = math.floor(t * self.fps + 1e-6)
            if slot <= last_slot:
                continue
            ok, image = self.cap.retrieve()
            if not ok or image is None:
                bad_in_row += 1
                if bad_in_row > 10:
                    break
                continue
            bad_in_row, last_slot = 0, slot
            yield Frame(n_out, t, self.start_wall + timedelta(seconds=t), image)
            n_out += 1
        self.last_t = t
        duration = self.info.duration
        frame_step = 1.0 / (self.native_fps or 25.0)
        if duration is not None and t + frame_step < duration - max(3 * frame_step, 0.02 * duration):
            self.end_note = (
                f"video stopped being readable at {t:.1f} s of {duration:.1f} s "
                f"(file truncated or corrupt); the readable part was analysed"
            )

    def close(self) -> None:
        self.cap.release()


class LiveSource(Source):
    """A camera (index) or a stream URL: media time is wall-clock time since the start.

    A local video file given as the stream (a recorded lecture replayed as if live, or a file
    standing in for a camera) is played at its own frame rate, as ``ffmpeg -re`` does: OpenCV
    would otherwise decode it as fast as it can, the whole file would fall inside a few analysis
    slots and be over before the first faces are confirmed."""

    def __init__(self, spec: int | str, fps: float, kind: str | None = None):
        super().__init__(fps)
        self.spec = spec
        kind = kind or ("camera" if isinstance(spec, int) else "stream")
        name = f"camera {spec}" if kind == "camera" else str(spec)
        self.cap = cv2.VideoCapture(spec)
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"{name} cannot be opened (no such camera, or it is in use)" if kind == "camera"
                              else f"stream {spec} cannot be opened")
        ok, first = self.cap.read()
        if not ok or first is None:
            self.cap.release()
            raise SourceError(f"{name} opened but gives no picture")
        native = self.cap.get(cv2.CAP_PROP_FPS)
        self.info = SourceInfo(
            kind=kind, name=name, width=first.shape[1], height=first.shape[0], duration=None,
            native_fps=native if _valid_fps(native) else None, live=True,
        )
        local_file = isinstance(spec, str) and Path(spec).expanduser().is_file()
        self.frame_period = 1.0 / native if local_file and _valid_fps(native) else 0.0

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        last_slot, n_out, failures, first_failure, grabbed = -1, 0, 0, 0.0, 0
        while not self.stopping():
            if self.frame_period:  # a local file: its next frame is due at its own time
                grabbed += 1
                time.sleep(max(0.0, start + grabbed * self.frame_period - time.monotonic()))
            if not self.cap.grab():
                now = time.monotonic()
                if failures == 0:
                    first_failure = now
                failures += 1
                if failures >= LIVE_RETRY_READS and now - first_failure >= LIVE_RETRY_SECONDS:
                    self._lost(now - start)
                    return
                time.sleep(0.1)
                continue
            failures = 0
            t = time.monotonic() - start
            slot = math.floor(t * self.fps)
            if slot <= last_slot:
                continue
            ok, image = self.cap.retrieve()
            if not ok or image is None:
                continue
            last_slot = slot
            yield Frame(n_out, t, utcnow(), image)
            n_out += 1

    def _lost(self, t: float) -> None:
        if self.info.kind == "camera":
            self.lost = True
            self.end_note = f"{self.info.name} stopped delivering frames at {t:.1f} s (unplugged or taken by another program)"
        else:
            self.end_note = f"stream ended at {t:.1f} s"

    def close(self) -> None:
        self.cap.release()


class ImageSource(Source):
    """One still image: one frame at t = 0."""

    def __init__(self, path: str | Path, fps: float):
        super().__init__(fps)
        p = Path(path).expanduser()
        if not p.exists():
            raise SourceError(f"file not found: {p}")
        if p.stat().st_size == 0:
            raise SourceError(f"file is empty: {p}")
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{p} is not a readable image")
        self.image = image
        self.info = SourceInfo(kind="image", name=str(p.resolve()), width=image.shape[1], height=image.shape[0],
                               duration=0.0, native_fps=None, live=False)

    def frames(self) -> Iterator[Frame]:
        yield Frame(0, 0.0, utcnow(), self.image)


class FolderSource(Source):
    """A folder of images in name order, one frame each, spaced 1/fps apart in media time."""

    def __init__(self, path: str | Path, fps: float):
        super().__init__(fps)
        p = Path(path).expanduser()
        self.files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not self.files:
            raise SourceError(f"folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        first = next((img for img in (cv2.imread(str(f)) for f in self.files[:20]) if img is not None), None)
        if first is None:
            raise SourceError(f"folder {p}: the first images are not readable")
        self.info = SourceInfo(kind="folder", name=str(p.resolve()), width=first.shape[1], height=first.shape[0],
                               duration=len(self.files) / fps, native_fps=None, live=False)
        self.start_wall = utcnow()

    def frames(self) -> Iterator[Frame]:
        skipped = 0
        for i, f in enumerate(self.files):
            image = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if image is None:
                skipped += 1
                continue
            t = i / self.fps
            yield Frame(i - skipped, t, self.start_wall + timedelta(seconds=t), image)
        if skipped:
            self.end_note = f"{skipped} of {len(self.files)} images were not readable and were skipped"


def scaled_to_fit(frame: Frame, max_side: int) -> tuple[Frame, float]:
    """``frame`` with its longer side at most ``max_side`` (0: as it is), and how many source
    pixels one pixel of the returned picture spans (1.0 when it was small enough)."""
    h, w = frame.image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return frame, 1.0
    k = max(h, w) / max_side
    size = (max(1, round(w / k)), max(1, round(h / k)))
    # INTER_AREA averages the pixels it drops: a small face keeps its shading instead of aliasing.
    image = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
    return Frame(frame.index, frame.t, frame.wall_time, image), k


def open_source(spec: str | int, fps: float) -> Source:
    """Pick the source class from what ``spec`` looks like: a camera index, a URL, a folder,
    an image or (anything else) a video file."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return LiveSource(int(spec), fps, kind="camera")
    spec = str(spec)
    if "://" in spec:
        return LiveSource(spec, fps, kind="stream")
    p = Path(spec).expanduser()
    if p.is_dir():
        return FolderSource(p, fps)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(p, fps)
    return VideoFileSource(p, fps)
