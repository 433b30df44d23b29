"""An hour-long class through the whole engine: does it keep its speed and its memory?

    .venv/bin/python benchmarks/long_run.py [--minutes 60] [--video assets/demo_class.mp4] [--window 10]

A recording is played again and again, its media time running on (a 100 s demo looped 36
times is a 60-minute class of the same 25 students), through exactly what ``python -m engine
process`` runs, database writes included, into a fresh SQLite file. Every analysed frame the
benchmark notes the wall clock, the process's CPU time and its resident memory; it then prints,
per ``--window`` minutes of media, the real-time factor, the CPU seconds spent per media
second (steadier than wall time on a machine shared with other work) and the memory.

Targets (issue 11): the last 10 minutes within 10 % of the first 10 in speed, memory growth
under 100 MB over the hour. Growth is printed twice: from the first analysed frame (the models
loaded, nobody known yet) and from the end of the first window (every student known).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402
from engine.sources import Frame, Source, VideoFileSource  # noqa: E402


def rss_mb() -> float:
    """Resident memory now (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Sample:
    t: float  # media seconds
    wall: float
    cpu: float
    rss_mb: float


class LoopedSource(Source):
    """``path`` played until ``seconds`` of media, each pass continuing the media clock."""

    def __init__(self, path: Path, fps: float, seconds: float, window_s: float):
        super().__init__(fps)
        self.path, self.seconds, self.window_s = path, seconds, window_s
        with VideoFileSource(path, fps) as first:
            self.info = replace(first.info, duration=seconds)
            self.pass_s = first.info.duration
        self.samples: list[Sample] = []

    def frames(self) -> Iterator[Frame]:
        n, offset = 0, 0.0
        while offset < self.seconds:
            with VideoFileSource(self.path, self.fps) as one:
                for frame in one.frames():
                    t = offset + frame.t
                    if t >= self.seconds:
                        return
                    self.samples.append(Sample(t, time.perf_counter(), time.process_time(), rss_mb()))
                    if self.samples[-1].t // self.window_s > self.samples[-2 if n else -1].t // self.window_s:
                        print_window(windows(self.samples, self.window_s)[-1])  # so far, in case the hour is cut short
                    yield replace(frame, index=n, t=t)
                    n += 1
            offset += self.pass_s


def windows(samples: list[Sample], window_s: float) -> list[tuple[float, float, float, float]]:
    """(start min, real-time factor, CPU s per media s, RSS MB at its end) per window."""
    out, start = [], samples[0]
    for s in samples[1:]:
        if s.t - start.t >= window_s or s is samples[-1]:
            media = s.t - start.t
            out.append((start.t / 60, media / (s.wall - start.wall), (s.cpu - start.cpu) / media, s.rss_mb))
            start = s
    return out


HEADER = "from (min) | real-time x | CPU s per media s | RSS MB at end"


def print_window(row: tuple[float, float, float, float]) -> None:
    start, rtf, cpu, mem = row
    print(f"{start:10.1f} | {rtf:11.2f} | {cpu:17.3f} | {mem:13.0f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "assets" / "demo_class.mp4"))
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--window", type=float, default=10.0, help="minutes of media per reported window")
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args()

    from engine.classify import ExpressionModel
    from engine.config import load_config
    from engine.pipeline import RunOptions, run

    print(f"machine: {describe()}")
    cfg = load_config().replace("sampling", fps=args.fps)
    source = LoopedSource(Path(args.video), args.fps, args.minutes * 60, args.window * 60)
    print(f"video: {args.video} ({source.pass_s:.0f} s) looped to {args.minutes:g} min at {args.fps:g} fps", flush=True)
    print(HEADER, flush=True)
    model = ExpressionModel()
    with tempfile.TemporaryDirectory() as tmp, source:
        summary = run(source, f"sqlite:///{Path(tmp) / 'long.db'}", cfg, RunOptions(progress=False), model=model)
        db_mb = (Path(tmp) / "long.db").stat().st_size / 2**20
    print(f"{summary.frames_analyzed} frames, {summary.faces} face readings, {summary.students} students, "
          f"{summary.alerts} alerts, database {db_mb:.0f} MB; wall {summary.wall_seconds:.0f} s for "
          f"{summary.video_seconds:.0f} s: real-time factor {summary.video_seconds / summary.wall_seconds:.2f}")
    rows = windows(source.samples, args.window * 60)
    print(HEADER)
    for row in rows:
        print_window(row)
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        print(f"last window vs first: speed {last[1] / first[1]:.3f}x, CPU per media s {last[2] / first[2]:.3f}x; "
              f"memory growth after the first window {last[3] - first[3]:+.0f} MB, "
              f"since the first analysed frame {last[3] - source.samples[0].rss_mb:+.0f} MB "
              f"(RSS then {source.samples[0].rss_mb:.0f} MB, models loaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
