"""Accepting an uploaded recording: the extension is checked, the bytes are saved under a
generated name (never the uploader's), and OpenCV must be able to open and read it."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class UploadRejected(Exception):
    """Not a video we can analyse; the message says why, for the teacher."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float | None:
        return self.frames / self.fps if self.fps > 0 and self.frames > 0 else None


def check_extension(name: str) -> str:
    ext = Path(name).suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise UploadRejected(f"{name!r} is not a video file we accept ({', '.join(VIDEO_EXTENSIONS)})")
    return ext


def probe_video(path: Path) -> VideoInfo:
    """Open the file with OpenCV and decode one frame; raises UploadRejected otherwise."""
    if path.stat().st_size == 0:  # OpenCV would only say it cannot open it
        raise UploadRejected("the file is empty (0 bytes); choose the recording again")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UploadRejected("the file's content is not a video OpenCV can open")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise UploadRejected("the video opens but no frame could be decoded (damaged or unsupported codec)")
        return VideoInfo(
            frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            width=frame.shape[1], height=frame.shape[0],
        )
    finally:
        cap.release()


def content_sha256(stream: BinaryIO) -> str:
    """SHA-256 of the upload's bytes, as the engine records it for the session
    (``engine.recorder.file_sha256``): the same recording is found again by it."""
    stream.seek(0)
    try:
        return hashlib.file_digest(stream, "sha256").hexdigest()
    finally:
        stream.seek(0)


def save_upload(stream: BinaryIO, original_name: str, uploads_dir: Path) -> tuple[Path, VideoInfo]:
    """Store an upload as ``<uuid><ext>`` in ``uploads_dir`` after checking it; a rejected
    file is deleted again. Either way, Streamlit's copy in the server's memory is dropped."""
    try:
        ext = check_extension(original_name)
        uploads_dir.mkdir(parents=True, exist_ok=True)
        target = uploads_dir / f"{uuid.uuid4().hex}{ext}"
        with target.open("wb") as out:
            shutil.copyfileobj(stream, out, length=1 << 20)
    finally:
        release_from_memory(stream)
    try:
        return target, probe_video(target)
    except UploadRejected:
        target.unlink(missing_ok=True)
        raise


def release_from_memory(upload) -> None:
    """Streamlit keeps an uploaded file in the server's memory until its session ends (or the user
    removes it from the uploader): once it is on disk, or refused, drop Streamlit's copy. Nothing
    for another kind of stream, or outside a Streamlit run."""
    file_id = getattr(upload, "file_id", None)
    if not file_id:
        return
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None and ctx.uploaded_file_mgr is not None:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, file_id)


def remove_kept_recordings(sources: Iterable[str | None], uploads_dir: Path) -> int:
    """After an erasure: delete the recordings of erased sessions that were kept in ``uploads_dir``
    ("keep the recording"); how many. A source anywhere else on the server (a lecture analysed
    from a terminal, a camera) is not ours to delete."""
    folder = uploads_dir.resolve()
    removed = 0
    for source in sources:
        if not source:
            continue
        path = Path(source).resolve()
        if path.parent == folder and path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
