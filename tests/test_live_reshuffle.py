"""Gallery reshuffle: when the meeting app moves every tile to another place in the grid, each
student keeps their one student record (appearance re-identification, engine/reid.py).

A 3x3 gallery of nine FER2013 faces is rendered with assets/make_demo_class.py; half-way
through, the tiles are permuted (with their name strips). The video goes through the real
engine (`python -m engine process VIDEO --db URL --json`); the database must then hold nine
students, and every face's observations must belong to one student.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from live_support import load_demo_module

from db import connect
from db import repository as repo

REPO = Path(__file__).resolve().parents[1]
SIZE, GRID, FPS = (960, 540), (3, 3), 5.0
SWAP_AT, DURATION = 4.0, 8.0
NEUTRAL = 6  # index in training.labels.EMOTIONS: calm faces, so only identity changes at the swap


@pytest.fixture(scope="module")
def reshuffled_gallery(fer_data, tmp_path_factory):
    demo = load_demo_module()
    test = fer_data.split("PrivateTest")
    rng = np.random.default_rng(11)
    n = GRID[0] * GRID[1]
    faces = rng.choice(np.flatnonzero(test.labels == NEUTRAL), n, replace=False)
    moved_to = rng.permutation(n)  # face k sits on tile k, then on tile moved_to[k]: every tile moves
    while np.any(moved_to == np.arange(n)):
        moved_to = rng.permutation(n)
    names = [demo.FIRST_NAMES[k] for k in range(n)]
    schedule = []
    for k in range(n):
        schedule.append(demo.Segment(tile=k, start=0, end=SWAP_AT, label="neutral", face=int(faces[k])))
        schedule.append(demo.Segment(tile=int(moved_to[k]), start=SWAP_AT, end=DURATION, label="neutral",
                                     face=int(faces[k]), name=names[k]))
    path = tmp_path_factory.mktemp("reshuffle") / "reshuffle.mp4"
    demo.render_gallery(path, test.images, schedule, size=SIZE, grid=GRID, fps=FPS, duration=DURATION)
    tiles = {t.tile: t.face_box for t in demo.layout(SIZE, GRID)}
    return path, moved_to, tiles


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """The shipped model, or (before it is trained) the same architecture untrained: which
    student a face belongs to does not depend on how well expressions are read."""
    from training import modelio

    if modelio.DEFAULT_MODEL.exists():
        return modelio.DEFAULT_MODEL
    from training.architectures import build

    path = tmp_path_factory.mktemp("model") / "fer_fast_untrained.keras"
    build("fer_fast").save(path)
    return path


def face_at(t: float, cx: float, cy: float, moved_to: np.ndarray, tiles: dict) -> int | None:
    for tile, (x, y, w, h) in tiles.items():
        if x <= cx < x + w and y <= cy < y + h:
            return tile if t < SWAP_AT else int(np.flatnonzero(moved_to == tile)[0])
    return None


@pytest.mark.slow
def test_every_student_keeps_one_record_through_a_reshuffle(reshuffled_gallery, model_path, tmp_path):
    video, moved_to, tiles = reshuffled_gallery
    db_url = f"sqlite:///{tmp_path / 'class.db'}"
    run = subprocess.run([sys.executable, "-m", "engine", "process", str(video), "--db", db_url, "--json",
                          "--model", str(model_path), "--no-progress"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])

    with connect(db_url)() as s:
        frame = repo.observations_frame(s, result["session_id"])
    frame["face"] = [face_at(t, x + w / 2, y + h / 2, moved_to, tiles)
                     for t, x, y, w, h in frame[["t", "box_x", "box_y", "box_w", "box_h"]].itertuples(index=False)]
    on_faces = frame.dropna(subset=["face"])
    n = len(tiles)
    # Every face was seen on both sides of the reshuffle, and kept one student throughout ...
    assert sorted(on_faces["face"].unique()) == list(range(n))
    for face, rows in on_faces.groupby("face"):
        assert rows["t"].min() < SWAP_AT <= rows["t"].max(), f"face {face} not seen on both sides of the swap"
        assert rows["student_id"].nunique() == 1, (face, rows[["t", "student_id"]].to_string())
    # ... each face its own student, and no other students were made.
    assert on_faces.groupby("face")["student_id"].first().nunique() == n
    assert result["students"] == n, result
