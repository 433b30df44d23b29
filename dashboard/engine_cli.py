"""Running the engine's command line as a subprocess (the dashboard never imports the
engine): ``python -m engine process FILE --json`` for recordings (``python -m engine batch FILE
--ray ADDRESS --json`` when the dashboard was started with ``--ray``: the recording is then
analysed on that Ray cluster, as ``engine batch`` submits it) and ``python -m engine live ...``
for a class, the database URL in ``$CLASSROOM_DB``. Progress and results are read from the
database; stdout/stderr go to log files so a full pipe can never stall the engine. When the admin
has switched emotions off (attention-only, ``app_settings``), every engine started here gets
``--no-emotions``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.config import REPO_ROOT
from db.connection import ENV_DB


@dataclass
class EngineJob:
    kind: str  # "process" | "live"
    command: list[str]
    proc: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    started: float = field(default_factory=time.time)  # wall clock, seconds since the epoch
    source_name: str = ""  # file name the engine records as the session's source
    title: str = ""  # what the teacher called it
    media_duration: float | None = None  # the file's length as OpenCV measured it, until the engine records its own
    ray_address: str | None = None  # set: ``engine batch --ray`` (a Ray cluster) analyses the recording
    submitted: float | None = None  # wall clock when the teacher asked for it (before the upload was stored)
    ended: float | None = None  # wall clock when the process was first seen finished
    stop_requested: bool = False  # Stop / Cancel was pressed (in whichever tab): its end is no failure

    @property
    def running(self) -> bool:
        if self.proc.poll() is None:
            return True
        if self.ended is None:
            self.ended = time.time()
        return False

    @property
    def elapsed(self) -> float:
        """Seconds from the teacher's request (else the engine's start) to the end (else now): what
        they waited, model loading and all, not the engine's own processing time."""
        return (self.ended or time.time()) - (self.submitted or self.started)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def option(self, flag: str) -> str | None:
        """The value given to ``flag`` on the engine's command line (``--preview``, ``--feed``), if any."""
        return self.command[self.command.index(flag) + 1] if flag in self.command[:-1] else None

    def stderr_tail(self, lines: int = 15) -> str:
        return _tail(self.stderr_path, lines)

    def result(self) -> dict | None:
        """The engine's one JSON object (``--json``), once it has finished. For a recording run
        on Ray, ``engine batch``'s object (``{"engine", "sessions", "failed", ...}``) with the
        ``session_id`` of its one recording added, as ``engine process`` gives it."""
        if self.running or not self.stdout_path.exists():
            return None
        for line in reversed(self.stdout_path.read_text(errors="replace").splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    found = json.loads(line)
                except json.JSONDecodeError:
                    return None
                if self.ray_address and isinstance(found, dict) and found.get("sessions"):
                    found.setdefault("session_id", found["sessions"][0].get("session_id"))
                return found
        return None

    def error_message(self) -> str:
        """The engine's own words for a failure: its ``error: ...`` line, else the last line of
        a traceback, else the end of stderr without the libraries' start-up chatter."""
        failed = (self.result() or {}).get("failed") if self.ray_address else None
        if failed:  # engine batch: the recording failed alone, its reason in the report
            return str(failed[0].get("error") or "the recording failed")
        lines = [ln.strip() for ln in self.stderr_tail(200).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.lower().startswith("error:")]
        if errors:
            return errors[-1].split(":", 1)[1].strip()
        if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
            return lines[-1]
        meaningful = [ln for ln in lines if not _NOISE.match(ln)]
        return "\n".join(meaningful[-8:]) or f"the engine exited with code {self.returncode}"


# TensorFlow / MediaPipe / absl start-up lines that say nothing about a failure.
_NOISE = re.compile(r"^([IWE]\d{4} |INFO:|WARNING: All log messages|\d{4}-\d\d-\d\d .*(tensorflow|cuda|oneDNN))")


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def engine_command(mode: str, args: Sequence[str], json_output: bool = False) -> list[str]:
    """The command line, without the database: that goes in the environment (see _launch)."""
    cmd = [sys.executable, "-m", "engine", mode, *args]
    return cmd + ["--json"] if json_output else cmd


def _launch(kind: str, cmd: list[str], db_url: str, log_dir: Path, stem: str) -> EngineJob:
    log_dir.mkdir(parents=True, exist_ok=True)
    out, err = log_dir / f"{stem}.{kind}.out", log_dir / f"{stem}.{kind}.err"
    with out.open("wb") as fo, err.open("wb") as fe:
        # Run from the repository root so ``-m engine`` resolves whatever the dashboard's cwd.
        # The URL (and any password in it) goes through the environment: a command line is
        # readable by every user of the machine.
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                env={**os.environ, ENV_DB: db_url})
    return EngineJob(kind=kind, command=cmd, proc=proc, stdout_path=out, stderr_path=err)


def emotions_allowed(db_url: str) -> bool:
    """The admin's switch (``db.repository.emotions_enabled``). When the database cannot tell,
    False: the engine then runs attention-only, the side the law may demand."""
    from db import connect
    from db import repository as repo

    try:
        with connect(db_url)() as s:
            return repo.emotions_enabled(s)
    except Exception:
        return False


def _mode_args(db_url: str, emotions: bool | None) -> list[str]:
    """``--no-emotions`` when the run must be attention-only (``emotions`` None: the admin's switch)."""
    allowed = emotions_allowed(db_url) if emotions is None else emotions
    return [] if allowed else ["--no-emotions"]


def processing_command(video: Path, db_url: str, fps: float | None = None, title: str = "", keep: bool = False,
                       emotions: bool | None = None, ray: str | None = None, course: str | None = None) -> list[str]:
    """The engine command for one upload: ``engine process``, or with ``ray`` (local | auto |
    HOST:PORT) ``engine batch --ray``, which runs it as one task on that cluster's workers (the
    same path ``python -m engine batch --ray ADDRESS`` takes). ``course``: the course (made by
    the dashboard, with its owner) ``engine process`` files the session under; ``engine batch``
    has no such option, so the Recordings page files a Ray upload's session itself."""
    # "--title=T", not "--title T": a title (the upload's file name) may start with "-".
    args = [str(video)] + (["--fps", f"{fps:g}"] if fps else []) + ([f"--title={title}"] if title else [])
    args += [] if keep else ["--delete-input"]
    args += _mode_args(db_url, emotions)
    if ray:
        return engine_command("batch", [*args, "--ray", ray], json_output=True)  # batch draws no progress bar
    # --no-progress: the engine's progress bar would fill the stderr log the dashboard shows on
    # failure; the dashboard reads progress from the database instead.
    args += [f"--course={course}"] if course else []  # "=": a name may start with "-"
    return engine_command("process", [*args, "--no-progress"], json_output=True)


def start_processing(video: Path, db_url: str, log_dir: Path, fps: float | None = None, title: str = "",
                     keep: bool = False, emotions: bool | None = None, ray: str | None = None,
                     course: str | None = None) -> EngineJob:
    """``keep=False``: the engine deletes the upload when it ends, whatever the outcome (even
    when the teacher has closed the page by then). ``emotions``: None obeys the admin's switch.
    ``ray``: analyse it on that Ray cluster (the upload folder must then be one every worker node
    sees at the same path)."""
    cmd = processing_command(video, db_url, fps, title, keep, emotions, ray, course)
    job = _launch("process", cmd, db_url, log_dir, video.stem)
    job.source_name, job.title, job.ray_address = video.name, title or video.name, ray
    return job


def start_live(source_args: Sequence[str], db_url: str, log_dir: Path, title: str = "",
               emotions: bool | None = None) -> EngineJob:
    stem = time.strftime("live-%Y%m%d-%H%M%S")
    job = _launch("live", engine_command("live", [*source_args, *_mode_args(db_url, emotions)]), db_url, log_dir, stem)
    job.title = title
    return job


def stop(job: EngineJob, grace_s: float = 15.0) -> int | None:
    """Ask the engine to finish (SIGINT, as Ctrl-C: it writes its last batch and marks the
    session); kill it only if it ignores that for ``grace_s`` seconds."""
    if not job.running:
        return job.returncode
    if not job.stop_requested:  # once: a second SIGINT (a double click, another tab) drops the last batch
        job.stop_requested = True
        job.proc.send_signal(signal.SIGINT)
    try:
        return job.proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        job.proc.terminate()
        try:
            return job.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            job.proc.kill()
            return job.proc.wait()
