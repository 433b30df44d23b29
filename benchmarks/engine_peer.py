"""A peer on the same demo: the ``fer`` package (Haar-cascade faces + its own FER2013 CNN).

Runs in its own virtual environment (``fer`` pins other versions of our libraries), e.g.::

    python3.11 -m venv /tmp/peer_venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/peer_venv/lib/python3.11/site-packages/main.pth
    /tmp/peer_venv/bin/pip install --no-deps fer==25.10.3      # MTCNN (torch) not needed: Haar faces
    /tmp/peer_venv/bin/python benchmarks/engine_peer.py [--fps 1]

It reads the demo recording at ``--fps``, runs ``FER(mtcnn=False).detect_emotions`` on each
frame and scores it like ``benchmarks/engine_accuracy.py``: face segments found, readings on no
face, and each segment's dominant emotion (from ``--settle`` s after its start) against the
truth. ``fer`` has no tracking, so identity is not compared.

With ``--video PATH`` it only times ``fer`` on that file instead (no scoring): it prints the
median ms per analysed frame and the real-time factor (media seconds per wall second of the
read + detect loop, model loading left out); ``--json`` prints that as one JSON object on the
last stdout line, with every analysed frame's boxes, for ``benchmarks/engine_layouts.py``::

    /tmp/peer_venv/bin/python benchmarks/engine_peer.py --video clip.mp4 --fps 5 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks._machine import describe  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--video", help="time fer on this file only (no scoring against the demo's truth)")
    ap.add_argument("--json", action="store_true", help="with --video: one JSON object, boxes included")
    args = ap.parse_args()
    if args.video:
        return time_video(args.video, args.fps, args.json)

    import cv2
    import numpy as np
    from engine_support import DEMO_VIDEO, read_truth, tile_of
    from fer import __version__ as fer_version
    from fer.fer import FER

    print(f"machine: {describe()}")
    truth = read_truth()
    peer = FER(mtcnn=False)
    cap = cv2.VideoCapture(str(DEMO_VIDEO))
    native = cap.get(cv2.CAP_PROP_FPS)
    readings, ms, i, last_slot = [], [], 0, -1
    ok, frame = cap.read()
    while ok:
        t = i / native
        slot = int(t * args.fps + 1e-6)
        if slot > last_slot:
            last_slot = slot
            started = time.perf_counter()
            found = peer.detect_emotions(frame)
            ms.append(1000 * (time.perf_counter() - started))
            for face in found:
                x, y, w, h = (int(v) for v in face["box"])
                readings.append((t, tile_of(truth, x + w / 2, y + h / 2), max(face["emotions"], key=face["emotions"].get)))
        i += 1
        ok, frame = cap.read()
    end = i / native
    off = sum(1 for _, tile, _ in readings if tile is None)
    faces = [r for r in truth if r["label"] != "absent" and r["start"] < end]
    found = right = n = 0
    for r in faces:
        seg = [e for t, tile, e in readings if tile == r["tile"] and r["start"] <= t < r["end"]]
        found += bool(seg)
        settled = [e for t, tile, e in readings if tile == r["tile"] and r["start"] + args.settle <= t < r["end"]]
        if len(settled) >= 3:
            n += 1
            right += Counter(settled).most_common(1)[0][0] == r["label"]
    print(f"fer {fer_version} (Haar cascade + its CNN) on {DEMO_VIDEO.name} at {args.fps:g} fps: "
          f"{np.median(ms):.0f} ms/frame (real-time factor at 5 fps: {1000 / (5 * np.median(ms)):.2f})")
    print(f"found {found} of {len(faces)} face segments; {off} of {len(readings)} readings on no face; "
          f"emotion over {n} segments: {right / max(n, 1):.3f}")
    return 0


def time_video(video: str, fps: float, as_json: bool) -> int:
    """fer on every frame of ``video`` sampled at ``fps`` (the engine's sampling rule): timings and boxes."""
    import math

    import cv2
    import numpy as np
    from fer import __version__ as fer_version
    from fer.fer import FER

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        print(f"error: cannot read {video}", file=sys.stderr)
        return 2
    native = cap.get(cv2.CAP_PROP_FPS) or 25.0
    # Keras prints a progress bar per predict on stdout: keep stdout for the result.
    with contextlib.redirect_stdout(sys.stderr):
        peer = FER(mtcnn=False)
        frames, ms, i, last_slot, t = [], [], 0, -1, 0.0
        started = time.perf_counter()
        while cap.grab():
            t = i / native
            i += 1
            slot = math.floor(t * fps + 1e-6)
            if slot <= last_slot:
                continue
            ok, frame = cap.retrieve()
            if not ok:
                continue
            last_slot = slot
            begun = time.perf_counter()
            found = peer.detect_emotions(frame)
            ms.append(1000 * (time.perf_counter() - begun))
            frames.append([round(t, 4), [[int(v) for v in face["box"]] for face in found]])
        wall = time.perf_counter() - started
    cap.release()
    seconds = i / native
    result = {"peer": f"fer {fer_version}", "video": str(video), "fps": fps, "frames": len(frames),
              "video_seconds": round(seconds, 3), "wall_seconds": round(wall, 3),
              "median_ms": round(float(np.median(ms)), 1) if ms else None,
              "realtime_factor": round(seconds / wall, 3) if wall > 0 else None,
              "faces_per_frame": round(sum(len(b) for _, b in frames) / max(len(frames), 1), 2)}
    if as_json:
        print(json.dumps({**result, "boxes": frames}))
    else:
        print(f"machine: {describe()}")
        print(f"{result['peer']} (Haar cascade + its CNN) on {video} at {fps:g} fps: {result['median_ms']} ms/frame, "
              f"real-time factor {result['realtime_factor']} ({result['frames']} frames, "
              f"{result['faces_per_frame']} faces/frame)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
