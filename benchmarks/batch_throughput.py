"""Throughput of ``python -m engine batch`` on a local Ray cluster: 1 worker vs 2, SQLite vs PostgreSQL.

    .venv/bin/python benchmarks/batch_throughput.py [--seconds 8] [--fps 5] [--workers 1 2] [--db sqlite postgresql]

Four recordings: the first S seconds of assets/demo_class.mp4 and of the clips in
../shared/data/real/ (those present; the demo again where fewer than three are), each run as
the real command (`python -m engine batch PATHS --db URL --ray local --workers N --json`, one
subprocess per configuration, a fresh database each). PostgreSQL is a throwaway server in a
temporary folder (tests/pg_server.py; skipped, with the reason, where it cannot start).

Prints the machine, then per configuration: the command's wall time (Ray start, workers
loading the model, the four recordings), the batch's own ``wall_seconds`` (from the workers'
start), recordings per hour, and the 2-worker/1-worker ratio (target on 2 cores: <= 0.7) and
PostgreSQL/SQLite ratio (target: <= 1.1).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the demo-cutting helper and the throwaway PostgreSQL server

from benchmarks._machine import describe  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
SOURCES = [ROOT / "assets" / "demo_class.mp4", REAL / "classroom_pan.mp4", REAL / "one_person_expressions.mp4",
           REAL / "webcam_posed.mp4", REAL / "one_person_phone.mp4"]


def recordings(folder: Path, seconds: float, n: int = 4) -> list[Path]:
    from engine_support import cut_video

    present = [p for p in SOURCES if p.exists()]
    for p in SOURCES:
        if not p.exists():
            print(f"skipped (absent): {p}")
    chosen = (present + [SOURCES[0]] * n)[:n]
    return [cut_video(src, folder / f"{k}_{src.stem}.mp4", seconds) for k, src in enumerate(chosen)]


def run_batch(paths: list[Path], db_url: str, workers: int, fps: float) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "engine", "batch", *map(str, paths), "--db", db_url, "--ray", "local",
           "--workers", str(workers), "--fps", str(fps), "--json"]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"batch failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout)
    # each recording's own time, from the progress lines ("[1/4] name: session 1 complete, ... in 12.3 s")
    report["each"] = re.findall(r"^\[\d+/\d+\] (\S+): .* in ([\d.]+) s", done.stderr, re.M)
    return wall, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="seconds cut from each source (default 8)")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=("sqlite", "postgresql"))
    args = ap.parse_args()

    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = recordings(folder, args.seconds)
        print(f"recordings: {', '.join(p.name for p in paths)} ({args.seconds:g} s each, analysed at {args.fps:g} fps)")
        server = None
        if "postgresql" in args.db:
            from pg_server import PostgresServer, PostgresUnavailable

            try:
                server = PostgresServer().start()
            except PostgresUnavailable as exc:
                print(f"PostgreSQL skipped: {exc}")
        results: dict[tuple[str, int], tuple[float, float]] = {}
        try:
            for db in args.db:
                if db == "postgresql" and server is None:
                    continue
                for workers in args.workers:
                    url = (f"sqlite:///{folder / f'{db}_{workers}.db'}" if db == "sqlite"
                           else server.new_database(f"bench_{workers}"))
                    wall, report = run_batch(paths, url, workers, args.fps)
                    complete = sum(s["status"] == "complete" for s in report["sessions"])
                    results[db, workers] = wall, report["wall_seconds"]
                    print(f"{db:10s} {workers} worker{'s' if workers > 1 else ' '}: command {wall:6.1f} s, "
                          f"batch {report['wall_seconds']:6.1f} s, {complete}/{report['recordings']} complete, "
                          f"{3600 * report['recordings'] / wall:5.0f} recordings/hour; each: "
                          + ", ".join(f"{name} {float(t):.0f} s" for name, t in report["each"]), flush=True)
        finally:
            if server is not None:
                server.stop()
    for db in args.db:
        if (db, 1) in results and (db, 2) in results:
            ratio = results[db, 2][0] / results[db, 1][0]
            print(f"{db}: 2 workers take {ratio:.2f}x the 1-worker time (command; batch alone "
                  f"{results[db, 2][1] / results[db, 1][1]:.2f}x); target <= 0.70: {'met' if ratio <= 0.7 else 'MISSED'}")
    for workers in args.workers:
        if ("sqlite", workers) in results and ("postgresql", workers) in results:
            ratio = results["postgresql", workers][0] / results["sqlite", workers][0]
            print(f"{workers} worker{'s' if workers > 1 else ''}: PostgreSQL takes {ratio:.2f}x the SQLite time; "
                  f"target <= 1.10: {'met' if ratio <= 1.1 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
