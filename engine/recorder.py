"""Writing a session into the database: batched, transactional, and never holding the lock.

Everything a frame produces (new students, observations, alert openings and closings) waits
in memory and goes to the database in one transaction every ``flush_seconds`` of media time
or ``flush_rows`` observations (``db.repository.write_batch`` commits it together with the
session's progress counters). So a crash loses at most the batch in flight and never leaves
half of one; and between flushes the engine holds no write lock, so the dashboard (or a
teacher renaming a student) is never blocked by a running analysis.

A batch the database cannot take *for now* (a SQLite write lock held past the busy timeout,
a PostgreSQL server restarting or out of reach) is rolled back whole and tried again, with
growing waits, for up to ``[recorder] retry_s``; each wait is reported through ``on_wait``
(the progress bar's line) and the total is put in the session's note. Anything else (a
constraint broken, a read-only file) fails at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db import repository as repo
from db.models import SessionStatus
from engine.attention import Attention
from engine.config import RecorderConfig
from engine.detect import Face
from engine.quality import FaceQuality
from engine.scoring import AlertEvent, Scored
from engine.sources import SourceInfo
from training.labels import EMOTIONS


def file_sha256(info: SourceInfo) -> str | None:
    """SHA-256 of a recording's (or a still picture's) bytes, for the dashboard's "already analysed"
    warning; None for live sources and folders. One extra read of the file per run."""
    if info.kind not in ("video", "image"):
        return None
    path = Path(info.name)
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class RecorderError(Exception):
    """The database refused a write (locked past the busy timeout, read-only, gone)."""


class Heartbeat:
    """Stamps the session every ``every_s`` wall seconds from a thread of its own, so that a
    session whose engine died (killed, crashed, power cut) can be told from one that is busy:
    batches stamp it too, but none comes while the model loads or a slow frame runs.
    ``db.repository.mark_running_as_interrupted`` reads the stamp."""

    def __init__(self, factory: sessionmaker, session_id: int, every_s: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(factory, session_id, every_s),
                                        name=f"heartbeat-{session_id}", daemon=True)
        self._thread.start()

    def _run(self, factory: sessionmaker, session_id: int, every_s: float) -> None:
        with factory() as s:
            while not self._stop.wait(every_s):
                try:
                    repo.heartbeat(s, session_id)
                except SQLAlchemyError:  # locked or away: the batches' retries report that; beat again later
                    s.rollback()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def is_transient(exc: BaseException) -> bool:
    """Whether waiting may cure the error: locks, and a server that is not answering."""
    if isinstance(exc, DisconnectionError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    if not isinstance(exc, OperationalError):
        return False
    low = str(getattr(exc, "orig", None) or exc).lower()
    return any(w in low for w in ("locked", "busy", "connection", "server closed", "terminating", "shutting down",
                                  "starting up", "could not receive", "could not send", "timeout"))


def describe_db_error(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    low = text.lower()
    if "locked" in low or "busy" in low:
        return f"the database is locked by another program (waited for it and gave up): {text}"
    if "readonly" in low or "read-only" in low or "permission" in low:
        return f"the database cannot be written (read-only file or folder): {text}"
    return f"database write failed: {text}"


@dataclass
class Recorder:
    """One session's writer. Student keys (from tracking/re-identification) become database
    students ("Student N", numbered in order of first appearance) at their first flush."""

    factory: sessionmaker
    cfg: RecorderConfig
    session_id: int | None = None
    observations_written: int = 0
    alerts_opened: int = 0
    _s: Session | None = None
    _student_ids: dict[int, int] = field(default_factory=dict)  # key -> students.id
    _labels: dict[int, str] = field(default_factory=dict)  # key -> "Student N"
    _new_keys: list[int] = field(default_factory=list)
    _rows: list[tuple[int, dict]] = field(default_factory=list)  # (student key, observation row)
    _alerts: list[AlertEvent] = field(default_factory=list)
    _open_alerts: dict[tuple[str, int | None], int] = field(default_factory=dict)  # -> alerts.id
    _last_flush_t: float = 0.0
    _heartbeat: Heartbeat | None = None
    on_wait: Callable[[str], None] = lambda message: None  # told of each wait for the database
    waited_s: float = 0.0  # wall seconds spent waiting for the database, all batches

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, info: SourceInfo, model_version: str, fps: float, title: str = "",
              course: str | None = None, emotions: bool = True) -> int:
        self._s = self.factory()
        digest = file_sha256(info)  # once, not on every retry of the insert

        def create():
            try:
                return repo.start_session(self._s, source=info.name, source_kind=info.kind,
                                          model_version=model_version, analysis_fps=fps, title=title, course=course,
                                          media_duration=info.duration, emotions=emotions,
                                          source_sha256=digest)
            except SQLAlchemyError as exc:
                self._s.rollback()
                raise RecorderError(describe_db_error(exc)) from exc

        self.session_id = self._retrying(create).id
        self._heartbeat = Heartbeat(self.factory, self.session_id, self.cfg.heartbeat_s)
        return self.session_id

    def finish(self, status: SessionStatus, note: str, video_seconds: float, frames: int, retry: bool = True) -> None:
        """Mark the session ended (closing its open alerts at ``video_seconds``); ``retry=False``
        tries once (marking a run failed because the database already failed it)."""
        s = self._session()
        self._stop_heartbeat()  # ended: a late stamp must not follow the final status

        def end():
            try:
                s.rollback()  # whatever a failed flush left behind
                repo.finish_session(s, self.session_id, status, note=note, video_seconds=video_seconds,
                                    frames_analyzed=frames)
            except SQLAlchemyError as exc:
                s.rollback()
                raise RecorderError(describe_db_error(exc)) from exc

        if retry:
            self._retrying(end)
        else:
            end()

    def close(self) -> None:
        self._stop_heartbeat()
        if self._s is not None:
            self._s.close()
            self._s = None

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    # -- per frame ---------------------------------------------------------------------------
    def label(self, key: int) -> str:
        """The student's label; a key not yet written gets the label it will have."""
        if key not in self._labels:
            self._labels[key] = f"Student {len(self._labels) + 1}"
            self._new_keys.append(key)
        return self._labels[key]

    def observe(self, t: float, wall_time: datetime, face: Face, scored: Scored, attention: Attention,
                quality: FaceQuality | None = None) -> None:
        self.label(scored.student)
        x, y, w, h = face.box
        probs = scored.probs if scored.probs is not None else [None] * len(EMOTIONS)  # None: attention-only
        row = {
            "t": float(t), "wall_time": wall_time,
            **{name: _opt(p) for name, p in zip(EMOTIONS, probs, strict=True)},
            "emotion": scored.emotion, "box_x": x, "box_y": y, "box_w": w, "box_h": h,
            "yaw": _opt(attention.yaw), "pitch": _opt(attention.pitch), "eye_openness": _opt(attention.eye_openness),
            "engagement": float(scored.engagement), "confusion": _opt(scored.confusion),
        }
        # The evidence behind the reading, and whether it counts (engine/quality.py); every row has
        # the same keys, as one batch is one multi-row INSERT.
        q = quality
        row.update(detector_score=None if q is None else q.score, blur=None if q is None else q.blur,
                   brightness=None if q is None else q.brightness, contrast=None if q is None else q.contrast,
                   readable=None if q is None else q.readable, unreadable_reason=None if q is None else q.reason)
        self._rows.append((scored.student, row))

    def alert(self, events: list[AlertEvent]) -> None:
        for e in events:
            if e.student is not None:
                self.label(e.student)
            self._alerts.append(e)

    def due(self, t: float) -> bool:
        return t - self._last_flush_t >= self.cfg.flush_seconds or len(self._rows) >= self.cfg.flush_rows

    def flush(self, video_seconds: float, frames: int) -> None:
        """Commit everything pending, or nothing of it (raises :class:`RecorderError`), waiting
        out a database that is locked or away for up to ``retry_s``."""
        self._retrying(lambda: self._write(video_seconds, frames))

    def _retrying(self, action: Callable[[], object]):
        started, wait, attempts = time.monotonic(), 0.5, 0
        while True:
            attempts += 1
            try:
                result = action()
            except RecorderError as exc:
                cause = exc.__cause__
                spent = time.monotonic() - started
                if cause is None or not is_transient(cause) or spent + wait > self.cfg.retry_s:
                    if attempts > 1:
                        raise RecorderError(f"{exc} (tried {attempts} times over {spent:.0f} s)") from cause
                    raise
                self.on_wait(f"database not answering ({describe_db_error(cause)}); "
                             f"trying again in {wait:g} s, {spent:.0f} s so far")
                time.sleep(wait)
                wait = min(2 * wait, 10.0)
                continue
            if attempts > 1:
                self.waited_s += time.monotonic() - started
            return result

    def _write(self, video_seconds: float, frames: int) -> None:
        s = self._session()
        try:
            new_ids = {}
            for key in self._new_keys:
                st = repo.add_student(s, self.session_id, track_id=key)
                new_ids[key] = st.id
                if st.label != self._labels[key]:  # another writer added students: keep the database's label
                    self._labels[key] = st.label
            ids = {**self._student_ids, **new_ids}
            opened: dict[tuple[str, int | None], int] = {}
            for e in self._alerts:
                slot = (e.kind, e.student)
                student_id = None if e.student is None else ids[e.student]
                if e.action == "open":
                    name = "The class" if e.student is None else self._labels[e.student]
                    opened[slot] = repo.open_alert(s, self.session_id, e.kind, e.t, e.text(name), student_id).id
                else:
                    alert_id = opened.pop(slot, None) or self._open_alerts.get(slot)
                    if alert_id is not None:
                        repo.close_alert(s, alert_id, e.t)
            repo.write_batch(s, self.session_id, [{"student_id": ids[k], **row} for k, row in self._rows],
                             video_seconds=video_seconds, frames_analyzed=frames)
        except SQLAlchemyError as exc:
            s.rollback()
            raise RecorderError(describe_db_error(exc)) from exc
        # Committed: now the in-memory state may move on.
        self._student_ids = ids
        for e in self._alerts:
            slot = (e.kind, e.student)
            if e.action == "open":
                self._open_alerts[slot] = opened.get(slot, self._open_alerts.get(slot))
                self.alerts_opened += 1
            else:
                self._open_alerts.pop(slot, None)
        self.observations_written += len(self._rows)
        self._new_keys, self._rows, self._alerts = [], [], []
        self._last_flush_t = video_seconds

    def drop_pending(self) -> None:
        """Forget the batch in flight (a second Ctrl-C while flushing): nothing of it is written."""
        keep = set(self._student_ids)
        self._labels = {k: v for k, v in self._labels.items() if k in keep}
        self._new_keys, self._rows, self._alerts = [], [], []

    @property
    def students_written(self) -> int:
        return len(self._student_ids)

    def _session(self) -> Session:
        if self._s is None or self.session_id is None:
            raise RuntimeError("Recorder.start() was not called")
        return self._s


def _opt(v: float | None) -> float | None:
    return None if v is None else float(v)
