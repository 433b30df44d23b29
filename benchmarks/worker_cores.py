"""How many cores one batch worker keeps busy: the bound on what a second worker can add.

    .venv/bin/python benchmarks/worker_cores.py [--video ../shared/data/real/classroom_pan.mp4]

Runs the batch's own worker (``engine.batch.RecordingWorker``) on one recording twice, in a
fresh process each: with its libraries' own thread choice (a worker alone on its computer) and
kept to one thread (two workers on two cores, ``engine.batch.worker_threads``). Prints the
wall time, the CPU time and their ratio, the cores used. When one worker alone uses C of a
machine's N cores, N / C workers can finish at best in C / N of one worker's time
(``benchmarks/batch_throughput.py`` measures the batch itself; its target is 0.7x).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402

ONE_RUN = """
import json, resource, sys, time
from engine.batch import RecordingWorker
from engine.config import load_config
worker = RecordingWorker(load_config(), threads=int(sys.argv[2]) or None)
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
result = worker.process(sys.argv[1], sys.argv[3])
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print(json.dumps({"wall": time.perf_counter() - start, "cpu": cpu, "status": result.status}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT.parent / "shared" / "data" / "real" / "classroom_pan.mp4"))
    args = ap.parse_args()
    if not Path(args.video).exists():
        print(f"skipped: {args.video} is absent", file=sys.stderr)
        return 0
    print(f"machine: {describe()}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "2"}
    with tempfile.TemporaryDirectory() as tmp:
        for threads, what in ((0, "its libraries' own threads"), (1, "one thread")):
            db = f"sqlite:///{Path(tmp) / f'w{threads}.db'}"
            done = subprocess.run([sys.executable, "-c", ONE_RUN, args.video, str(threads), db], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{Path(args.video).name}, {what}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, "
                  f"{r['cpu'] / r['wall']:.2f} cores ({r['status']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
