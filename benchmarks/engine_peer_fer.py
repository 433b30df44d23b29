"""Peer figure: the `fer` package's own video analysis on the demo recording.

    # once: a separate venv (never .venv) that borrows .venv's TensorFlow/OpenCV/numpy
    /root/.pyenv/versions/3.11.7/bin/python -m venv /tmp/fervenv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/fervenv/lib/python3.11/site-packages/zz_main.pth
    /tmp/fervenv/bin/pip install --no-deps fer==25.10.3
    # then
    /tmp/fervenv/bin/python benchmarks/engine_peer_fer.py [--seconds S]

`fer` (https://github.com/justinshenk/fer) is the best-known pip package for this job: an
OpenCV Haar cascade finds faces, a small Keras CNN (its own FER2013 model) reads them, and
``fer.Video.analyze`` runs that over a video. Its MTCNN detector needs PyTorch
(facenet-pytorch) and is not measured. The video is analysed at the same 5 frames a second
as ``benchmarks/engine_speed.py`` (the demo is stored at 5 fps: every frame), with no frames,
video or zip written. Printed: wall time, real-time factor, faces per frame, tiles found,
and each segment's dominant emotion against the demo truth (as ``engine_accuracy.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
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
    ap.add_argument("--seconds", type=float, help="only the first S seconds of the demo")
    args = ap.parse_args()
    try:
        from fer.classes import Video  # 25.x: the package root no longer re-exports these
        from fer.fer import FER
    except ImportError:
        print("the fer package is not installed in this interpreter; see this script's docstring", file=sys.stderr)
        return 2
    import fer as fer_pkg

    from engine_support import DEMO_VIDEO, cut_video, read_truth, tile_of

    logging.getLogger("fer").setLevel(logging.ERROR)
    print(f"machine: {describe()}")
    truth = read_truth()
    with tempfile.TemporaryDirectory() as tmp:
        video = cut_video(DEMO_VIDEO, Path(tmp) / "cut.mp4", args.seconds) if args.seconds else DEMO_VIDEO
        detector = FER()  # Haar cascade + the package's CNN (its default)
        started = time.perf_counter()
        # first_face_only=False: every face, not just the first of each frame (the package's default).
        result = Video(str(video), outdir=tmp, first_face_only=False).analyze(
            detector, display=False, output="pandas", frequency=1, save_frames=False, save_video=False,
            annotate_frames=False, zip_images=False,
        )
        wall = time.perf_counter() - started
    import cv2

    cap = cv2.VideoCapture(str(DEMO_VIDEO))
    end = min(args.seconds or 1e9, cap.get(cv2.CAP_PROP_FRAME_COUNT) / cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    # The package drops frames where it found no face from its result; every demo frame shows
    # faces, so row i is frame i (t = i / 5).
    frames = len(result)
    print(f"fer {getattr(fer_pkg, '__version__', '?')} on {DEMO_VIDEO.name}: {end:.1f} s, {frames} frames with faces "
          f"in {wall:.1f} s: real-time factor {end / wall:.2f}")
    # One column group per face slot: box0, angry0, ... box1, angry1, ...
    emotions = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    readings = []  # (t, tile, emotion)
    slots = sorted({int(c[3:]) for c in result.columns if c.startswith("box") and c[3:].isdigit()})
    for i, row in enumerate(result.itertuples(index=False)):
        rec = row._asdict()
        for k in slots:
            box = rec.get(f"box{k}")
            if box is None or not hasattr(box, "__len__") or len(box) != 4:  # numpy array, tuple or NaN
                continue
            x, y, w, h = box
            probs = [rec.get(f"{e}{k}") or 0.0 for e in emotions]
            readings.append((i / 5.0, tile_of(truth, x + w / 2, y + h / 2), emotions[max(range(7), key=probs.__getitem__)]))
    on_tiles = [r for r in readings if r[1] is not None]
    print(f"faces per frame {len(readings) / max(frames, 1):.1f} (the demo shows up to 25); "
          f"{len(readings) - len(on_tiles)} readings on no face; tiles found {len({r[1] for r in on_tiles})} of 25")
    right = n = 0
    for seg in truth:
        if seg["label"] == "absent" or seg["start"] >= end:
            continue
        got = [e for t, tile, e in on_tiles if tile == seg["tile"] and seg["start"] + 1.0 <= t < min(seg["end"], end)]
        if len(got) < 3:
            continue
        n += 1
        right += Counter(got).most_common(1)[0][0] == seg["label"]
    print(f"emotion: dominant reading right in {right} of {n} segments where fer found the face "
          f"({right / max(n, 1):.3f}); segments with a face in the demo: "
          f"{sum(1 for s in truth if s['label'] != 'absent' and s['start'] < end)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
