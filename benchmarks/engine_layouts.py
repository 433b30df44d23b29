"""The engine and the ``fer`` peer on synthetic meeting galleries of 2x2 to 7x7 tiles (and real clips).

    .venv/bin/python benchmarks/engine_layouts.py [--layouts 2x2,5x5] [--sizes 720,1080] [--seconds 20]
        [--fps 5] [--peer-python /tmp/peer_venv/bin/python] [--detections] [--reshuffle-at S] [--no-real]

For each layout and frame size a gallery clip is generated (``tests/layouts.py``: FER2013 faces
on virtual backgrounds, name labels, drift, slow zoom, expression changes; 10 fps) into a
temporary folder and run end to end by ``engine.pipeline.run`` at ``--fps`` with database
writes (what ``python -m engine process`` does). Figures per clip:

* **ours x / fer x**: real-time factor, media seconds analysed per wall second (>= 1 keeps up
  with a live class at this fps; the convention of benchmarks/engine_speed.py). Ours is the
  run's ``video_seconds / wall_seconds`` (detector set-up included, the expression model
  loaded once before); the peer's is its read + detect loop (``benchmarks/engine_peer.py
  --video ... --json``, run in its own virtualenv, model loading left out).
* **recall, false/frame**: the boxes the session recorded (observations in its database)
  against the truth boxes of each analysed frame, matched one to one at IoU >= ``--iou`` or
  lying ``--inside`` (90 %) within the pasted FER picture: share of truth faces found, and boxes
  matching no face per analysed frame. In brackets the same at IoU alone: the truth box is the
  whole 48x48 FER picture, whose framing varies, and a box on a face that fills a third of its
  picture has an IoU under 0.3 with it, counted then as a miss and a false box at once
  (``tests/layouts.py`` ``pair_boxes``; the tests count as the first figure does). A face is
  recorded once its track is confirmed (3 sightings), so the first frames count as misses.
  ``--detections`` adds the same figures for what ``FrameAnalyzer`` returns frame by frame
  (a second pass over the clip). ``fer recall`` scores the peer's boxes the same way.
* **students**: students the session recorded; the truth is rows x cols (one per tile; more
  means identity switches or false faces, fewer means missed or merged faces).
* **kept >= 90 %** (with ``--reshuffle-at``): participants whose recorded readings were at least
  90 % one student, of the participants seen (after the first second), through the reshuffle.

The real clips in ../shared/data/real/ (skipped when absent; cut to ``--seconds``) have no
truth boxes: only the two factors and the students (truth counted by eye, from its README).

The peer virtualenv (``fer`` pins other versions of our libraries; --no-deps reuses ours)::

    python3.11 -m venv /tmp/peer_venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/peer_venv/lib/python3.11/site-packages/main.pth
    /tmp/peer_venv/bin/pip install --no-deps fer==25.10.3

Without that interpreter the fer columns are left empty, with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks._machine import describe  # noqa: E402
from benchmarks._table import print_table  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
# Students in each real clip, counted by eye (../shared/data/real/README.md; the pan: 15-20 in view, ~25 in all).
REAL_STUDENTS = {"classroom_pan.mp4": "~25: 20-30", "one_person_expressions.mp4": "1", "one_person_phone.mp4": "1",
                 "webcam_posed.mp4": "1"}
SIZES = {"720": (1280, 720), "1080": (1920, 1080), "2160": (3840, 2160)}  # 2160: a 4K screen or camera
PEER_PYTHON = "/tmp/peer_venv/bin/python"


def parse_layouts(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        rows, _, cols = item.strip().lower().partition("x")
        out.append((int(rows), int(cols)))
    return out


def score(truth, times_boxes, iou: float, inside: float | None = None) -> tuple[float, float]:
    """(recall, false boxes per frame) of ``[(t, boxes)]`` against the gallery truth, boxes paired
    as ``layouts.pair_boxes`` pairs them."""
    from layouts import match_boxes

    hits = total = false = 0
    for t, boxes in times_boxes:
        m = match_boxes(truth.at(t)[0], boxes, iou, inside)
        hits, total, false = hits + m.hits, total + m.hits + m.misses, false + m.false_boxes
    return hits / max(total, 1), false / max(len(times_boxes), 1)


def both_scores(truth, times_boxes, iou: float, inside: float) -> tuple[str, str]:
    """Recall and false boxes per frame as table cells: on the face (``inside``), and in brackets
    at IoU alone."""
    (recall, false), (recall_iou, false_iou) = (score(truth, times_boxes, iou, inside),
                                                score(truth, times_boxes, iou))
    return f"{recall:.3f} ({recall_iou:.3f})", f"{false:.2f} ({false_iou:.2f})"


def kept_through_reshuffle(truth, db_url: str, session_id: int, fps: float, iou: float,
                           settle_s: float = 1.0) -> tuple[int, int]:
    """(participants read >= 90 % of the time as one student, participants seen): each
    participant's recorded boxes (paired one to one with the truth at IoU >= ``iou``, after the
    first ``settle_s`` seconds) and the students they were recorded as."""
    from collections import Counter

    from layouts import pair_boxes

    from db import connect
    from db import repository as repo

    with connect(db_url)() as s:
        obs = repo.observations_frame(s, session_id)
    seen: dict[int, Counter] = {}
    for slot, rows in obs.groupby((obs["t"] * fps).round()):
        t = slot / fps
        if t < settle_s:
            continue
        boxes, ids = truth.at(t)
        found = rows[["box_x", "box_y", "box_w", "box_h"]].to_numpy().tolist()
        students = rows["student_id"].tolist()
        for ti, fi, _ in pair_boxes(boxes, found, iou):
            seen.setdefault(ids[ti], Counter())[students[fi]] += 1
    kept = sum(c.most_common(1)[0][1] >= 0.9 * sum(c.values()) for c in seen.values())
    return kept, len(seen)


def recorded_boxes(db_url: str, session_id: int, frames: int, fps: float) -> list[tuple[float, list]]:
    """The boxes a session recorded, per analysed frame (frames without any observation included)."""
    from db import connect
    from db import repository as repo

    with connect(db_url)() as s:
        obs = repo.observations_frame(s, session_id)
    by_slot: dict[int, list] = {}
    for t, x, y, w, h in obs[["t", "box_x", "box_y", "box_w", "box_h"]].itertuples(index=False):
        by_slot.setdefault(round(t * fps), []).append((x, y, w, h))
    slots = sorted(set(range(frames)) | set(by_slot))  # the source analyses one frame per 1/fps s
    return [(k / fps, by_slot.get(k, [])) for k in slots]


def analyser_boxes(video: Path, cfg, model) -> list[tuple[float, list]]:
    """What FrameAnalyzer returns on each analysed frame (tracked faces, before recording)."""
    from engine.pipeline import FrameAnalyzer
    from engine.sources import open_source

    analyzer = FrameAnalyzer(cfg, model)
    out = []
    try:
        with open_source(str(video), cfg.sampling.fps) as source:
            for frame in source.frames():
                students, _ = analyzer.analyse(frame)
                out.append((frame.t, [sf.face.box for sf in students]))
    finally:
        analyzer.close()
    return out


def run_peer(python: str, video: Path, fps: float, timeout: float) -> dict | str:
    """The peer's JSON result, or a note saying why there is none."""
    cmd = [python, str(ROOT / "benchmarks" / "engine_peer.py"), "--video", str(video), "--fps", str(fps), "--json"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except subprocess.TimeoutExpired:
        return f"peer timed out after {timeout:.0f} s"
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        return f"peer failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:] or ''}"
    return json.loads(lines[-1])


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", default="2x2,3x3,4x4,5x5,6x6,7x7")
    ap.add_argument("--sizes", default="720,1080", help="frame heights: 720 (1280x720), 1080 (1920x1080), 2160 (3840x2160; analysed at 1920x1080)")
    ap.add_argument("--seconds", type=float, default=20.0, help="clip length (real clips are cut to it)")
    ap.add_argument("--fps", type=float, default=5.0, help="analysis fps (the clips are written at 10)")
    ap.add_argument("--peer-python", default=PEER_PYTHON, help="the fer virtualenv's python (see the docstring)")
    ap.add_argument("--peer-timeout", type=float, default=1800.0)
    ap.add_argument("--detections", action="store_true", help="also score FrameAnalyzer's boxes (second pass)")
    ap.add_argument("--reshuffle-at", type=float, help="participants change tiles at this second")
    ap.add_argument("--iou", type=float, default=0.3)
    ap.add_argument("--inside", type=float, default=0.9, help="a box this share inside a pasted picture is on its face")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-real", action="store_true", help="skip the real clips")
    ap.add_argument("--model", help="expression model (default models/fer_fast.keras)")
    ap.add_argument("--config", help="engine config overriding engine/config.toml")
    args = ap.parse_args()
    layouts_wanted = parse_layouts(args.layouts)
    sizes = [SIZES[s.strip()] for s in args.sizes.split(",")]

    from engine_support import cut_video
    from layouts import DEFAULT_FER, make_gallery

    from engine.classify import ExpressionModel
    from engine.config import load_config
    from engine.pipeline import RunOptions, run
    from engine.sources import open_source

    machine = describe()
    print(f"machine: {machine}")
    if not DEFAULT_FER.exists():
        print(f"skipped: FER2013 data not found at {DEFAULT_FER} (the galleries are made of its faces)")
        return 0
    peer_ok = Path(args.peer_python).exists()
    if not peer_ok:
        print(f"note: no fer peer: {args.peer_python} is missing (make it as the docstring says); fer columns empty")
    cfg = load_config(args.config).replace("sampling", fps=args.fps)
    model = ExpressionModel(args.model)
    model.warm_up()
    print(f"engine model {model.version}; analysis at {args.fps:g} fps; clips of {args.seconds:g} s at 10 fps; "
          f"box match IoU >= {args.iou:g} or {args.inside:.0%} inside the picture (IoU alone in brackets)"
          + (f"; reshuffle at {args.reshuffle_at:g} s" if args.reshuffle_at else ""))

    cases = []  # (name, size text, video path, truth or None, students truth text)
    results = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="layouts-") as tmp:
        tmp = Path(tmp)
        plan = [(r, c, w, h) for r, c in layouts_wanted for w, h in sizes]
        for r, c, w, h in plan:
            cases.append((f"{r}x{c}", f"{w}x{h}", ("gallery", r, c, w, h), f"{r * c}"))
        if not args.no_real:
            if REAL.is_dir():
                for clip in sorted(REAL.glob("*.mp4")):
                    cases.append((clip.stem, None, ("real", clip), REAL_STUDENTS.get(clip.name, "?")))
            else:
                notes.append(f"real clips skipped: {REAL} not found")
        for k, (name, size, what, students_truth) in enumerate(cases):
            truth = None
            started = time.perf_counter()
            if what[0] == "gallery":
                _, r, c, w, h = what
                video = tmp / f"{name}_{h}.mp4"
                # seeded by the layout, not its place in the list: a layout is the same gallery in every run
                truth = make_gallery(video, r, c, w, h, args.seconds, fps=10, seed=args.seed + 100 * r + 10 * c + h,
                                     reshuffle_at=args.reshuffle_at)
                made = f"generated in {time.perf_counter() - started:.1f} s"
            else:
                video = what[1]
                with open_source(str(video), args.fps) as src:
                    size = f"{src.info.width}x{src.info.height}"
                    long = (src.info.duration or 0) > args.seconds + 0.5
                if long:
                    video = cut_video(video, tmp / video.name, args.seconds)
                made = "real clip" + (f", first {args.seconds:g} s" if long else "")
            db_url = f"sqlite:///{tmp / f'{k}.db'}"
            with open_source(str(video), args.fps) as source:
                s = run(source, db_url, cfg, RunOptions(progress=False), model=model)
            row = {"name": name, "size": size, "ours": s.video_seconds / s.wall_seconds, "students": s.students,
                   "students_truth": students_truth, "recall": None, "false": None, "det_recall": None,
                   "det_false": None, "fer": None, "fer_recall": None, "fer_false": None, "kept": None}
            if truth is not None:
                row["recall"], row["false"] = both_scores(truth, recorded_boxes(db_url, s.session_id,
                                                                                s.frames_analyzed, args.fps),
                                                          args.iou, args.inside)
                if args.detections:
                    row["det_recall"], row["det_false"] = both_scores(truth, analyser_boxes(video, cfg, model),
                                                                      args.iou, args.inside)
                if args.reshuffle_at:
                    row["kept"] = "{}/{}".format(*kept_through_reshuffle(truth, db_url, s.session_id, args.fps,
                                                                         args.iou))
            if peer_ok:
                peer = run_peer(args.peer_python, video, args.fps, args.peer_timeout)
                if isinstance(peer, str):
                    notes.append(f"{name} {size}: {peer}")
                else:
                    row["fer"] = peer["realtime_factor"]
                    if truth is not None:
                        row["fer_recall"], row["fer_false"] = both_scores(truth, peer["boxes"], args.iou, args.inside)
            results.append(row)
            print(f"  {name} {size}: {made}; ours {s.frames_analyzed} frames in {s.wall_seconds:.1f} s"
                  + (f"; fer {row['fer']:.2f}x" if row["fer"] else ""), flush=True)

    det = args.detections
    head = ["layout", "size", "ours x", "fer x", "ours/fer", "recall", "false/frame"]
    head += ["det recall", "det false/frame"] if det else []
    head += ["fer recall", "fer false/frame", "students (truth)"]
    head += ["kept >= 90 %"] if args.reshuffle_at else []
    table = []
    for r in results:
        ratio = r["ours"] / r["fer"] if r["fer"] else None
        cells = [r["name"], r["size"], fmt(r["ours"], ".2f"), fmt(r["fer"], ".2f"), fmt(ratio, ".1f"),
                 r["recall"] or "-", r["false"] or "-"]
        cells += [r["det_recall"] or "-", r["det_false"] or "-"] if det else []
        cells += [r["fer_recall"] or "-", r["fer_false"] or "-", f"{r['students']} ({r['students_truth']})"]
        cells += [r["kept"] or "-"] if args.reshuffle_at else []
        table.append(cells)
    print_table(head, table)
    for note in notes:
        print(f"note: {note}")
    print(f"machine: {machine}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
