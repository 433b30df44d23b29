"""``python -m engine batch PATH... --db URL [--ray auto|local|ADDRESS] [--workers N]``: many
recordings, one session each (DESIGN.md "Scale", docs/scale.md).

Without ``--ray`` the recordings are analysed one after another in this process (engine
"local"), the model loaded once. With ``--ray`` each recording is one Ray task on a pool of
actors, one per worker, each holding the expression model (``num_gpus=1`` per actor where the
cluster has GPUs). Ray is the job system: there is no queue of our own.

Faults:

* a recording that fails for its own reasons (a corrupt file, a database write refused) fails
  alone, with its reason, and the batch goes on;
* a worker process that dies mid-recording (killed, out of memory, its node lost): Ray restarts
  the actor and runs the task again. Every attempt tells an :class:`AttemptLedger` the session it
  started; a retry marks the sessions of the attempts before it ``interrupted`` with the note
  "worker lost mid-recording; retried as session N". So each recording ends with exactly one
  complete session, and a lost attempt's rows stay under its own session, never mixed into the
  complete one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from engine.config import EngineConfig

ENGINE_LOCAL, ENGINE_RAY = "local", "ray"
# A task whose worker died is run again this many times; an actor is restarted this many times in
# a batch. Bounded: a recording that kills every worker it touches (out of memory) must end.
TASK_RETRIES = 2
ACTOR_RESTARTS = 4
LEDGER_PREFIX = "engine-batch-ledger-"
LOST_NOTE = "worker lost mid-recording (its process died); retried as session {retry}"
STOPPED_NOTE = "stopped by the user (Ctrl-C, or Cancel in the dashboard) while a Ray worker analysed it"
GAVE_UP_NOTE = "worker lost mid-recording (its process died); gave up after {attempts} attempts"
# The quiet settings engine/__main__.py gives this process, for worker processes Ray starts.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "2", "OPENCV_LOG_LEVEL": "FATAL",
             "OPENCV_FFMPEG_LOGLEVEL": "-8", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass(frozen=True)
class RecordingResult:
    """One recording's outcome. ``session_id`` is None when no session was started (the file
    could not be opened); ``error`` is empty when the session is complete."""

    path: str
    session_id: int | None
    status: str  # complete | interrupted | failed
    error: str = ""
    faces: int = 0
    wall_seconds: float = 0.0
    attempts: int = 1


@dataclass
class BatchReport:
    engine: str
    results: list[RecordingResult] = field(default_factory=list)
    wall_seconds: float = 0.0
    workers: int = 1

    @property
    def failed(self) -> list[RecordingResult]:
        return [r for r in self.results if r.status != "complete"]

    def as_json(self) -> dict:
        """The CLI's ``--json`` object (DESIGN.md)."""
        return {"engine": self.engine, "recordings": len(self.results),
                "sessions": [{"path": r.path, "session_id": r.session_id, "status": r.status}
                             for r in self.results if r.session_id is not None],
                "failed": [{"path": r.path, "error": r.error} for r in self.failed],
                "wall_seconds": round(self.wall_seconds, 3)}


# -- the work of one worker -----------------------------------------------------------------------
class RecordingWorker:
    """Loads the expression model once and analyses recordings with it, one at a time. A plain
    class: the local engine uses it directly, Ray wraps it as an actor."""

    def __init__(self, cfg: EngineConfig, model_path: str | None = None, detector: str | None = None,
                 model=None, threads: int | None = None):
        for k, v in QUIET_ENV.items():
            os.environ.setdefault(k, v)
        if threads:  # a Ray worker sharing its node's cores with others (worker_threads)
            limit_cpu_threads(threads)
            cfg = cfg.replace("detector", threads=threads)
        # Under KERAS_BACKEND=jax on a GPU (requirements-gpu.txt), JAX would take 75 % of the GPU's
        # memory at its first call; workers sharing a GPU (--workers above the GPU count) then
        # could not all start. Memory as needed instead (a node's own setting wins).
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        from engine.classify import ExpressionModel

        self.cfg, self.detector = cfg, detector
        # ``model``: one already loaded (the local engine loads it through the CLI's checks).
        self.model = None  # attention-only ([privacy] emotions = false): the expression model is never loaded
        if cfg.privacy.emotions:
            self.model = model or ExpressionModel(model_path, threads=threads)  # raises training.modelio.ModelError in words
            self.model.warm_up()

    def ready(self) -> int:
        """This worker's process id (the pool waits on it: a model that cannot load says so here)."""
        return os.getpid()

    def process(self, path: str, db_url: str, key: int = 0, ledger=None, title: str = "") -> RecordingResult:
        """Analyse one recording into a new session; never raises for the recording's own faults.

        ``ledger`` (a Ray actor handle) is told each attempt's session and process, so a retry can
        mark the attempts before it (which a lost worker left "running"), and one whose worker died
        after its session was complete is not run twice. ``title``: the session's title (default:
        the file's name)."""
        from engine.pipeline import PipelineError, RunOptions, run
        from engine.sources import SourceError, open_source

        started = time.monotonic()
        attempts = [1]
        # A database away for now (a PostgreSQL restart) as this recording starts is waited for, as
        # the recorder waits for its batches: otherwise every recording that starts during an
        # outage would fail at once and the outage would cost the batch those recordings.
        wait_for_database(db_url, self.cfg.recorder.retry_s)
        if ledger is not None:
            import ray

            done = finished_session(db_url, [sid for sid, _ in ray.get(ledger.attempts.remote(key))])
            if done is not None:  # the worker died between finishing and answering
                return RecordingResult(path, done, "complete", wall_seconds=time.monotonic() - started, attempts=2)

        def on_session(session_id: int) -> None:
            if ledger is None:
                return
            import ray

            earlier = ray.get(ledger.started.remote(key, session_id, os.getpid()))
            attempts[0] = len(earlier) + 1
            if earlier:
                mark_lost(db_url, [sid for sid, _ in earlier], LOST_NOTE.format(retry=session_id))

        try:
            source = open_source(path, self.cfg.sampling.fps)
        except SourceError as exc:
            return RecordingResult(path, None, "failed", str(exc), wall_seconds=time.monotonic() - started)
        options = RunOptions(title=title, detector=self.detector, progress=False, on_session=on_session)
        try:
            with source:
                summary = run(source, db_url, self.cfg, options, model=self.model)
        except PipelineError as exc:
            return RecordingResult(path, None, "failed", _one_line(exc), wall_seconds=time.monotonic() - started,
                                   attempts=attempts[0])
        except Exception as exc:  # an engine fault on this recording: the session is already marked failed
            return RecordingResult(path, None, "failed", f"engine error: {type(exc).__name__}: {_one_line(exc)}",
                                   wall_seconds=time.monotonic() - started, attempts=attempts[0])
        error = "" if summary.status == "complete" else (summary.note or summary.status)
        return RecordingResult(path, summary.session_id, summary.status, error, summary.faces,
                               time.monotonic() - started, attempts[0])


class AttemptLedger:
    """Ray actor (no CPU): each recording's attempts in order, as (session id, worker process id)."""

    def __init__(self):
        self.sessions: dict[int, list[tuple[int, int]]] = {}

    def started(self, key: int, session_id: int, pid: int) -> list[tuple[int, int]]:
        """Record an attempt; returns the attempts before it."""
        earlier = list(self.sessions.get(key, []))
        self.sessions.setdefault(key, []).append((session_id, pid))
        return earlier

    def attempts(self, key: int) -> list[tuple[int, int]]:
        return list(self.sessions.get(key, []))

    def all(self) -> dict[int, list[tuple[int, int]]]:
        return {k: list(v) for k, v in self.sessions.items()}


def wait_for_database(db_url: str, retry_s: float, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Wait, with growing waits (0.5 s doubling to 10 s) for up to ``retry_s`` wall seconds, while
    the database refuses connections for a reason waiting may cure (``engine.recorder.is_transient``:
    a server restarting or out of reach, a lock). Returns whether it answers; a database that does
    not is left to the run, which reports it in its own words."""
    from db import connect
    from db.connection import DatabaseError
    from engine.recorder import is_transient

    started, wait = time.monotonic(), 0.5
    while True:
        try:
            connect(db_url).kw["bind"].dispose()  # opens (and checks the schema), then lets go
            return True
        except DatabaseError as exc:
            cause = exc.__cause__
            if cause is None or not is_transient(cause) or time.monotonic() - started + wait > retry_s:
                return False
        sleep(wait)
        wait = min(2 * wait, 10.0)


def finished_session(db_url: str, session_ids: list[int]) -> int | None:
    """The first of these sessions that is complete, if any."""
    if not session_ids:
        return None
    from db import connect
    from db.models import ClassSession, SessionStatus

    with connect(db_url)() as s:
        for sid in session_ids:
            cs = s.get(ClassSession, sid)
            if cs is not None and cs.status == SessionStatus.complete:
                return sid
    return None


def mark_lost(db_url: str, session_ids: list[int], note: str) -> None:
    """Mark sessions a dead worker left running as interrupted (closing their open alerts where
    the session's writes stopped). A session that ended otherwise is left alone; one the heartbeat
    check already marked (its engine silent for a minute) gets this fuller note."""
    from sqlalchemy import update

    from db import connect
    from db.models import Alert, ClassSession, SessionStatus, utcnow
    from db.repository import ABANDONED_NOTE

    with connect(db_url)() as s:
        for sid in session_ids:
            cs = s.get(ClassSession, sid)
            abandoned = cs is not None and cs.status == SessionStatus.interrupted and (cs.note or "").startswith(ABANDONED_NOTE)
            if cs is None or not (cs.status == SessionStatus.running or abandoned):
                continue
            cs.status, cs.note, cs.ended_at = SessionStatus.interrupted, note, utcnow()
            s.execute(update(Alert).where(Alert.session_id == sid, Alert.end_t.is_(None))
                      .values(end_t=cs.video_seconds))
        s.commit()


# -- engines --------------------------------------------------------------------------------------
Progress = Callable[[RecordingResult, int, int], None]


def run_local(paths: list[str], db_url: str, worker: RecordingWorker, progress: Progress, title: str = "") -> BatchReport:
    """One recording after another in this process."""
    started = time.monotonic()
    report = BatchReport(ENGINE_LOCAL)
    for path in paths:
        result = worker.process(path, db_url, title=title)
        report.results.append(result)
        progress(result, len(report.results), len(paths))
        if result.status == "interrupted" and "stopped by" in result.error:  # Ctrl-C: the rest waits
            break
    report.wall_seconds = time.monotonic() - started
    return report


def longest_first(paths: list[str]) -> list[int]:
    """Indices of ``paths``, the most work first (seconds times pixels, from each file's header).

    Workers take recordings in this order: a long lecture handed out last would otherwise run
    alone at the end while the other workers idle (the batch's end is its longest tail). A file
    that does not open as a video counts as no work: it fails fast anyway."""
    from engine.sources import SourceError, VideoFileSource

    def work(path: str) -> float:
        try:
            with VideoFileSource(path, fps=1.0) as source:
                info = source.info
        except SourceError:
            return 0.0
        return (info.duration or 0.0) * info.width * info.height

    sizes = [work(p) for p in paths]
    return sorted(range(len(paths)), key=lambda k: -sizes[k])  # stable: equal work keeps the given order


def limit_cpu_threads(threads: int) -> None:
    """Keep this process's libraries to ``threads`` CPU threads: TensorFlow (the expression model;
    call this before it runs anything), OpenCV and OpenMP. By default each
    takes every core, so two workers on two cores each run two threads per library, and a
    library's threads that wait for each other at every step wait for the other worker too."""
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):  # read when TensorFlow loads
        os.environ[name] = str(threads)
    import cv2

    cv2.setNumThreads(threads)
    tf = sys.modules.get("tensorflow")  # the engine itself does not load it (engine/runtime.py)
    with contextlib.suppress(RuntimeError):  # TensorFlow already ran something here: too late, keep its own
        if tf is not None:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)


def worker_threads(cpus: int, nodes: int, workers: int) -> int | None:
    """CPU threads for each worker when ``workers`` share ``nodes`` nodes of ``cpus`` cores in
    all: the cores of a node divided among the workers on it; None (each library's own choice)
    for a worker alone on its node."""
    per_node = -(-workers // max(1, nodes))
    return max(1, cpus // max(1, nodes) // per_node) if per_node > 1 else None


@dataclass(frozen=True)
class ClusterPlan:
    workers: int
    gpus_per_worker: float
    nodes: int


def plan_workers(resources: dict, nodes: int, workers: int | None, recordings: int | None = None) -> ClusterPlan:
    """How many actors and what GPU share each: one per CPU by default, one per GPU where the
    cluster has GPUs (the FER CNN then runs there); never more GPU than there is, and never more
    actors than ``recordings`` (each loads the model: one upload from the dashboard needs one)."""
    cpus, gpus = int(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    n = workers or (int(gpus) if gpus >= 1 else max(cpus, 1))
    if recordings:
        n = min(n, recordings)
    share = 0.0 if gpus <= 0 else min(1.0, gpus / n)
    return ClusterPlan(n, share, nodes)


def start_ray(address: str, workers: int | None) -> bool:
    """Connect to (``auto``, an address) or start (``local``) a Ray cluster. Returns whether this
    call started the connection (and so should shut it down). A process already connected (a test,
    the dashboard) keeps its connection."""
    if address == "local":
        # Ray resolves "127.0.0.1" to the machine's routable address on Linux; this setting (read
        # when ray is imported, so set first) keeps an embedded cluster on the loopback interface.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        # Ray starts its workers at nice 15 (its own processes first); on this machine the workers are
        # the work: at 15 they starve behind anything else running (measured: 2 workers slower than 1).
        os.environ.setdefault("RAY_worker_niceness", "0")
    elif address != "auto":
        send_token_if_held()  # read when ray is imported, as above
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    import logging

    import ray

    if ray.is_initialized():
        return False
    if address == "local":
        # address="local": a new embedded cluster even where `ray start` left one (or its address
        # file) on this machine, which a bare ray.init() would join (and refuse num_cpus for).
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, runtime_env={"env_vars": _worker_env()})
    else:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR,
                 runtime_env={"env_vars": _worker_env()})
    return True


def ray_token() -> str | None:
    """Where this machine holds a Ray cluster token (Ray's own places, in its order), or None."""
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        if os.environ.get(var):
            return var
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def send_token_if_held() -> None:
    """Connect with Ray's token authentication where this machine holds a token and nobody chose
    a mode (RAY_AUTH_MODE). Since Ray 2.59 ``ray start --head`` turns the token on by default,
    yet ``ray.init`` sends it to an explicit address only when told to (it does so by itself for
    ``auto``): the documented ``--ray HEAD:6379`` was refused ("Authentication token is missing")
    even on the head node itself."""
    if not os.environ.get("RAY_AUTH_MODE") and ray_token() is not None:
        os.environ["RAY_AUTH_MODE"] = "token"


def _auth_hint() -> str:
    """What to do when a cluster refuses this machine, or its workers die at once."""
    if os.environ.get("RAY_AUTH_MODE") == "token":
        return (f" (this machine sent the Ray token from {ray_token()}; a cluster started with RAY_AUTH_MODE=disabled "
                "needs RAY_AUTH_MODE=disabled here too)")
    return (" (a cluster started with `ray start` asks for its token since Ray 2.59: run `ray get-auth-token` on "
            "the head node and put it in ~/.ray/auth_token here, or in RAY_AUTH_TOKEN; docs/scale.md)")


def _worker_env() -> dict[str, str]:
    """Workers import this repository: its root on their path, whatever folder they start in."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**QUIET_ENV, "PYTHONPATH": path, **{k: os.environ[k] for k in ("KERAS_BACKEND",) if k in os.environ}}


def run_ray(paths: list[str], db_url: str, cfg: EngineConfig, model_path: str | None, detector: str | None,
            plan: ClusterPlan, progress: Progress, title: str = "", local: bool = False) -> BatchReport:
    """Each recording one task on a pool of model-holding actors; a worker that dies is restarted
    and its task run again (see the module's docstring)."""
    import ray
    from ray.exceptions import RayActorError, RayError

    started = time.monotonic()
    report = BatchReport(ENGINE_RAY, workers=plan.workers)
    # Named, so that an operator (or a test) can see which process holds which recording.
    ledger = ray.remote(num_cpus=0)(AttemptLedger).options(name=f"{LEDGER_PREFIX}{uuid.uuid4().hex[:12]}").remote()
    actor_cls = ray.remote(RecordingWorker).options(
        num_cpus=1, num_gpus=plan.gpus_per_worker, max_restarts=ACTOR_RESTARTS, max_task_retries=TASK_RETRIES)
    # An embedded cluster is this computer: its workers share its cores (Ray's CPU count there is the
    # number of workers). On a cluster, a node's CPUs are shared by the workers Ray puts on it.
    threads = (worker_threads(os.cpu_count() or 1, 1, plan.workers) if local
               else worker_threads(int(ray.cluster_resources().get("CPU", 1)), plan.nodes, plan.workers))
    actors = [actor_cls.remote(cfg, model_path, detector, threads=threads) for _ in range(plan.workers)]
    try:
        ray.get([a.ready.remote() for a in actors])
    except RayError as exc:
        raise WorkerStartError(_cause(exc)) from exc
    idle, running = list(actors), {}  # running: task ref -> (key, path, actor)
    todo = [(k, paths[k]) for k in longest_first(paths)]
    results: dict[int, RecordingResult] = {}
    try:
        while todo or running:
            while todo and idle:
                key, path = todo.pop(0)
                actor = idle.pop(0)
                running[actor.process.remote(path, db_url, key, ledger, title)] = (key, path, actor)
            if not running:  # every worker is gone for good: what is left cannot run
                for key, path in todo:
                    results[key] = RecordingResult(path, None, "failed", "no worker left (all lost)")
                    progress(results[key], len(results), len(paths))
                break
            [done], _ = ray.wait(list(running), num_returns=1)
            key, path, actor = running.pop(done)
            try:
                result = ray.get(done)
                idle.append(actor)
            except RayActorError as exc:  # the worker died more often than it may be retried
                attempts = [sid for sid, _ in ray.get(ledger.attempts.remote(key))]
                if attempts:
                    mark_lost(db_url, attempts, GAVE_UP_NOTE.format(attempts=len(attempts)))
                result = RecordingResult(path, None, "failed", f"worker lost: {_cause(exc)}", attempts=len(attempts))
            except RayError as exc:
                result = RecordingResult(path, None, "failed", f"task failed: {_cause(exc)}")
                idle.append(actor)
            results[key] = result
            progress(result, len(results), len(paths))
    except KeyboardInterrupt:  # Ctrl-C, the dashboard's Cancel: the recordings in progress end interrupted now
        _mark_stopped(ray, ledger, db_url, [(key, actor) for key, _, actor in running.values()])
        raise
    for a in actors:
        ray.kill(a)
    ray.kill(ledger)
    report.results = [results[k] for k in sorted(results)]
    report.wall_seconds = time.monotonic() - started
    return report


def _mark_stopped(ray, ledger, db_url: str, running: list[tuple[int, object]]) -> None:
    """The running tasks' workers stopped, and the sessions they wrote to marked ``interrupted``
    with :data:`STOPPED_NOTE`; a best effort: the heartbeat check marks what it misses."""
    for key, actor in running:
        with contextlib.suppress(Exception):
            ray.kill(actor)  # first: no write may follow the mark
            mark_lost(db_url, [sid for sid, _ in ray.get(ledger.attempts.remote(key), timeout=10)], STOPPED_NOTE)


class WorkerStartError(Exception):
    """The workers could not start (the model would not load on them)."""


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    return _one_line(cause)


def _one_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


# -- the command ----------------------------------------------------------------------------------
def check_paths(paths: list[str]) -> list[str]:
    """The recordings as absolute paths (workers start elsewhere), refusing up front what cannot
    be a recording; a file that exists but will not decode is left to fail alone in the batch."""
    from engine.cli import UsageError

    out: list[str] = []
    for spec in paths:
        if "://" in spec:
            raise UsageError(f"{spec} is a stream, not a recording: analyse it with `python -m engine live --stream`")
        p = Path(spec).expanduser()
        if not p.exists():
            raise UsageError(f"file not found: {p}")
        if p.is_file() and p.stat().st_size == 0:
            raise UsageError(f"file is empty: {p}")
        if not os.access(p, os.R_OK):
            raise UsageError(f"cannot read {p} (permission denied)")
        resolved = str(p.resolve())
        if resolved in out:
            raise UsageError(f"{p} is given twice: each recording once")
        out.append(resolved)
    return out


def cmd_batch(args) -> int:
    from engine import cli

    args.cfg = cli._config(args)
    cli._refuse_in_memory(args.db)
    if args.workers is not None and args.workers < 1:
        raise cli.UsageError(f"--workers must be at least 1, not {args.workers}")
    if args.model and not Path(args.model).expanduser().is_file():
        raise cli.UsageError(f"model not found: {args.model}")
    paths = check_paths(args.paths)
    cli._check_database(args.db)
    from db import connect
    from engine.pipeline import obey_admin_switch

    args.cfg = obey_admin_switch(args.cfg, connect(args.db))  # the dashboard admin's emotions switch
    model_path = str(Path(args.model).expanduser().resolve()) if args.model else None

    def progress(r: RecordingResult, done: int, total: int) -> None:
        what = (f"session {r.session_id} {r.status}, {r.faces} face readings" if r.status == "complete"
                else f"{r.status}: {r.error}")
        retried = f" (attempt {r.attempts})" if r.attempts > 1 else ""
        print(f"[{done}/{total}] {Path(r.path).name}: {what} in {r.wall_seconds:.1f} s{retried}",
              file=sys.stderr, flush=True)

    stdout = sys.stdout
    # Ray's driver prints its workers' deaths to stdout (a thread of its own): stdout is the report's.
    with contextlib.redirect_stdout(sys.stderr):
        if args.ray is None:
            model = cli._load_model(args.model) if args.cfg.privacy.emotions else None
            worker = RecordingWorker(args.cfg, detector=args.detector, model=model)
            report = run_local(paths, args.db, worker, progress, args.title)
        else:
            report = _batch_on_ray(args, paths, model_path, progress)
    _print_report(report, args.json, stdout)
    if any(r.status == "interrupted" and "stopped by" in r.error for r in report.results):
        return cli.EXIT_INTERRUPTED
    return cli.EXIT_FAILED if report.failed else 0


def _batch_on_ray(args, paths: list[str], model_path: str | None, progress: Progress) -> BatchReport:
    from engine import cli

    if args.ray not in ("local", "auto"):
        _probe(args.ray)
    try:
        owned = start_ray(args.ray, args.workers)
    except Exception as exc:  # no cluster at that address, ports taken, its token refused
        hint = _auth_hint() if args.ray != "local" else ""
        raise cli.UsageError(f"cannot reach a Ray cluster at {args.ray}: {_one_line(exc)}{hint}") from exc
    import ray

    try:
        plan = plan_workers(ray.cluster_resources(), len(ray.nodes()), args.workers, len(paths))
        if plan.nodes > 1 and cli._sqlite_target(args.db) is not None:
            print(f"warning: {plan.nodes} nodes writing one SQLite file: the workers on other nodes cannot reach "
                  f"{args.db}; use PostgreSQL (docs/scale.md)", file=sys.stderr)
        print(f"batch: {len(paths)} recordings on {plan.workers} Ray worker{'s' if plan.workers != 1 else ''}"
              f" ({plan.nodes} node{'s' if plan.nodes != 1 else ''}"
              f"{f', {plan.gpus_per_worker:g} GPU each' if plan.gpus_per_worker else ''})", file=sys.stderr, flush=True)
        try:
            return run_ray(paths, args.db, args.cfg, model_path, args.detector, plan, progress, args.title,
                           local=args.ray == "local")
        except WorkerStartError as exc:
            hint = _auth_hint() if args.ray != "local" else ""
            raise cli.UsageError(f"the workers could not start: {exc}{hint}") from exc
    finally:
        if owned:
            ray.shutdown()


def _probe(address: str) -> None:
    """Refuse at once an address where no Ray head answers (Ray itself would wait for minutes)."""
    from engine import cli

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise cli.UsageError(f"--ray takes local, auto or HOST:PORT of a Ray head node, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise cli.UsageError(f"no Ray cluster answers at {address}: {exc.strerror or exc}") from exc


def _print_report(report: BatchReport, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(report.as_json()), file=out, flush=True)
        return
    n, bad = len(report.results), len(report.failed)
    per_hour = 3600 * n / report.wall_seconds if report.wall_seconds > 0 else 0.0
    print(f"{n} recording{'s' if n != 1 else ''} in {report.wall_seconds:.1f} s ({report.engine} engine, "
          f"{per_hour:.0f} recordings/hour): {n - bad} complete, {bad} not", file=out)
    for r in report.results:
        if r.session_id is not None:
            print(f"  session {r.session_id} {r.status}: {r.path}", file=out)
    for r in report.failed:
        print(f"  failed: {r.path}: {r.error}", file=out)
