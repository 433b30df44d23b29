"""``python -m engine batch``: many recordings, one session each, in this process or on a real
local Ray cluster (two worker processes), on SQLite and on PostgreSQL; a corrupt file fails
alone; a worker killed mid-recording is retried by Ray and leaves exactly one complete session."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from engine_support import demo_module, need_model

from db import connect
from db.models import ClassSession, Observation, SessionStatus
from engine import batch, cli

SIZE, GRID = (480, 270), (2, 3)
CONTRACT = {"engine", "recordings", "sessions", "failed", "wall_seconds"}
# The full-range detector alone: these clips' faces are large enough, and the tiled search's set-up
# would cost more than the clips themselves on a 2-core machine.
FAST = ["--detector", "full"]

pytestmark = pytest.mark.slow
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed (requirements.txt pins ray==2.60.0)")


@pytest.fixture(scope="module")
def clips(fer_data, tmp_path_factory):
    """2x3 galleries of neutral FER faces at 5 fps: 3 s and 8 s; and a corrupt mp4 (its head only)."""
    need_model()
    demo = demo_module()
    test = fer_data.split("PrivateTest")
    faces = np.flatnonzero(test.labels == 6)[:12]
    tmp = tmp_path_factory.mktemp("batch")
    out = {}
    for name, seconds, first in (("short", 3, 0), ("long", 8, 6)):
        schedule = [demo.Segment(tile=k, start=0, end=seconds, label="neutral", face=int(faces[first + k]))
                    for k in range(6)]
        out[name] = tmp / f"{name}.mp4"
        demo.render_gallery(out[name], test.images, schedule, size=SIZE, grid=GRID, fps=5.0, jitter=False)
    out["corrupt"] = tmp / "corrupt.mp4"
    out["corrupt"].write_bytes(out["long"].read_bytes()[:4000])
    return {k: str(v) for k, v in out.items()}


def _one_json(out: str) -> dict:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    report = json.loads(lines[0])
    assert set(report) == CONTRACT, report
    assert all(set(s) == {"path", "session_id", "status"} for s in report["sessions"]), report
    assert isinstance(report["wall_seconds"], float) and report["wall_seconds"] > 0
    return report


def _sessions(db_url: str) -> list[ClassSession]:
    with connect(db_url)() as s:
        return list(s.query(ClassSession).order_by(ClassSession.id))


def _observations(db_url: str, session_id: int) -> tuple[int, int]:
    """(rows, distinct student-and-time pairs) of a session: equal when nothing is duplicated."""
    with connect(db_url)() as s:
        rows = [(o.student_id, o.t) for o in s.query(Observation).filter(Observation.session_id == session_id)]
    return len(rows), len(set(rows))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_plan_one_per_cpu_or_one_gpu_each_and_no_more_than_the_recordings():
    """What ``--ray`` asks of ``ray.cluster_resources()``: GPU workers get ``num_gpus=1`` each."""
    assert batch.plan_workers({"CPU": 16.0}, 2, None) == batch.ClusterPlan(16, 0.0, 2)
    assert batch.plan_workers({"CPU": 16.0, "GPU": 2.0}, 2, None) == batch.ClusterPlan(2, 1.0, 2)
    assert batch.plan_workers({"CPU": 16.0, "GPU": 2.0}, 2, 4) == batch.ClusterPlan(4, 0.5, 2)  # never more GPU than there is
    assert batch.plan_workers({"CPU": 8.0}, 1, None, recordings=1) == batch.ClusterPlan(1, 0.0, 1)  # one upload, one actor
    assert batch.plan_workers({"CPU": 8.0, "GPU": 4.0}, 1, None, recordings=3) == batch.ClusterPlan(3, 1.0, 1)
    assert batch.plan_workers({"CPU": 2.0}, 1, 2, recordings=3) == batch.ClusterPlan(2, 0.0, 1)


def test_workers_sharing_a_node_split_its_cores_and_keep_their_libraries_to_them(tmp_path):
    """Two workers on two cores each run one thread per library (TensorFlow, OpenCV, the
    detector's interpreter); by default each would take both cores and wait on the other."""
    assert batch.worker_threads(2, 1, 2) == 1
    assert batch.worker_threads(2, 1, 1) is None  # alone on its computer: the libraries choose
    assert batch.worker_threads(16, 1, 3) == 5
    assert batch.worker_threads(32, 2, 4) == 8  # two nodes of 16 cores, two workers each
    assert batch.worker_threads(1, 1, 4) == 1
    probe = ("import cv2, json, tensorflow as tf; from engine.batch import RecordingWorker; "
             "from engine.config import load_config; from engine.detect import FaceDetector; "
             "w = RecordingWorker(load_config().replace('privacy', emotions=False), threads=1); "
             "d = FaceDetector(w.cfg.detector); "
             "print(json.dumps([tf.config.threading.get_intra_op_parallelism_threads(), cv2.getNumThreads(), "
             "list(d._short.threads.options)]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_NUM_", "OMP_NUM"))}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1], env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [1, 1, [1]]


def test_a_stopped_ray_batch_stops_its_running_workers_and_marks_their_sessions(tmp_path):
    """Ctrl-C or the dashboard's Cancel on ``engine batch --ray``: the running tasks' workers are
    killed, then their sessions marked interrupted with a note (checked for real by hand with
    ``--ray local``: exit 130, no Ray process left, the session interrupted)."""
    from db import repository as repo

    db_url = f"sqlite:///{tmp_path / 'stop.db'}"
    with connect(db_url)() as s:
        running = repo.start_session(s, source="/u/a.mp4").id
        done = repo.start_session(s, source="/u/b.mp4").id
        repo.finish_session(s, done, SessionStatus.complete)
    killed = []

    class Remote:
        def __init__(self, value):
            self.value = value

        def remote(self, key):
            return self.value[key]

    class FakeRay:
        def kill(self, actor):
            killed.append(actor)

        def get(self, value, timeout=None):
            return value

    ledger = type("Ledger", (), {"attempts": Remote({0: [(running, 11)], 1: [(done, 12)]})})()
    batch._mark_stopped(FakeRay(), ledger, db_url, [(0, "actor-a"), (1, "actor-b")])
    assert killed == ["actor-a", "actor-b"]
    rows = {r.id: r for r in _sessions(db_url)}
    assert rows[running].status == SessionStatus.interrupted and rows[running].note == batch.STOPPED_NOTE
    assert rows[done].status == SessionStatus.complete  # a session that ended is left alone


def test_workers_take_the_longest_recordings_first(clips, tmp_path):
    """A long lecture handed out last would run alone at the end: the most work (seconds times
    pixels) goes first, equal work keeps the given order, an unreadable file comes last."""
    missing = str(tmp_path / "missing.mp4")
    order = batch.longest_first([clips["short"], missing, clips["long"], clips["short"], clips["corrupt"]])
    assert order[:3] == [2, 0, 3]
    assert sorted(order[3:]) == [1, 4]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, clips):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    for args, expected in [([str(tmp_path / "none.mp4")], "file not found"),
                           ([clips["short"], "--workers", "0"], "--workers must be at least 1"),
                           ([clips["short"], clips["short"]], "given twice"),
                           (["rtsp://camera/1"], "is a stream, not a recording"),
                           ([clips["short"], "--ray", f"127.0.0.1:{_closed_port()}"], "no Ray cluster answers at"),
                           ([clips["short"], "--ray", "headnode"], "HOST:PORT of a Ray head node")]:
        code = cli.main(["batch", *args, "--db", db, "--json"])
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert code == 2 and captured.out == "", (args, captured)
        assert err.startswith("error: ") and expected in err and len(err.splitlines()) == 1, err


def test_local_batch_corrupt_file_fails_alone(db_url, clips, capsys):
    code = cli.main(["batch", clips["corrupt"], clips["short"], "--db", db_url, "--json", *FAST])
    captured = capsys.readouterr()
    report = _one_json(captured.out)
    assert code == cli.EXIT_FAILED, captured.err
    assert report["engine"] == "local" and report["recordings"] == 2
    [session] = report["sessions"]
    assert session["path"] == clips["short"] and session["status"] == "complete"
    [failed] = report["failed"]
    assert failed["path"] == clips["corrupt"] and "not a readable video" in failed["error"]
    [row] = _sessions(db_url)
    assert row.id == session["session_id"] and row.status == SessionStatus.complete and row.source == clips["short"]
    rows, distinct = _observations(db_url, row.id)
    assert rows > 0 and rows == distinct


@pytest.fixture
def head_node(tmp_path):
    """A Ray head node started as docs/scale.md tells a school to (``ray start --head``), in a
    process of its own, with its own home folder holding a Ray token: since Ray 2.59 ``ray
    start`` then turns token authentication on. Yields (address, the environment of a machine
    that holds that token)."""
    from dashboard_support import free_port

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0")
    ray_cli = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray_cli, "get-auth-token", "--generate"], env=env, capture_output=True, check=True, timeout=120)
    port = free_port()
    log = tmp_path / "head.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([ray_cli, "start", "--head", "--port", str(port), "--num-cpus", "1", "--block",
                                 "--include-dashboard", "false", "--disable-usage-stats"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        assert "Token authentication is enabled" in log.read_text()
        yield f"127.0.0.1:{port}", env
    finally:
        proc.terminate()  # --block: ending the command stops the node's processes
        proc.wait(timeout=120)


@needs_ray
def test_a_batch_runs_on_a_cluster_started_with_ray_start_and_its_token(head_node, clips, tmp_path):
    """The school-cluster path: ``engine batch --ray HOST:PORT`` on a head node whose cluster asks
    for its token. Ray sends the token to an explicit address only when told to; the engine does
    so where the machine holds one (before: "Authentication token is missing", exit 2)."""
    address, env = head_node
    db_url = f"sqlite:///{tmp_path / 'cluster.db'}"
    done = subprocess.run([sys.executable, "-m", "engine", "batch", clips["short"], "--db", db_url, "--ray", address,
                           "--json", *FAST], env=env, capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    report = _one_json(done.stdout)
    assert report["engine"] == "ray" and [s["status"] for s in report["sessions"]] == ["complete"]
    assert "on 1 Ray worker (1 node)" in done.stderr


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster of two CPUs (two worker processes), shared by this module's tests."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (requirements.txt pins ray==2.60.0)")
    owned = batch.start_ray("local", 2)
    import ray

    yield ray
    if owned:
        ray.shutdown()


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the worker process analysing recording ``key`` once that attempt's session
    has observations in the database, i.e. mid-recording; once."""

    def __init__(self, ray, db_url: str, key: int, timeout: float = 240.0):
        super().__init__(daemon=True)
        self.ray, self.db_url, self.key, self.timeout = ray, db_url, key, timeout
        self.killed: tuple[int, int] | None = None  # (session id, pid)
        self.attempts: dict[int, list[tuple[int, int]]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
            names = [a["name"] for a in self.ray.util.list_named_actors(all_namespaces=True)
                     if a["name"].startswith(batch.LEDGER_PREFIX)]
            if not names:
                continue
            try:
                ledger = self.ray.get_actor(names[0], namespace=self._namespace(names[0]))
                attempts = self.ray.get(ledger.all.remote(), timeout=10)
            except Exception:  # the batch ended meanwhile
                continue
            if self.key not in attempts or len(attempts) < 2:  # both workers busy: then strike
                continue
            session_id, pid = attempts[self.key][0]
            if _observations(self.db_url, session_id)[0] == 0:
                continue
            self.attempts = attempts
            os.kill(pid, signal.SIGKILL)
            self.killed = (session_id, pid)
            return

    def _namespace(self, name: str) -> str:
        return next(a["namespace"] for a in self.ray.util.list_named_actors(all_namespaces=True) if a["name"] == name)


# On both databases (issue 12: faults on SQLite and PostgreSQL); SQLite's two workers wait their
# turn for its write lock.
@needs_ray
@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_ray_batch_two_workers_survives_a_killed_worker(db_url, clips, ray_cluster, capsys):
    """--ray local --workers 2 on two clips and a corrupt file; the worker of the long clip is
    killed mid-recording: Ray restarts it and runs the recording again."""
    killer = WorkerKiller(ray_cluster, db_url, key=0)
    killer.start()
    try:
        code = cli.main(["batch", clips["long"], clips["short"], clips["corrupt"], "--db", db_url,
                         "--ray", "local", "--workers", "2", "--json", "--fps", "2", *FAST])
    finally:
        killer.stop.set()
        killer.join()
    captured = capsys.readouterr()
    assert killer.killed is not None, f"the long clip finished before its worker could be killed: {captured.err}"
    report = _one_json(captured.out)
    assert code == cli.EXIT_FAILED, captured.err
    assert "on 2 Ray workers" in captured.err, captured.err
    assert report["engine"] == "ray" and report["recordings"] == 3
    # two worker processes really shared the batch
    assert killer.attempts[0][0][1] != killer.attempts[1][0][1], killer.attempts
    assert [(s["path"], s["status"]) for s in report["sessions"]] == [(clips["long"], "complete"),
                                                                       (clips["short"], "complete")]
    [failed] = report["failed"]
    assert failed["path"] == clips["corrupt"] and "not a readable video" in failed["error"]
    assert "(attempt 2)" in captured.err, captured.err

    rows = {r.id: r for r in _sessions(db_url)}
    lost_id, _ = killer.killed
    long_id = report["sessions"][0]["session_id"]
    assert long_id != lost_id
    # exactly one complete session per recording; the lost attempt is interrupted, with a note
    for path in (clips["long"], clips["short"]):
        assert sum(r.source == path and r.status == SessionStatus.complete for r in rows.values()) == 1
    assert set(rows) == {lost_id, long_id, report["sessions"][1]["session_id"]}
    lost = rows[lost_id]
    assert lost.status == SessionStatus.interrupted and lost.source == clips["long"]
    assert "worker lost mid-recording" in lost.note and f"retried as session {long_id}" in lost.note
    # the retry analysed the whole clip into its own session; nothing duplicated in either
    n_long, distinct = _observations(db_url, long_id)
    n_lost, distinct_lost = _observations(db_url, lost_id)
    assert n_long == distinct and n_lost == distinct_lost and 0 < n_lost < n_long
    assert rows[long_id].frames_analyzed == 16  # 8 s at 2 frames/s
