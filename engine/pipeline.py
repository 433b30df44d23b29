"""The engine's run: source -> detect -> track -> re-identify -> classify + attention -> score
-> record, one analysed frame at a time.

:class:`FrameAnalyzer` is the per-frame analysis (no database, usable by benchmarks and
tests); :func:`run` adds the session around it: the database writer, progress bar, optional
annotated video / live preview, signal handling and the session's final status:

* a file read to its end: ``complete`` (a truncated file: ``complete`` with a note saying where
  it stopped);
* Ctrl-C / SIGTERM: the batch in flight is committed, then the session is ``interrupted``
  (a live class stopped this way is its normal end: ``complete``); a second signal while that
  happens drops the batch whole;
* a live camera that stops delivering frames: ``interrupted`` with the source's note;
* a database write that fails, or any other fault: ``failed`` with the reason, when the
  database still takes that.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
from sqlalchemy.exc import SQLAlchemyError

from db import connect
from db import repository as repo
from db.connection import DatabaseError, safe_url
from db.models import SessionStatus
from engine.align import model_inputs
from engine.annotate import AnnotatedVideo, marks_for
from engine.attention import AttentionEstimator
from engine.classify import ExpressionModel, PacedReader
from engine.config import EngineConfig
from engine.detect import FaceDetector
from engine.frame_faces import FrameFaces, StudentFace
from engine.quality import QualityJudge
from engine.quiet import native_stderr_silenced
from engine.recorder import Recorder, RecorderError
from engine.reid import StudentGallery
from engine.schedule import ScheduledDetector
from engine.scoring import AlertEvent, Scorer
from engine.sources import Frame, Source, scaled_to_fit
from engine.track import FaceTracker

ATTENTION_ONLY_VERSION = "attention-only (no expression model)"  # a session's model_version without emotions
STAGES = ("detect", "track", "reid", "classify", "attention", "quality", "score")
RUN_STAGES = ("decode", *STAGES, "record", "annotate")  # what run() times, in data-flow order


class PipelineError(Exception):
    """A run that could not start or had to stop, in words for the user."""


@dataclass
class FrameAnalyzer:
    """Per-frame analysis. ``timings`` accumulates seconds per stage (benchmarks read it).
    With ``[privacy] emotions = false`` (attention-only) ``model`` is None and never needed: no
    face is aligned for or read by the expression model, and the scores carry no emotion."""

    cfg: EngineConfig
    model: ExpressionModel | None
    detector_mode: str | None = None
    reid: bool = True
    # Live sources: wall seconds a frame may take ([sampling] frame_budget_s); None = no budget.
    budget_s: float | None = None
    still: bool = False  # still pictures (a photo, a folder of them): each searched whole, at every scale
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(RUN_STAGES, 0.0))

    def __post_init__(self):
        with native_stderr_silenced():
            self.faces = FaceDetector(self.cfg.detector, self.detector_mode)
            self.attention = AttentionEstimator(self.cfg.attention)
            self.faces.warm_up()
            self.attention.warm_up()
        self.detector = ScheduledDetector(self.faces, self.cfg.detector, self.still)
        self.tracker = FaceTracker(self.cfg.tracker, self.cfg.sampling.fps, self.still)
        self.gallery = StudentGallery() if self.reid else None
        self.quality = QualityJudge(self.cfg.quality, self.cfg.align)
        emotions = self.cfg.privacy.emotions
        self.scorer = Scorer(self.cfg.scoring, self.cfg.alerts, emotions=emotions)
        self._rest_s = 0.0  # the last frame's time after detection: what the budget keeps for it
        self.reader = None
        if emotions:
            if self.model is None:
                raise ValueError("emotions are on ([privacy] emotions = true) but no expression model was given")
            self.reader = PacedReader(self.model, self.cfg.classify.read_every_s, self.cfg.classify.flip_average,
                                      self.cfg.classify.max_reads_per_s)

    def analyse(self, frame: Frame) -> tuple[FrameFaces, list[AlertEvent]]:
        """The frame's faces, each stage's column added in turn (engine/frame_faces.py), and the
        alerts that opened or closed at it."""
        clock, tm, t, image = time.perf_counter, self.timings, frame.t, frame.image
        t0 = clock()
        deadline = t0 + self.budget_s - self._rest_s if self.budget_s else None
        found = self.detector.detect(image, t, deadline)
        t1 = clock()
        tracked = self.tracker.update(t, found)
        rows = FrameFaces(t, tuple(tf.face for tf in tracked)).with_columns(track=[tf.track for tf in tracked])
        t2 = clock()
        students = rows.track
        if self.gallery is not None and len(rows):
            students = self.gallery.assign_boxes(t, image, rows.track, rows.boxes, self.faces.cells)
        rows = rows.with_columns(student=students)
        t3 = clock()
        if self.reader is None:  # attention-only: the expression model is not run
            probs = [None] * len(rows)
        else:
            probs = list(self.reader.read(t, list(rows.student),
                                          lambda due: model_inputs(image, [rows.face[i] for i in due], self.cfg.align)))
        rows = rows.with_columns(probs=probs)
        t4 = clock()
        rows = rows.with_columns(attention=self.attention.estimate(t, image, rows.student, rows.face))
        t5 = clock()
        rows = rows.with_columns(quality=[self.quality.judge(image, f, a.yaw, a.pitch)
                                          for f, a in zip(rows.face, rows.attention, strict=True)])
        t6 = clock()
        scored, events = self.scorer.update(t, rows.readings())
        by_student = {s.student: s for s in scored}
        rows = rows.with_columns(scored=[by_student[s] for s in rows.student])
        t7 = clock()
        for stage, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True):
            tm[stage] += dt
        self._rest_s = t7 - t1
        return rows, events

    def finish(self, t: float) -> list[AlertEvent]:
        return self.scorer.finish(t)

    def close(self) -> None:
        self.faces.close()
        self.attention.close()


@dataclass(frozen=True)
class RunOptions:
    title: str = ""
    course: str | None = None
    detector: str | None = None  # auto | full | sliced; None = the config's
    annotate: Path | None = None  # annotated video of a file
    emoji: bool = False
    preview: Path | None = None  # live view JPEG
    progress: bool = True  # tqdm bar on stderr
    reid: bool = True
    # Told the new session's id as soon as its row exists: `engine batch` records each attempt, so
    # an attempt that a lost worker left "running" can be marked when its retry starts.
    on_session: Callable[[int], None] | None = None


@dataclass(frozen=True)
class RunSummary:
    session_id: int
    frames_analyzed: int
    video_seconds: float
    wall_seconds: float
    faces: int  # observations written
    students: int
    alerts: int
    status: str
    note: str
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean ms per analysed frame (benchmarks)

    def as_json(self) -> dict:
        """The CLI's ``--json`` object (DESIGN.md)."""
        return {"session_id": self.session_id, "frames_analyzed": self.frames_analyzed,
                "video_seconds": round(self.video_seconds, 3), "wall_seconds": round(self.wall_seconds, 3),
                "faces": self.faces, "students": self.students, "alerts": self.alerts}


class StopRequest:
    """Set by SIGINT/SIGTERM: the loop finishes its frame, commits and stops. A second signal
    raises KeyboardInterrupt at once (the batch in flight is then dropped whole)."""

    def __init__(self):
        self.event = threading.Event()
        self.signal_name = ""

    def __bool__(self) -> bool:
        return self.event.is_set()

    def _handler(self, signum, _frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def obey_admin_switch(cfg: EngineConfig, factory) -> EngineConfig:
    """``cfg`` with emotions off when the database's admin has switched them off (the dashboard's
    Users page, ``app_settings``): an engine started from a terminal obeys it too. The switch only
    ever turns emotions off; a database that cannot tell leaves the config as it is (the run then
    reports that database's trouble itself)."""
    if not cfg.privacy.emotions:
        return cfg
    try:
        with factory() as s:
            allowed = repo.emotions_enabled(s)
    except SQLAlchemyError:
        return cfg
    return cfg if allowed else cfg.replace("privacy", emotions=False)


def _close_abandoned_sessions(factory) -> None:
    """Sessions another engine left "running" when it died are marked interrupted as this one
    starts (a best effort: a database that is locked now is the recorder's business)."""
    try:
        with factory() as s:
            repo.mark_running_as_interrupted(s)
    except SQLAlchemyError:
        pass


@contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """OpenCV kept to ``n`` threads meanwhile, then as it was.

    Why one: OpenCV's own thread pool splits each call over the cores, but the engine's OpenCV
    calls are small (128 px crops, 48 px faces, one grey frame), and its idle threads compete
    for the cores with TensorFlow Lite's, which run the two models. Probes of ``FrameAnalyzer``
    on a 2-core VM, one thread against the default alternated minutes apart: a 7x7 720p gallery
    26.3-26.9 s against 30.5-31.2 s (two runs each), a 5x5 720p gallery 1.30-1.77x against
    1.22-1.30x real time (three each), the real classroom clip 0.92-0.93x against 0.67-0.90x (three
    each) but also 0.73-0.76x against 0.92-0.93x in two earlier runs: better in 7 of 10 pairs,
    on a machine whose runs differ by 15-20 %."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def run(source: Source, db_url: str, cfg: EngineConfig, options: RunOptions | None = None,
        model: ExpressionModel | None = None, stop: StopRequest | None = None) -> RunSummary:
    """Analyse ``source`` into a new session in ``db_url``; returns its summary.

    Raises :class:`PipelineError` when the database cannot be used or a write fails (the
    session is then marked failed when possible). With ``[privacy] emotions = false`` the
    expression model is neither loaded nor run (``model`` is ignored) and the session is
    recorded as attention-only."""
    started = time.monotonic()
    options = options or RunOptions()
    try:
        factory = connect(db_url)
    except DatabaseError as exc:
        raise PipelineError(str(exc)) from exc
    cfg = obey_admin_switch(cfg, factory)
    emotions = cfg.privacy.emotions
    model = (model or ExpressionModel()) if emotions else None
    model_version = model.version if model is not None else ATTENTION_ONLY_VERSION
    _close_abandoned_sessions(factory)
    recorder = Recorder(factory, cfg.recorder, on_wait=lambda message: _say(bar, message))
    fps = cfg.sampling.fps
    stop = stop if stop is not None else StopRequest()  # not `or`: an unset StopRequest is falsy
    analyzer = video = preview = bar = None
    frames, last_t, end_t, status, note = 0, 0.0, 0.0, SessionStatus.complete, ""
    # The stop handling is in place before the session row is written: a signal during start-up
    # (detector start, model warm-up) ends the session interrupted, never leaves it running.
    with stop.installed(), opencv_threads(1):
        try:
            try:
                recorder.start(source.info, model_version, fps, options.title, options.course, emotions=emotions)
            except RecorderError as exc:
                raise PipelineError(f"cannot start a session in {safe_url(db_url)}: {exc}") from exc
            try:
                if options.on_session is not None:
                    options.on_session(recorder.session_id)
                still = source.info.kind in ("image", "folder")
                if still:  # each picture is one sighting: its faces cannot be seen twice
                    cfg = cfg.replace("tracker", confirm_hits=1)
                analyzer = FrameAnalyzer(cfg, model, options.detector, options.reid,
                                         cfg.sampling.budget_s if source.info.live else None, still)
                video = AnnotatedVideo(options.annotate, fps, options.emoji) if options.annotate else None
                if options.preview:
                    from engine.preview import PreviewWriter

                    preview = PreviewWriter(options.preview)
                if model is not None:
                    model.warm_up()
                bar = _progress_bar(source, fps, options.progress)
                clock = time.perf_counter
                waited = clock()
                source.stop_on(stop.event)  # a stop ends a wait for the next picture too
                for frame in () if stop else source.frames():  # stopped during start-up: no frame is read
                    frame, k = (frame, 1.0) if still else scaled_to_fit(frame, cfg.sampling.max_side)
                    got = clock()
                    analyzer.timings["decode"] += got - waited
                    students, events = analyzer.analyse(frame)
                    analysed = clock()
                    frames, last_t = frames + 1, frame.t
                    # Reading order (rows, then left to right), so "Student 1" is the top-left face.
                    for sf in sorted(students, key=_reading_order):
                        face = sf.face if k == 1.0 else sf.face.scaled(k)  # boxes in the source's pixels
                        recorder.observe(frame.t, frame.wall_time, face, sf.scored, sf.attention, sf.quality)
                    recorder.alert(events)
                    if recorder.due(frame.t):
                        recorder.flush(frame.t, frames)
                    recorded = clock()
                    analyzer.timings["record"] += recorded - analysed
                    if video or preview:
                        # The record's columns as they are: no row objects built for the drawing.
                        emotions = [s.emotion for s in students.scored]
                        marks = marks_for(list(students.face), [recorder.label(s) for s in students.student],
                                          emotions, [s.engagement for s in students.scored])
                        if video:
                            video.write(frame.image, marks, emotions)
                        if preview:
                            preview.write(frame.image, marks)
                        analyzer.timings["annotate"] += clock() - recorded
                    bar.update(1)
                    bar.set_postfix(students=recorder.students_written, faces=len(students), refresh=False)
                    if stop:
                        break
                    waited = clock()
                end_t = _end_time(source, last_t, frames, stopped=bool(stop))
                recorder.alert(analyzer.finish(end_t))
                recorder.flush(end_t, frames)
                status, note = _outcome(source, stop, frames, recorder, end_t, analyzer)
            except KeyboardInterrupt:  # a second signal (or Ctrl-C with no handler installed)
                recorder.drop_pending()
                end_t = last_t
                status, note = SessionStatus.interrupted, (f"stopped by {stop.signal_name or 'the user'} at "
                                                           f"{end_t:.1f} s; the last batch was not written")
            recorder.finish(status, note, end_t, frames)
        except RecorderError as exc:
            _mark_failed(recorder, str(exc), last_t, frames)
            raise PipelineError(str(exc)) from exc
        except BaseException as exc:
            _mark_failed(recorder, f"engine error: {type(exc).__name__}: {exc}", last_t, frames)
            raise
        finally:
            if bar is not None:
                bar.close()
            if analyzer is not None:
                analyzer.close()
            recorder.close()
            if video:
                video.close()
            if preview:
                preview.close()
    timings = analyzer.timings if analyzer is not None else {}  # None: a second signal during start-up
    stage_ms = {k: 1000 * v / max(frames, 1) for k, v in timings.items()}
    return RunSummary(recorder.session_id, frames, end_t, time.monotonic() - started, recorder.observations_written,
                      recorder.students_written, recorder.alerts_opened, status.value, note, stage_ms)


def _reading_order(sf: StudentFace) -> tuple[int, float]:
    f = sf.face
    return round((f.y + f.h / 2) / max(f.h, 1.0)), f.x


def _end_time(source: Source, last_t: float, frames: int, stopped: bool = False) -> float:
    """The media seconds the run reached: a file's whole duration only when it was read to its
    end; where a signal stopped it, the last analysed frame's time; where it ended early, where
    reading stopped."""
    info = source.info
    if info.live or stopped:
        return last_t
    if info.duration is not None and not source.end_note and frames:
        return max(last_t, float(info.duration))
    return getattr(source, "last_t", last_t)


def _outcome(source: Source, stop: StopRequest, frames: int, recorder: Recorder,
             end_t: float, analyzer: FrameAnalyzer) -> tuple[SessionStatus, str]:
    notes = [source.end_note] if source.end_note else []
    if stop:
        notes.insert(0, f"stopped by {stop.signal_name or 'the user'} at {end_t:.1f} s")
        status = SessionStatus.complete if source.info.live else SessionStatus.interrupted
    elif source.lost:
        status = SessionStatus.interrupted
    else:
        status = SessionStatus.complete
    if frames and recorder.students_written == 0:
        what = "the image" if source.info.kind == "image" else "any analysed frame"
        notes.append(f"no face was found in {what}: nobody present (or faces too small / turned away)")
    if not frames:
        notes.append("no frame could be analysed")
    if recorder.waited_s >= 1:
        notes.append(f"waited {recorder.waited_s:.0f} s in all for the database (locked or out of reach)")
    rate = frames / end_t if source.info.live and end_t > 0 else None
    if rate is not None and frames > 10 and rate < 0.9 * source.fps:
        # A live source skips the frames that pass while one is analysed: say so, rather than
        # let a teacher believe every 200 ms of the class was read.
        notes.append(f"analysed {rate:.1f} frames a second of the {source.fps:g} asked: this computer could not "
                     f"keep up (a lower --fps, a longer [classify] read_every_s, or flip_average = false costs less)")
    late = analyzer.detector.lateness
    if late.frames_cut:
        notes.append(f"the search for new faces was cut short on {late.frames_cut} of {frames} frames to keep each frame "
                     f"within {analyzer.budget_s:.2f} s: a face arriving could take up to {late.longest_sweep_s:.1f} s to "
                     f"be found instead of {analyzer.cfg.detector.detect_every_s:g} s")
    return status, "; ".join(notes)


def _say(bar, message: str) -> None:
    """A line on stderr that does not tear the progress bar."""
    if bar is not None and not bar.disable:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)


def _mark_failed(recorder: Recorder, note: str, t: float, frames: int) -> None:
    if recorder.session_id is None:
        return
    try:
        recorder.finish(SessionStatus.failed, note[:2000], t, frames, retry=False)
    except RecorderError:
        pass  # the database is what failed; the error the caller gets already says so


def _progress_bar(source: Source, fps: float, enabled: bool):
    from tqdm import tqdm

    total = None
    if source.info.duration and not source.info.live:
        total = max(1, math.ceil(source.info.duration * fps))
    return tqdm(total=total, unit="frame", file=sys.stderr, disable=not enabled, mininterval=1.0,
                desc=Path(source.info.name).name[:30] if not source.info.live else source.info.name, dynamic_ncols=True)


def summary_of_session(db_url: str, session_id: int) -> RunSummary:
    """The summary of a session already in the database (``process --if-missing``)."""
    from sqlalchemy import func, select

    from db.models import Alert, ClassSession, Observation, Student

    with connect(db_url)() as s:
        cs = s.get(ClassSession, session_id)
        faces = s.scalar(select(func.count()).select_from(Observation).where(Observation.session_id == session_id))
        students = s.scalar(select(func.count()).select_from(Student).where(Student.session_id == session_id))
        alerts = s.scalar(select(func.count()).select_from(Alert).where(Alert.session_id == session_id))
        wall = (cs.ended_at - cs.started_at).total_seconds() if cs.ended_at else 0.0
        return RunSummary(cs.id, cs.frames_analyzed, cs.video_seconds, wall, faces or 0, students or 0, alerts or 0,
                          cs.status.value, cs.note or "")

