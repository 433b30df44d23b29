"""An hour-long lecture in the dashboard: a 60-minute, 30-student session at 5 fps (540,000
observations) written through ``db.repository`` as ``dashboard/demo.py`` does, then the pages a
teacher opens, driven through ``streamlit.testing.v1.AppTest`` (the real app script, signed in):
the live page and its refresh (while the session runs), the session report's first render and a
widget change, the Students page; the process's peak memory; and the CSV export's time and
memory. SQLite and PostgreSQL (a throwaway server, tests/pg_server.py).

    .venv/bin/python -m benchmarks.long_session [--db sqlite postgresql] [--minutes 60] [--students 30]

Each measurement runs in a fresh child process, so its peak RSS is the dashboard's alone (not the
generator's); CPU seconds of that process are printed beside the wall times (on SQLite they
include the database's work, on PostgreSQL the server's is not in them), since the wall times
depend on what else the machine runs. Targets (issue 12): report <= 3 s, live refresh <= 1 s,
memory < 500 MB, CSV export <= 20 s with flat memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # pg_server, the tests' throwaway PostgreSQL helper

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
BATCH_ROWS = 30_000  # one write_batch (one transaction) per this many rows: bulk, not row by row


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def generate(url: str, minutes: float, students: int, fps: float, seed: int = 7) -> int:
    """The demo's story stretched to ``minutes``, made with numpy a batch at a time (the demo's
    per-row loop would take minutes for 540,000 rows). Left running: the live page needs a
    running session; :func:`finish` completes it. Returns the session id."""
    from db import connect
    from db import repository as repo
    from db.models import utcnow

    rng = np.random.default_rng(seed)
    seconds = minutes * 60
    factory = connect(url)
    with factory() as s:
        cs = repo.start_session(s, source="lecture-60min.mp4", model_version="fer_fast (benchmark)",
                                analysis_fps=fps, title=f"Benchmark: {minutes:g}-minute lecture",
                                course="Benchmarks", media_duration=seconds)
        ids = np.array([repo.add_student(s, cs.id, track_id=i + 1).id for i in range(students)])
        s.commit()
        start_wall = utcnow() - timedelta(seconds=seconds)
        frames = int(seconds * fps)
        per_batch = max(1, BATCH_ROWS // students)
        for k0 in range(0, frames, per_batch):
            t = np.arange(k0, min(frames, k0 + per_batch)) / fps
            tt = np.repeat(t, students)
            who = np.tile(np.arange(students), len(t))
            # The story of the demo, every 10 minutes: a confusing stretch at 6:00-8:30 of each
            # ten, a student looking away, late arrivals.
            phase = tt % 600
            confusing = (phase >= 360) & (phase < 510)
            away = (who % 7 == 2) & (phase >= 180) & (phase < 360)
            present = ~((who % 10 == 5) & (tt < 120))
            lean = np.zeros((len(tt), len(EMOTIONS)))
            lean[:, 6] = np.where(confusing, 0.6, 1.3)
            lean[:, 3] = np.where(confusing, -0.5, np.where(who % 2 == 0, 1.1, 0.4))
            lean[:, 5] = np.where(confusing, 1.0, 0.2)
            lean[:, 2] = np.where(confusing, 1.4, 0.0)
            lean[:, 4] = np.where(confusing, 1.1, 0.0)
            logits = rng.normal(0, 0.6, lean.shape) + lean
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            engagement = np.clip(rng.normal(np.where(away, 0.2, 0.78 - 0.18 * confusing), 0.06), 0, 1)
            negative = p[:, [0, 2, 4, 5]].sum(axis=1)
            confusion = np.clip(0.1 + 0.5 * confusing + 0.3 * negative + rng.normal(0, 0.05, len(tt)), 0, 1)
            yaw = rng.normal(np.where(away, 48, 0), 6)
            pitch = rng.normal(-5, 4, len(tt))
            eyes = np.clip(rng.normal(np.where(away, 0.35, 0.85), 0.08), 0, 1)
            box_y = 120 + rng.integers(-3, 4, len(tt))
            dominant = p.argmax(axis=1)
            rows = [
                {"student_id": int(ids[w]), "t": float(tt[j]), "wall_time": start_wall + timedelta(seconds=float(tt[j])),
                 **dict(zip(EMOTIONS, map(float, p[j]), strict=True)), "emotion": EMOTIONS[dominant[j]],
                 "box_x": 80 + 150 * int(w), "box_y": int(box_y[j]), "box_w": 90, "box_h": 90,
                 "yaw": float(yaw[j]), "pitch": float(pitch[j]), "eye_openness": float(eyes[j]),
                 "engagement": float(engagement[j]), "confusion": float(confusion[j])}
                for j, w in enumerate(who) if present[j]
            ]
            repo.write_batch(s, cs.id, rows, video_seconds=float(t[-1]), frames_analyzed=int(k0 + len(t)))
        for start in range(360, int(seconds), 600):  # a class-wide alert for each confusing stretch
            alert = repo.open_alert(s, cs.id, "confused", start + 4.0, "most of the class looked confused for 20 s")
            repo.close_alert(s, alert.id, start + 150.0)
        s.commit()
        return cs.id


def finish(url: str, session_id: int, seconds: float, fps: float) -> None:
    from db import connect
    from db import repository as repo
    from db.models import SessionStatus

    with connect(url)() as s:
        repo.finish_session(s, session_id, SessionStatus.complete, video_seconds=seconds,
                            frames_analyzed=int(seconds * fps))


def _app(url: str, uploads: str):
    """The dashboard as a signed-in admin sees it (the sign-in itself is tested elsewhere; here
    the user is put in the session state as the page tests do)."""
    from streamlit.testing.v1 import AppTest

    from dashboard.auth import USER_KEY, SignedInUser
    from dashboard.config import ENV_DB, ENV_UPLOADS

    os.environ[ENV_DB] = url
    os.environ[ENV_UPLOADS] = uploads
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=900)
    at.session_state[USER_KEY] = SignedInUser("admin", "admin")
    return at


_CPU: dict[str, float] = {}  # CPU seconds of this process for the last _timed call (the app runs in a thread)


def _timed(fn) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    _CPU["last"] = time.process_time() - c0
    return time.perf_counter() - t0


def _check(at) -> None:
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception[0].value}")


def measure_live(url: str, uploads: str) -> dict:
    at = _app(url, uploads)
    first = _timed(lambda: at.switch_page("views/live.py").run())
    _check(at)
    refresh = _timed(at.run)  # what the monitor's timer does every few seconds
    _check(at)
    return {"live_first_s": first, "live_refresh_s": refresh, "live_refresh_cpu_s": _CPU["last"],
            "peak_rss_mb": _peak_rss_mb()}


def measure_pages(url: str, uploads: str) -> dict:
    at = _app(url, uploads)
    # The dashboard already serving (its modules imported, the database opened): the landing page
    # (Live class, showing no running session) first, as a teacher's browser would. Its time is the
    # process's cold start, reported apart.
    cold = _timed(at.run)
    _check(at)
    first = _timed(lambda: at.switch_page("views/report.py").run())
    first_cpu = _CPU["last"]
    _check(at)
    current = at.select_slider(key="report_bin").value
    other = 60 if current != 60 else 30
    change = _timed(lambda: at.select_slider(key="report_bin").set_value(other).run())
    _check(at)
    colour = _timed(lambda: at.radio(key="report_heatmap_value").set_value("emotion").run())
    _check(at)
    students = _timed(lambda: at.switch_page("views/students.py").run())
    _check(at)
    return {"cold_start_s": cold, "report_first_s": first, "report_first_cpu_s": first_cpu, "report_bin_change_s": change, "report_colour_change_s": colour,
            "students_s": students, "peak_rss_mb": _peak_rss_mb()}


def measure_csv(url: str, session_id: int, out: str) -> dict:
    """The export as the dashboard's download builds it: the streaming writer when there is
    one, else the frame-then-CSV of before."""
    from db import connect

    rss_before = _peak_rss_mb()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with connect(url)() as s:
        try:
            from db.export import write_csv
        except ImportError:  # before the streaming export
            from dashboard.report_export import csv_bytes
            from db import repository as repo

            Path(out).write_bytes(csv_bytes(repo.observations_frame(s, session_id)))
        else:
            with open(out, "w", newline="") as f:
                write_csv(s, session_id, f)
    return {"csv_s": time.perf_counter() - t0, "csv_cpu_s": time.process_time() - cpu0, "csv_mb": os.path.getsize(out) / 1e6,
            "csv_rss_before_mb": rss_before, "csv_peak_rss_mb": _peak_rss_mb()}


def _child(kind: str, *args: str) -> dict:
    """One measurement in a fresh interpreter: its own peak RSS, nothing cached from another."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.long_session", "--child", kind, *args],
                         cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(kind: str, url: str, minutes: float, students: int, fps: float, folder: Path) -> dict:
    from sqlalchemy import func, select

    from db import connect
    from db.models import Observation

    t0 = time.perf_counter()
    sid = generate(url, minutes, students, fps)
    gen_s = time.perf_counter() - t0
    with connect(url)() as s:
        n = s.scalar(select(func.count()).select_from(Observation).where(Observation.session_id == sid))
    uploads = str(folder / "uploads")
    result = {"database": kind, "observations": n, "generate_s": gen_s}
    result.update(_child("live", url, uploads))
    result["live_peak_rss_mb"] = result.pop("peak_rss_mb")
    finish(url, sid, minutes * 60, fps)
    result.update(_child("pages", url, uploads))
    result.update(_child("csv", url, str(sid), str(folder / f"export-{kind}.csv")))
    return result


def _print(r: dict) -> None:
    print(f"{r['database']}: {r['observations']:,} observations (generated in {r['generate_s']:.0f} s)")
    print(f"  live page: first {r['live_first_s']:.2f} s, refresh {r['live_refresh_s']:.2f} s "
          f"({r['live_refresh_cpu_s']:.2f} s CPU in the dashboard process) "
          f"(target <= 1 s); peak RSS {r['live_peak_rss_mb']:.0f} MB")
    print(f"  dashboard process cold start (imports, database opened, landing page): {r['cold_start_s']:.2f} s")
    print(f"  report: first render {r['report_first_s']:.2f} s ({r['report_first_cpu_s']:.2f} s CPU in the dashboard "
          f"process), time-bin change {r['report_bin_change_s']:.2f} s, "
          f"colour change {r['report_colour_change_s']:.2f} s (target <= 3 s)")
    print(f"  students page: {r['students_s']:.2f} s; dashboard peak RSS {r['peak_rss_mb']:.0f} MB (target < 500 MB)")
    print(f"  CSV export: {r['csv_s']:.1f} s ({r['csv_cpu_s']:.1f} s CPU in this process), {r['csv_mb']:.0f} MB of CSV, RSS {r['csv_rss_before_mb']:.0f} MB "
          f"before -> {r['csv_peak_rss_mb']:.0f} MB peak (target <= 20 s, flat)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "live":
            out = measure_live(*rest)
        elif kind == "pages":
            out = measure_pages(*rest)
        else:
            out = measure_csv(rest[0], int(rest[1]), rest[2])
        print(json.dumps(out))
        return 0

    from benchmarks._machine import describe

    print(describe())
    print(f"{args.minutes:g} minutes x {args.students} students at {args.fps:g} fps")
    results = []
    with tempfile.TemporaryDirectory(prefix="long-session-") as tmp:
        folder = Path(tmp)
        for kind in args.db:
            if kind == "sqlite":
                results.append(run(kind, f"sqlite:///{folder / 'long.db'}", args.minutes, args.students, args.fps,
                                   folder))
            else:
                from pg_server import PostgresServer, PostgresUnavailable

                try:
                    with PostgresServer() as pg:
                        results.append(run(kind, pg.new_database("long_session"), args.minutes, args.students,
                                           args.fps, folder))
                except PostgresUnavailable as exc:
                    print(f"postgresql: skipped ({exc})")
                    continue
            _print(results[-1])
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
