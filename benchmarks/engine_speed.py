"""End-to-end engine speed on the demo recording: real-time factor and milliseconds per stage.

    .venv/bin/python benchmarks/engine_speed.py [--video assets/demo_class.mp4] [--fps 5] [--seconds S]

Runs exactly what ``python -m engine process`` runs (``engine.pipeline.run``: decode, detect,
track, re-identify, classify, attention, score, database writes into a fresh SQLite file)
and prints the real-time factor (media seconds analysed per wall second; >= 1 keeps up with
a live class at this fps) and the mean milliseconds per analysed frame of each stage.
Model loading and the first-call graph trace are reported apart (paid once per run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the demo-cutting helper the engine tests use

from benchmarks._machine import describe  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "assets" / "demo_class.mp4"))
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, help="only the first S seconds (re-encoded to a temporary file)")
    ap.add_argument("--model", help="default models/fer_fast.keras")
    ap.add_argument("--detector", choices=("auto", "full", "sliced"))
    ap.add_argument("--config", help="engine config overriding engine/config.toml (e.g. flip_average = false)")
    args = ap.parse_args()

    from engine_support import cut_video

    from engine.classify import ExpressionModel
    from engine.config import load_config
    from engine.pipeline import RUN_STAGES, RunOptions, run
    from engine.sources import open_source

    print(f"machine: {describe()}")
    cfg = load_config(args.config).replace("sampling", fps=args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(args.video)
        if args.seconds:
            video = cut_video(video, Path(tmp) / "cut.mp4", args.seconds)
        started = time.perf_counter()
        model = ExpressionModel(args.model)
        model.warm_up()
        load_s = time.perf_counter() - started
        source = open_source(video, args.fps)
        print(f"video: {args.video} {source.info.width}x{source.info.height}, {source.info.duration:.1f} s, "
              f"analysed at {args.fps:g} fps; model {model.version} (load + first call {load_s:.1f} s)")
        with source:
            s = run(source, f"sqlite:///{Path(tmp) / 'bench.db'}", cfg, RunOptions(detector=args.detector,
                                                                                    progress=False), model=model)
    rtf = s.video_seconds / s.wall_seconds
    print(f"frames {s.frames_analyzed}, face readings {s.faces} ({s.faces / max(s.frames_analyzed, 1):.1f}/frame), "
          f"students {s.students}, alerts {s.alerts}")
    print(f"wall {s.wall_seconds:.1f} s for {s.video_seconds:.1f} s of video: real-time factor {rtf:.2f} "
          f"({s.frames_analyzed / s.wall_seconds:.1f} analysed frames/s; needs {args.fps:g})")
    total = sum(s.stage_ms.values())
    print("ms per analysed frame: " + ", ".join(f"{k} {s.stage_ms[k]:.1f}" for k in RUN_STAGES)
          + f"; sum {total:.1f}, other {1000 * s.wall_seconds / max(s.frames_analyzed, 1) - total:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
