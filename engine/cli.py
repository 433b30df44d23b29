"""``python -m engine``: detect | process | live | export | batch (DESIGN.md; batch: engine/batch.py).

Human text by default, one JSON object with ``--json``. Bad input (missing or unreadable
file, bad option, unusable database URL) is one ``error: ...`` line on stderr and exit code 2;
a run that fails part-way (database write refused) is ``error: ...`` and exit code 1, its
session marked failed; Ctrl-C during ``process`` exits 130 with the session interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from db.connection import DEFAULT_URL, ENV_DB, default_url, safe_url

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130
MAX_FPS = 120.0  # frames analysed per second: more is no camera's rate and only costs time
ANNOTATE_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")  # containers OpenCV writes mp4v into
LIVE_FLUSH_SECONDS = 0.0  # live: observations are committed after every analysed frame


class UsageError(Exception):
    """Bad input: reported as one ``error:`` line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints the usage too; one line is the contract
        raise UsageError(f"{message} (see {self.prog} --help)")


DB_HELP = f"SQLAlchemy URL (default: ${ENV_DB} if set, else {DEFAULT_URL})"
DETECTOR_HELP = ("how faces are searched: auto (default; chosen from the first frames), full (the whole frame at once: "
                 "near faces) or sliced (in tiles: small, far faces)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description="Classroom engagement engine: faces, expressions, "
                "attention, per-student records in a database.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("detect", help="find faces in one image")
    d.add_argument("image", help="a picture (.jpg, .png, ...)")
    d.add_argument("--detector", choices=("auto", "full", "sliced"), default=None, help=DETECTOR_HELP)
    d.add_argument("--config", help="TOML file overriding engine/config.toml")
    d.add_argument("--json", action="store_true", help="print the faces as JSON: [{\"box\": [x, y, w, h], \"score\"}]")

    pr = sub.add_parser("process", help="analyse a video file (or image, or folder of images) into a session")
    pr.add_argument("video", help="a video file, a picture, or a folder of pictures")
    _run_options(pr)
    pr.add_argument("--annotate", metavar="OUT.mp4", help="also write a video with boxes, students and emotions")
    pr.add_argument("--emoji", action="store_true", help="with --annotate: a small drawn face per emotion")
    pr.add_argument("--if-missing", action="store_true",
                    help="when a complete session of this file exists, print its summary instead")
    pr.add_argument("--delete-input", action="store_true",
                    help="delete VIDEO when the command ends, whatever the outcome (the dashboard's uploads: "
                         "a lecture recording is full of faces and is kept only when asked)")

    lv = sub.add_parser("live", help="analyse a camera (or stream) until Ctrl-C")
    add_live_source_options(lv)
    _run_options(lv)
    lv.add_argument("--preview", metavar="PATH", help="keep PATH showing the latest annotated frame (JPEG)")

    ba = sub.add_parser("batch", help="analyse many recordings, one session each (on a Ray cluster with --ray)")
    ba.add_argument("paths", nargs="+", metavar="PATH", help="video files (or folders of images)")
    ba.add_argument("--db", default=default_url(), help=DB_HELP)
    ba.add_argument("--ray", metavar="auto|local|ADDRESS",
                    help="run on Ray: `local` starts one on this machine, `auto` or an address joins a running one "
                         "(default: one after another in this process)")
    ba.add_argument("--workers", type=int, help="Ray workers, each holding the model (default: the cluster's CPUs, "
                                                "or its GPUs)")
    ba.add_argument("--fps", type=float, help="frames analysed per second (default from the config: 5)")
    ba.add_argument("--model", help="a .keras model (default models/fer_fast.keras)")
    ba.add_argument("--config", help="TOML file overriding engine/config.toml")
    ba.add_argument("--detector", choices=("auto", "full", "sliced"), default=None, help=DETECTOR_HELP)
    ba.add_argument("--title", default="", help="the sessions' title (default: each file's name; the dashboard's uploads)")
    ba.add_argument("--delete-input", action="store_true",
                    help="delete each recording file when the command ends, whatever the outcome (as process does)")
    ba.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _no_emotions_option(ba)

    ex = sub.add_parser("export", help="write a session's observations to CSV")
    ex.add_argument("--db", default=default_url(), help=DB_HELP)
    ex.add_argument("--session", type=int, required=True, help="the session number (python -m engine process prints it)")
    ex.add_argument("--csv", required=True, metavar="OUT", help="the CSV file to write (one row per face per analysed frame)")
    ex.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=default_url(), help=DB_HELP)
    p.add_argument("--fps", type=float, help="frames analysed per second (default from the config: 5)")
    p.add_argument("--title", default="", help="the session's title in the dashboard (default: what is analysed: the file's path, the camera, the URL)")
    p.add_argument("--course", help="the course the session belongs to (made if new)")
    p.add_argument("--model", help="a .keras model (default models/fer_fast.keras)")
    p.add_argument("--config", help="TOML file overriding engine/config.toml")
    p.add_argument("--detector", choices=("auto", "full", "sliced"), default=None, help=DETECTOR_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _no_emotions_option(p)


def _no_emotions_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-emotions", action="store_true",
                   help="attention-only: run no expression model and store no emotion or confusion values "
                        "(overrides [privacy] emotions in the config; for the EU AI Act, docs/privacy.md)")


# -- live sources: one option and one branch in live_source() per kind of source ----------------
def add_live_source_options(p: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--camera", type=int, metavar="N", help="camera number (default 0)")
    group.add_argument("--stream", metavar="URL",
                       help="a network stream (rtsp://, http://), or a video file replayed at its own speed as if live")
    group.add_argument("--screen", action="store_true",
                       help="the screen: a Zoom/Meet/Teams gallery view (with --monitor, --region)")
    group.add_argument("--feed", metavar="PATH",
                       help="a picture file another program keeps replacing (the dashboard's browser camera)")
    p.add_argument("--monitor", type=int, metavar="N", help="with --screen: 1 = first monitor (default), 0 = all")
    p.add_argument("--region", metavar="X,Y,W,H", help="with --screen: only this rectangle of the monitor, in pixels")
    return group


def live_source(args: argparse.Namespace, fps: float):
    """The :class:`engine.sources.Source` the live options ask for (raises SourceError)."""
    from engine.sources import LiveSource, SourceError

    if not getattr(args, "screen", False) and (getattr(args, "monitor", None) is not None
                                               or getattr(args, "region", None) is not None):
        raise SourceError("--monitor and --region choose what --screen captures: give --screen too")
    if getattr(args, "screen", False):
        from engine.screen import ScreenSource

        return ScreenSource(fps, monitor=1 if args.monitor is None else args.monitor, region=args.region)
    if getattr(args, "feed", None):
        from engine.feed import FeedSource

        return FeedSource(args.feed, fps)
    if args.stream:
        return LiveSource(args.stream, fps, kind="stream")
    return LiveSource(0 if args.camera is None else args.camera, fps, kind="camera")


# -- commands -----------------------------------------------------------------------------------
def _config(args):
    from engine.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
        if getattr(args, "fps", None) is not None:
            cfg = cfg.replace("sampling", fps=float(args.fps))
        if getattr(args, "no_emotions", False):  # the flag only ever turns emotions off
            cfg = cfg.replace("privacy", emotions=False)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    fps = cfg.sampling.fps
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):  # inf, nan, 1e300: a traceback or a useless run
        what = "--fps" if getattr(args, "fps", None) is not None else "[sampling] fps in the config"
        raise UsageError(f"{what} must be above 0 and at most {MAX_FPS:g} frames a second, not {fps:g}")
    return cfg


def cmd_detect(args) -> int:
    from engine.sources import ImageSource, SourceError

    cfg = _config(args)
    try:  # the same checks and messages as `process` on a still image
        image = ImageSource(args.image, cfg.sampling.fps).image
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    from engine.detect import FaceDetector
    from engine.quiet import native_stderr_silenced

    with native_stderr_silenced():
        detector = FaceDetector(cfg.detector, args.detector)
        detector.warm_up()
    try:
        faces = detector.detect(image)
    finally:
        detector.close()
    out = [{"box": list(f.box), "score": round(f.score, 4)} for f in faces]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{len(out)} face{'s' if len(out) != 1 else ''} in {Path(args.image).name} ({image.shape[1]}x{image.shape[0]})")
        for f in out:
            print(f"  box x={f['box'][0]} y={f['box'][1]} w={f['box'][2]} h={f['box'][3]}  score {f['score']:.2f}")
    return 0


def _load_model(path):
    from engine.classify import ExpressionModel
    from training.modelio import ModelError

    try:
        return ExpressionModel(path)
    except ModelError as exc:
        raise UsageError(str(exc)) from exc


def _run(args, source, live: bool) -> int:
    from engine.pipeline import PipelineError, RunOptions, run

    with source:
        _check_database(args.db)  # before the model: a bad URL should not cost a model load
        from db import connect
        from engine.pipeline import obey_admin_switch

        args.cfg = obey_admin_switch(args.cfg, connect(args.db))  # the dashboard admin's emotions switch
        model = _load_model(args.model) if args.cfg.privacy.emotions else None  # attention-only: never loaded
        options = RunOptions(
            title=args.title or (live_title(args.course) if live and args.course else ""), course=args.course,
            detector=args.detector,
            annotate=Path(args.annotate) if getattr(args, "annotate", None) else None,
            emoji=getattr(args, "emoji", False), preview=Path(args.preview) if getattr(args, "preview", None) else None,
            progress=not args.no_progress,
        )
        try:
            summary = run(source, args.db, args.cfg, options, model=model)
        except PipelineError as exc:
            print(f"error: {one_line(exc)}", file=sys.stderr)
            return EXIT_FAILED
    _print_summary(summary, args.json)
    if summary.status != "complete" and args.json:  # the JSON object has no note: say it on stderr
        print(f"warning: session {summary.session_id} {summary.status}: {summary.note}", file=sys.stderr)
    return EXIT_INTERRUPTED if summary.status == "interrupted" and not live and "stopped by" in summary.note else 0


def live_title(course: str, when: datetime | None = None) -> str:
    """A live class's default title, its course and start (UTC, as the dashboard shows times):
    "Algebra 2 — 2026-12-02 09:00", not the source's name ("feed 288a7f8ab94a.jpg")."""
    when = when or datetime.now(UTC)
    return f"{course} — {when:%Y-%m-%d %H:%M}"


def _check_database(url: str) -> None:
    from db import connect
    from db.connection import DatabaseError

    try:
        connect(url)
    except DatabaseError as exc:
        raise UsageError(str(exc)) from exc


def _print_summary(summary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.as_json()))
        return
    print(f"session {summary.session_id} ({summary.status}): {summary.frames_analyzed} frames analysed, "
          f"{summary.video_seconds:.1f} s of video in {summary.wall_seconds:.1f} s, {summary.faces} face readings, "
          f"{summary.students} students, {summary.alerts} alerts")
    if summary.note:
        print(f"note: {summary.note}")


def cmd_process(args) -> int:
    try:
        return _process(args)
    finally:
        if args.delete_input:
            Path(args.video).expanduser().unlink(missing_ok=True)


def _process(args) -> int:
    from engine.sources import SourceError, open_source

    args.cfg = _config(args)
    _refuse_in_memory(args.db)
    if args.annotate:
        _check_annotate(Path(args.annotate).expanduser(), Path(args.video).expanduser())
    if args.emoji and not args.annotate:
        raise UsageError("--emoji draws on the --annotate video: give --annotate OUT.mp4 too")
    if args.if_missing:
        done = _existing_session(args.db, args.video)
        if done is not None:
            _print_summary(done, args.json)
            return 0
    try:
        source = open_source(args.video, args.cfg.sampling.fps)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    return _run(args, source, live=False)


def _check_annotate(out: Path, video: Path) -> None:
    """--annotate names a video file to write: checked before a session is started."""
    if out.is_dir():
        raise UsageError(f"--annotate {out} is a folder: give a video file to write, such as {out / 'annotated.mp4'}")
    if out.suffix.lower() not in ANNOTATE_SUFFIXES:
        raise UsageError(f"--annotate {out}: the annotated video must end {', '.join(ANNOTATE_SUFFIXES)}")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"folder for --annotate does not exist: {out.parent}")
    if out.exists() and video.exists() and out.resolve() == video.resolve():
        raise UsageError(f"--annotate {out} is the video being analysed: give another file name")


def _refuse_in_memory(url: str) -> None:
    """An in-memory SQLite database vanishes when the command ends, and the results with it."""
    if _sqlite_target(url) == ":memory:":
        raise UsageError(f"--db {url} is an in-memory database: the results would vanish when the command ends; "
                         f"give a file, such as sqlite:///classroom.db")


def _sqlite_target(url: str) -> str | None:
    """The file a SQLite URL names (":memory:" for an in-memory one); None for other databases
    and URLs SQLAlchemy cannot parse (connect() reports those)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    uri = str(parsed.query.get("uri", "")).lower() == "true"
    if uri:
        database = database.removeprefix("file:")
    if database in ("", ":memory:") or (uri and parsed.query.get("mode") == "memory"):
        return ":memory:"
    return database


def _existing_session(db_url: str, video: str):
    from db import connect
    from db import repository as repo
    from db.connection import DatabaseError
    from db.models import SessionStatus
    from engine.pipeline import summary_of_session

    path = str(Path(video).expanduser().resolve())
    try:
        with connect(db_url)() as s:
            done = [cs for cs in repo.sessions_from_source(s, path)
                    if cs.source == path and cs.status == SessionStatus.complete]
    except DatabaseError as exc:
        raise UsageError(str(exc)) from exc
    return summary_of_session(db_url, done[0].id) if done else None


def cmd_live(args) -> int:
    from engine.sources import SourceError

    args.cfg = _config(args)
    # Live, a teacher is watching: commit every analysed frame (a batch of ~25 rows costs a few
    # ms) instead of every flush_seconds, so a frame is in the database well within a second.
    args.cfg = args.cfg.replace("recorder", flush_seconds=min(args.cfg.recorder.flush_seconds, LIVE_FLUSH_SECONDS))
    _refuse_in_memory(args.db)
    try:
        source = live_source(args, args.cfg.sampling.fps)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    return _run(args, source, live=True)


def cmd_export(args) -> int:
    from db import connect
    from db import repository as repo
    from db.connection import DatabaseError
    from db.export import write_csv

    out = Path(args.csv).expanduser()
    if not out.resolve().parent.is_dir():
        raise UsageError(f"folder for the CSV does not exist: {out.parent}")
    _refuse_in_memory(args.db)
    target = _sqlite_target(args.db)
    if target is not None and not Path(target).expanduser().is_file():  # SQLite would create it, empty
        raise UsageError(f"no database file {target} (--db {args.db})")
    try:
        with connect(args.db, create=False)() as s:
            if repo.get_session(s, args.session) is None:
                raise UsageError(f"no session {args.session} in {safe_url(args.db)}")
            try:
                with out.open("w", newline="", encoding="utf-8") as f:
                    rows = write_csv(s, args.session, f)
            except BaseException:
                out.unlink(missing_ok=True)  # no half-written CSV left behind
                raise
    except DatabaseError as exc:
        raise UsageError(str(exc)) from exc
    except Exception as exc:  # a file that is not a database, a database without our tables
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"cannot read {safe_url(args.db)}: {str(exc).splitlines()[0]}") from exc
    if args.json:
        print(json.dumps({"session_id": args.session, "rows": rows, "csv": str(out)}))
    else:
        print(f"wrote {rows} observations of session {args.session} to {out}")
    return 0


def one_line(exc: BaseException) -> str:
    """The message's first line (SQLAlchemy appends a "Background on this error" link line)."""
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def cmd_batch(args) -> int:
    from engine.batch import cmd_batch as batch

    try:
        return batch(args)
    finally:
        if args.delete_input:  # the files only (never a folder of images), whatever the outcome
            for spec in args.paths:
                p = Path(spec).expanduser()
                if p.is_file():
                    p.unlink(missing_ok=True)


COMMANDS = {"detect": cmd_detect, "process": cmd_process, "live": cmd_live, "export": cmd_export,
            "batch": cmd_batch}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... | head`): what it wanted was printed; no traceback, and
        # no second error when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
