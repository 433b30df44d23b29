"""Live latency: from a picture on the screen to its records in the database.

    .venv/bin/python -m benchmarks.live_latency [--seconds 60] [--fps 5] [--video assets/demo_class.mp4]

A virtual X display (Xvfb, benchmarks/virtual_screen.py) plays a 25-tile gallery video in real
time, the way a meeting window would; the engine runs as the teacher would run it,
``python -m engine live --screen --db sqlite:///... --fps F``, in its own process; this script
polls the database every 50 ms and notes when each observation first becomes visible (i.e.
committed). For every observation:

* screen-to-record latency = first seen in the database - when the frame it was captured from
  was put on the screen;
* capture-to-record latency = first seen - the observation's wall_time (the grab).

Printed: the machine, medians / 90th / 99th percentiles / maxima, analysed frames per second,
faces per frame. The poll interval (50 ms) bounds the resolution. Needs the ``xvfb`` package.

``--stages`` measures instead what one analysed frame costs, stage by stage, in this process
(screen grab, face detection with the plan the detector picks, re-identification, the FER CNN
on the batch of faces): where the 1 / fps budget goes.
"""

from __future__ import annotations

import argparse
import bisect
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402
from benchmarks.virtual_screen import VirtualScreen, VirtualScreenError  # noqa: E402

POLL_S = 0.05


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Player(threading.Thread):
    """Plays a video on the virtual screen in real time (looping) and notes when each frame went up."""

    def __init__(self, screen: VirtualScreen, video: Path):
        super().__init__(daemon=True)
        cap = cv2.VideoCapture(str(video))
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 5.0
        self.frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            self.frames.append(frame)
        cap.release()
        if not self.frames:
            raise SystemExit(f"error: {video} has no readable frame")
        self.screen = screen
        self.shown: list[datetime] = []  # wall time (UTC) each frame went up, in order
        self.stop = threading.Event()

    def run(self) -> None:
        start, i = time.monotonic(), 0
        while not self.stop.is_set():
            self.screen.show(self.frames[i % len(self.frames)])
            self.shown.append(utcnow())
            i += 1
            delay = start + i / self.fps - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)

    def shown_before(self, when: datetime) -> datetime | None:
        k = bisect.bisect_right(self.shown, when)
        return self.shown[k - 1] if k else None


def poll(db_url: str, seen: dict[int, tuple[datetime, datetime]], stop: threading.Event) -> None:
    """Note when each observation first shows up in the database (a reader's view of commits)."""
    from sqlalchemy import select

    from db import connect
    from db.models import Observation

    factory = connect(db_url)
    last = 0
    while not stop.is_set():
        with factory() as s:
            rows = s.execute(select(Observation.id, Observation.wall_time).where(Observation.id > last)).all()
        now = utcnow()
        for oid, wall in rows:
            seen[oid] = (wall, now)
            last = max(last, oid)
        stop.wait(POLL_S)


def summary(values: list[float]) -> str:
    a = np.array(values)
    return (f"median {np.median(a):.3f} s, p90 {np.quantile(a, 0.9):.3f} s, p99 {np.quantile(a, 0.99):.3f} s, "
            f"max {a.max():.3f} s")


def stage_costs(screen: VirtualScreen, video: Path, frames: int = 20) -> None:
    """Per-frame cost of each stage on the gallery as captured from the screen."""
    os.environ["DISPLAY"] = screen.display
    from engine.config import load_config
    from engine.detect import FaceDetector
    from engine.reid import StudentGallery
    from engine.screen import ScreenSource
    from training import modelio
    from training.preprocessing import prepare_faces

    cap = cv2.VideoCapture(str(video))
    pictures = [cap.read()[1] for _ in range(frames)]
    cap.release()
    h, w = pictures[0].shape[:2]
    grabs = ScreenSource(1000.0, region=f"0,0,{w},{h}").frames()  # no pacing: each next() grabs now
    detector = FaceDetector(load_config().detector)
    gallery = StudentGallery()
    if modelio.DEFAULT_MODEL.exists():
        model, which = modelio.load(), modelio.DEFAULT_MODEL.name
    else:  # same architecture, untrained: the cost is the same
        from training.architectures import build

        model, which = build("fer_fast"), "fer_fast (untrained: models/fer_fast.keras not there yet)"
    costs: dict[str, list[float]] = {"grab": [], "detect": [], "reid": [], "fer": []}
    faces_seen = []
    for i in range(frames):
        screen.show(pictures[i])
        start = time.perf_counter()
        image = next(grabs).image
        costs["grab"].append(time.perf_counter() - start)
        if i == 0:
            detector.detect(image, 0.0)  # the one-off plan search is not a per-frame cost
        start = time.perf_counter()
        faces = detector.detect(image, 1.0 + i)
        costs["detect"].append(time.perf_counter() - start)
        boxes = [f.box for f in faces]
        start = time.perf_counter()
        gallery.assign_boxes(float(i), image, list(range(len(boxes))), boxes)
        costs["reid"].append(time.perf_counter() - start)
        crops = [image[y:y + bh, x:x + bw] for x, y, bw, bh in boxes if bw > 0 and bh > 0]
        start = time.perf_counter()
        if crops:
            model.predict_on_batch(prepare_faces(crops))
        costs["fer"].append(time.perf_counter() - start)
        faces_seen.append(len(faces))
    detector.close()
    print(f"per analysed frame ({w}x{h}, {np.mean(faces_seen):.1f} faces found, detector plan: {detector.plan.reason}; "
          f"FER model {which}):")
    total = 0.0
    for stage, values in costs.items():
        median = float(np.median(values[1:] or values))
        total += median
        print(f"  {stage:7s} median {median * 1000:7.1f} ms")
    print(f"  total   {total * 1000:7.1f} ms (the budget at 5 fps is 200 ms)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(ROOT / "assets/demo_class.mp4"), help="gallery video to show")
    p.add_argument("--seconds", type=float, default=60.0, help="how long the engine watches (default 60)")
    p.add_argument("--fps", type=float, default=5.0, help="the engine's analysis rate (default 5)")
    p.add_argument("--warmup", type=float, default=10.0,
                   help="seconds of media time left out at the start (model loading, detector planning)")
    p.add_argument("--engine-arg", action="append", default=[], help="extra argument for `engine live` (repeatable)")
    p.add_argument("--stages", action="store_true", help="measure each stage's cost per frame instead")
    args = p.parse_args(argv)
    video = Path(args.video)
    if not video.exists():
        print(f"error: video not found: {video}", file=sys.stderr)
        return 2
    print(describe())
    try:
        screen = VirtualScreen((1280, 720))
    except VirtualScreenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.stages:
        with screen:
            stage_costs(screen, video)
        return 0
    with screen, tempfile.TemporaryDirectory() as tmp:
        player = Player(screen, video)
        h, w = player.frames[0].shape[:2]
        player.start()
        db_url = f"sqlite:///{tmp}/live.db"
        from db import connect

        connect(db_url)  # create the tables, so the poller can start before the engine writes
        cmd = [sys.executable, "-m", "engine", "live", "--screen", "--region", f"0,0,{w},{h}",
               "--db", db_url, "--fps", f"{args.fps:g}", *args.engine_arg]
        print("engine:", " ".join(cmd[1:]))
        env = {**os.environ, "DISPLAY": screen.display}
        seen: dict[int, tuple[datetime, datetime]] = {}
        stop = threading.Event()
        poller = threading.Thread(target=poll, args=(db_url, seen, stop), daemon=True)
        poller.start()
        log = Path(tmp) / "engine.log"
        with log.open("wb") as fh:
            engine = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
            started = time.monotonic()
            try:
                while time.monotonic() - started < args.seconds and engine.poll() is None:
                    time.sleep(0.5)
            finally:
                if engine.poll() is None:
                    engine.send_signal(signal.SIGINT)
                    try:
                        engine.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        engine.kill()
                        engine.wait()
        time.sleep(3 * POLL_S)
        stop.set()
        poller.join()
        player.stop.set()
        player.join()
        if engine.returncode not in (0, -signal.SIGINT, 130):
            print(f"error: the engine exited with {engine.returncode}:\n{log.read_text()[-2000:]}", file=sys.stderr)
            return 1
        if not seen:
            print(f"error: no observation reached the database:\n{log.read_text()[-2000:]}", file=sys.stderr)
            return 1
        first_wall = min(wall for wall, _ in seen.values())
        kept = {oid: v for oid, v in seen.items() if (v[0] - first_wall).total_seconds() >= args.warmup}
        to_record = [(now - player.shown_before(wall)).total_seconds() for wall, now in kept.values()
                     if player.shown_before(wall)]
        capture = [(now - wall).total_seconds() for wall, now in kept.values()]
        frames = sorted({wall for wall, _ in kept.values()})
        span = (frames[-1] - frames[0]).total_seconds() if len(frames) > 1 else float("nan")
        print(f"{len(kept)} observations from {len(frames)} frames over {span:.1f} s after a {args.warmup:g} s warm-up "
              f"({(len(frames) - 1) / span if span else float('nan'):.2f} analysed frames/s, asked {args.fps:g}; "
              f"{len(kept) / max(1, len(frames)):.1f} faces a frame; {w}x{h} screen region)")
        print(f"screen -> database:  {summary(to_record)}")
        print(f"capture -> database: {summary(capture)}")
        under = np.mean(np.array(to_record) < 1.0)
        print(f"{under:.1%} of observations were in the database within 1 s of their frame appearing on screen")
    return 0


if __name__ == "__main__":
    sys.exit(main())
