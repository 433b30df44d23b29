"""Build the demo recording: an online-class gallery view (5x5 tiles) of FER2013 faces.

    .venv/bin/python assets/make_demo_class.py          # writes assets/demo_class.mp4 + _truth.csv

The recording is a stand-in for a real class: FER2013 has no identities, so each tile
("student") shows a sequence of different PrivateTest faces, one per segment, chosen so
that the ground-truth expression of every tile is known at every moment. The truth CSV
beside the video is what tests and benchmarks score the engine against.

Everything is seeded: re-running the script reproduces the same schedule, the same
frames and the same truth file.

Other code (tests, benchmarks) imports this file to render its own galleries::

    spec = importlib.util.spec_from_file_location("make_demo_class", "assets/make_demo_class.py")
    demo = importlib.util.module_from_spec(spec); spec.loader.exec_module(demo)
    rows = demo.render_gallery(path, faces, [demo.Segment(tile=0, start=0, end=4, label="happy", face=12)])
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: make `training` importable
    sys.path.insert(0, str(ROOT))

from training.labels import EMOTIONS  # noqa: E402

ABSENT = "absent"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
DEFAULT_VIDEO = ROOT / "assets" / "demo_class.mp4"
TRUTH_COLUMNS = ("tile", "row", "col", "x", "y", "w", "h", "start", "end", "label", "fer_index")

FIRST_NAMES = (
    "Amara", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas",
    "Kofi", "Lena", "Mateo", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Sami", "Tara",
    "Umar", "Vera", "Wen", "Ximena", "Yusuf",
)

# Meeting-app look (BGR).
BACKGROUND = (24, 22, 20)
TILE_COLOUR = (48, 44, 40)
BORDER_COLOUR = (80, 76, 72)
STRIP_COLOUR = (30, 28, 26)
TEXT_COLOUR = (235, 235, 235)
TOP_BAR = 24  # title bar height in pixels
GAP = 6  # space between tiles
STRIP = 18  # name strip height under each face


@dataclass(frozen=True)
class Segment:
    """One stretch of time on one tile: a face (key into ``faces``) or camera off.

    ``face`` is None for camera-off (label ``absent``). ``name`` overrides the tile's
    name strip, e.g. for a student who moved to another tile.
    """

    tile: int
    start: float  # seconds, inclusive
    end: float  # seconds, exclusive
    label: str
    face: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class TileLayout:
    tile: int
    row: int
    col: int
    tile_box: tuple[int, int, int, int]  # x, y, w, h of the whole tile
    face_box: tuple[int, int, int, int]  # x, y, w, h where the face is drawn
    strip_box: tuple[int, int, int, int]  # name strip under the face


def layout(size: tuple[int, int] = (1280, 720), grid: tuple[int, int] = (5, 5)) -> list[TileLayout]:
    """Tile geometry of a gallery: ``size`` is (width, height), ``grid`` is (rows, cols)."""
    width, height = size
    rows, cols = grid
    tile_w = (width - GAP * (cols + 1)) // cols
    tile_h = (height - TOP_BAR - GAP * (rows + 1)) // rows
    face = max(8, min(tile_h - STRIP - 4, tile_w - 8))  # square face, as large as the tile allows
    out = []
    for r in range(rows):
        for c in range(cols):
            x = GAP + c * (tile_w + GAP)
            y = TOP_BAR + GAP + r * (tile_h + GAP)
            fx = x + (tile_w - face) // 2
            fy = y + 2
            out.append(TileLayout(r * cols + c, r, c, (x, y, tile_w, tile_h), (fx, fy, face, face),
                                  (x, fy + face, tile_w, tile_h - face - 2)))
    return out


def _draw_chrome(size, tiles, names, title) -> np.ndarray:
    """The still parts of every frame: background, tiles, borders, name strips."""
    width, height = size
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    cv2.putText(frame, title, (GAP + 2, TOP_BAR - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, TEXT_COLOUR, 1, cv2.LINE_AA)
    for t in tiles:
        x, y, w, h = t.tile_box
        cv2.rectangle(frame, (x, y), (x + w - 1, y + h - 1), TILE_COLOUR, -1)
        cv2.rectangle(frame, (x, y), (x + w - 1, y + h - 1), BORDER_COLOUR, 1)
        _draw_name(frame, t, names[t.tile])
    return frame


def _draw_name(frame, tile: TileLayout, name: str) -> None:
    x, y, w, h = tile.strip_box
    cv2.rectangle(frame, (x + 1, y), (x + w - 2, y + h - 1), STRIP_COLOUR, -1)
    cv2.putText(frame, name, (x + 6, y + h - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, TEXT_COLOUR, 1, cv2.LINE_AA)


def _draw_camera_off(frame, tile: TileLayout, name: str) -> None:
    x, y, w, h = tile.face_box
    tx, _, tw, _ = tile.tile_box
    cv2.rectangle(frame, (tx + 1, y), (tx + tw - 2, y + h - 1), TILE_COLOUR, -1)
    (text_w, text_h), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 1)
    cv2.putText(frame, name, (tx + (tw - text_w) // 2, y + (h + text_h) // 2), cv2.FONT_HERSHEY_SIMPLEX,
                0.7, TEXT_COLOUR, 1, cv2.LINE_AA)


def render_gallery(
    path: str | os.PathLike,
    faces: Mapping[int, np.ndarray] | Sequence[np.ndarray] | np.ndarray,
    schedule: Sequence[Segment],
    size: tuple[int, int] = (1280, 720),
    grid: tuple[int, int] = (5, 5),
    fps: float = 10.0,
    duration: float | None = None,
    names: Sequence[str] | None = None,
    title: str = "Class meeting - gallery view",
    jitter: bool = True,
    seed: int = 0,
    progress: bool = False,
) -> list[dict]:
    """Write a gallery video (OpenCV ``mp4v``) and return its truth rows (TRUTH_COLUMNS).

    ``faces[key]`` is a grey (or BGR) face image of any size; it is upscaled with
    INTER_CUBIC to the tile's face box. A tile with no segment at some moment shows its
    empty tile (nobody joined); a segment with ``face=None`` shows camera off.
    ``duration`` defaults to the end of the last segment.
    """
    tiles = layout(size, grid)
    names = list(names) if names is not None else [FIRST_NAMES[i % len(FIRST_NAMES)] for i in range(len(tiles))]
    for seg in schedule:
        if not 0 <= seg.tile < len(tiles):
            raise ValueError(f"segment tile {seg.tile} outside the {grid[0]}x{grid[1]} grid")
        if seg.label != ABSENT and seg.label not in EMOTIONS:
            raise ValueError(f"segment label {seg.label!r} is not an emotion nor {ABSENT!r}")
        if (seg.face is None) != (seg.label == ABSENT):
            raise ValueError(f"segment on tile {seg.tile} at {seg.start}s: face must be None exactly when absent")
    if duration is None:
        duration = max(s.end for s in schedule)
    n_frames = int(round(duration * fps))

    chrome = _draw_chrome(size, tiles, names, title)
    # Upscale every face once; frames then only paste and jitter.
    scaled: dict[tuple[int, int], np.ndarray] = {}
    for seg in schedule:
        if seg.face is None:
            continue
        fw = tiles[seg.tile].face_box[2]
        key = (seg.face, fw)
        if key not in scaled:
            img = np.asarray(faces[seg.face])
            if img.ndim == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            scaled[key] = cv2.resize(img, (fw, fw), interpolation=cv2.INTER_CUBIC).astype(np.float32)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path} with the mp4v codec")
    rng = np.random.default_rng(seed)
    # A slow per-tile brightness drift (webcam auto-exposure) plus faint sensor noise.
    drift = np.zeros(len(tiles), np.float32)
    frames = range(n_frames)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc=f"rendering {path.name}", unit="frame", mininterval=1.0)
    try:
        for i in frames:
            t = i / fps
            frame = chrome.copy()
            drift = np.clip(drift * 0.95 + rng.normal(0, 0.8, len(tiles)), -6, 6).astype(np.float32)
            for seg in schedule:
                if not seg.start <= t < seg.end:
                    continue
                tile = tiles[seg.tile]
                name = seg.name or names[seg.tile]
                if seg.name:
                    _draw_name(frame, tile, name)
                if seg.face is None:
                    _draw_camera_off(frame, tile, name)
                    continue
                x, y, w, h = tile.face_box
                face = scaled[(seg.face, w)]
                if jitter:
                    face = face + drift[seg.tile]
                grey = np.clip(face, 0, 255).astype(np.uint8)
                frame[y:y + h, x:x + w] = grey[:, :, None]
            minutes, seconds = divmod(int(t), 60)
            cv2.putText(frame, f"{minutes:02d}:{seconds:02d}", (size[0] - 60, TOP_BAR - 7),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, TEXT_COLOUR, 1, cv2.LINE_AA)
            writer.write(frame)
    finally:
        writer.release()

    rows = []
    for seg in sorted(schedule, key=lambda s: (s.tile, s.start)):
        tile = tiles[seg.tile]
        x, y, w, h = tile.face_box
        rows.append({"tile": seg.tile, "row": tile.row, "col": tile.col, "x": x, "y": y, "w": w, "h": h,
                     "start": round(seg.start, 3), "end": round(min(seg.end, duration), 3), "label": seg.label,
                     "fer_index": -1 if seg.face is None else int(seg.face)})
    return rows


def write_truth(path: str | os.PathLike, rows: Sequence[dict]) -> None:
    """Truth CSV: one row per (tile, segment); ``fer_index`` is -1 for camera off."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS)
        w.writeheader()
        w.writerows(rows)


# Class "mood" over time: emotion weights for segments starting in each phase.
# 24-56 s is a confusing explanation (fear/sad/surprise for most of the class).
PHASES = (
    (0.0, {"neutral": 5, "happy": 4, "surprise": 1, "sad": 1}),
    (24.0, {"fear": 3, "sad": 3, "surprise": 3, "angry": 1}),
    (56.0, {"neutral": 4, "angry": 2, "disgust": 2, "sad": 1, "happy": 1}),
    (78.0, {"happy": 5, "neutral": 3, "surprise": 2}),
)


def demo_schedule(labels: np.ndarray, duration: float = 100.0, tiles: int = 25, seed: int = 2013) -> list[Segment]:
    """The demo's segments: staggered 12-18 s segments per tile, emotions by phase, no face reused.

    ``labels`` are the PrivateTest labels (index into EMOTIONS); ``Segment.face`` is an
    index into that split. Boundaries sit on half seconds, so 5 and 10 fps samples align.
    """
    rng = np.random.default_rng(seed)
    by_label = {e: list(rng.permutation(np.flatnonzero(labels == i))) for i, e in enumerate(EMOTIONS)}

    def phase_weights(t):
        return [w for start, w in PHASES if start <= t][-1]

    bounds: list[list[float]] = []
    for _ in range(tiles):
        cuts = [0.0, round(rng.uniform(5, 18) * 2) / 2]
        while cuts[-1] < duration:
            cuts.append(round((cuts[-1] + rng.uniform(12, 18)) * 2) / 2)
        cuts[-1] = duration
        if cuts[-1] - cuts[-2] < 6:  # no stub at the end
            cuts.pop(-2)
        bounds.append(cuts)

    plan: list[list[str]] = []
    for cuts in bounds:
        labels_for_tile = []
        for a, b in zip(cuts, cuts[1:], strict=False):
            weights = phase_weights((a + b) / 2)
            names = list(weights)
            p = np.array([weights[n] for n in names], float)
            labels_for_tile.append(names[rng.choice(len(names), p=p / p.sum())])
        plan.append(labels_for_tile)

    # Camera off: two students join late, three switch off for a while, one leaves early.
    off_tiles = rng.choice(tiles, size=6, replace=False)
    plan[off_tiles[0]][0] = ABSENT
    plan[off_tiles[1]][0] = ABSENT
    for k in off_tiles[2:5]:
        plan[k][len(plan[k]) // 2] = ABSENT
    plan[off_tiles[5]][-1] = ABSENT

    # Every emotion at least once (disgust is rare in the phases above).
    for emotion in EMOTIONS:
        if not any(emotion in p for p in plan):
            k = int(rng.integers(tiles))
            spots = [j for j, lab in enumerate(plan[k]) if lab != ABSENT]
            plan[k][spots[int(rng.integers(len(spots)))]] = emotion

    schedule = []
    for tile, (cuts, labs) in enumerate(zip(bounds, plan, strict=True)):
        for (a, b), lab in zip(zip(cuts, cuts[1:], strict=False), labs, strict=True):
            face = None if lab == ABSENT else int(by_label[lab].pop())
            schedule.append(Segment(tile=tile, start=a, end=b, label=lab, face=face))
    return schedule


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="FER2013 CSV (default: ../shared/data/...)")
    parser.add_argument("--out", default=str(DEFAULT_VIDEO), help="video path; the truth CSV goes beside it")
    parser.add_argument("--duration", type=float, default=100.0, help="seconds (default 100)")
    # 5 fps: what the engine samples anyway; OpenCV's mp4v writer has a fixed 12-frame GOP at
    # near-lossless quality, so the file size grows with the frame count (10 fps: ~10 MB).
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second (default 5)")
    args = parser.parse_args(argv)

    from training.data import DataError, load

    try:
        test = load(args.data).split("PrivateTest")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    schedule = demo_schedule(test.labels, duration=args.duration)
    out = Path(args.out)
    rows = render_gallery(out, test.images, schedule, fps=args.fps, duration=args.duration,
                          title="Biology 9B - gallery view", progress=True)
    truth = out.with_name(out.stem + "_truth.csv")
    write_truth(truth, rows)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {truth} ({len(rows)} segments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
