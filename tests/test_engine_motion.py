"""Following a known face by its pixels (engine/motion.py) and the expression model's TensorFlow
Lite runtime (engine/classify.py): each must give what the slower way gives."""

from __future__ import annotations

import numpy as np
import pytest
from engine_support import need_model

from engine.detect import Face
from engine.motion import follow

MATCH = 0.9


def _scene(fer_data, face_index: int, at: tuple[float, float], side: int = 64, seed: int = 0) -> np.ndarray:
    """A 320x240 grey frame of noise-textured background with one FER face of ``side`` px whose
    top-left corner is at ``at`` (fractions of a pixel by resampling)."""
    import cv2

    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.integers(60, 200, (240, 320), dtype=np.uint8), (0, 0), 3)
    face = cv2.resize(fer_data.images[face_index], (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    shift = np.float32([[1, 0, at[0]], [0, 1, at[1]]])
    placed = cv2.warpAffine(face, shift, (320, 240), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones_like(face), shift, (320, 240), flags=cv2.INTER_LINEAR)
    return (frame * (1 - mask) + placed * mask).astype(np.uint8)


def _box(x: float, y: float, side: int = 64) -> Face:
    kps = np.array([[x + 20, y + 25], [x + 44, y + 25], [x + 32, y + 38], [x + 32, y + 50], [x, y + 30], [x + 64, y + 30]],
                   np.float32)
    return Face(x, y, side, side, 0.8, kps)


@pytest.mark.parametrize("move", [(0.0, 0.0), (2.6, -1.3), (-4.2, 3.7)])
def test_a_face_that_moved_is_followed_to_within_half_a_pixel(fer_data, move):
    before = _scene(fer_data, 7, (120.0, 80.0))
    after = _scene(fer_data, 7, (120.0 + move[0], 80.0 + move[1]))
    followed = follow(before, after, _box(120.0, 80.0), MATCH)
    assert followed is not None
    assert followed.x == pytest.approx(120.0 + move[0], abs=0.5) and followed.y == pytest.approx(80.0 + move[1], abs=0.5)
    assert (followed.w, followed.h, followed.score) == (64, 64, 0.8)  # size and score are carried
    assert np.allclose(followed.keypoints - _box(120.0, 80.0).keypoints, [followed.x - 120.0, followed.y - 80.0], atol=1e-3)


def test_someone_else_in_the_seat_or_an_empty_seat_is_not_followed(fer_data):
    before = _scene(fer_data, 7, (120.0, 80.0))
    others = [i for i in range(40, 60) if i != 7]
    matches = [follow(before, _scene(fer_data, i, (120.0, 80.0)), _box(120.0, 80.0), MATCH) for i in others]
    assert sum(m is not None for m in matches) <= 1  # FER faces are alike (grey, centred, 48 px); most differ
    empty = _scene(fer_data, 7, (400.0, 80.0))  # the face has left the frame
    assert follow(before, empty, _box(120.0, 80.0), MATCH) is None
    assert follow(before, before, _box(300.0, 80.0), MATCH) is None  # a box reaching out of the frame


def test_the_tflite_runtime_gives_the_keras_models_probabilities(fer_data, tmp_path, monkeypatch):
    """Converted into an empty cache, then read from it; another model file (a retrained one) is
    converted afresh, never answered from the old one's entry."""
    from engine.classify import ExpressionModel, tflite_cache_dir
    from training import modelio
    from training.architectures import build
    from training.preprocessing import prepare_faces

    path = need_model()
    monkeypatch.setenv("CLASSROOM_MODEL_CACHE", str(tmp_path / "cache"))
    faces = prepare_faces(list(fer_data.images[:20]))
    reference = np.asarray(modelio.load(path).predict_on_batch(faces), np.float32)
    lite = ExpressionModel(path)
    assert lite.runtime == "tflite"
    assert len(list(tflite_cache_dir().glob("*.tflite"))) == 1
    assert np.abs(lite.predict(faces) - reference).max() < 1e-5
    again = ExpressionModel(path, threads=1)  # from the cache now
    assert len(list(tflite_cache_dir().glob("*.tflite"))) == 1
    assert np.abs(again.predict(faces[:7]) - reference[:7]).max() < 1e-5  # a batch cut 4 + 1 + 1 + 1

    retrained = tmp_path / path.name  # same name, other weights
    build("fer_fast").save(retrained)
    other = ExpressionModel(retrained)
    assert len(list(tflite_cache_dir().glob("*.tflite"))) == 2
    expected = np.asarray(modelio.load(retrained).predict_on_batch(faces), np.float32)
    assert np.abs(other.predict(faces) - expected).max() < 1e-5
    assert np.abs(expected - reference).max() > 0.01  # the check above could tell the two apart


def test_the_engine_runs_a_recording_without_importing_tensorflow(tmp_path):
    """TensorFlow's import is most of a worker's start (engine/runtime.py): a run whose model is
    converted already must not load it, MediaPipe's import included."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from engine_support import cut_video

    from engine.classify import ExpressionModel

    ExpressionModel(need_model())  # converted into the cache here, if it was not yet
    root = Path(__file__).resolve().parents[1]
    clip = cut_video(root / "assets" / "demo_class.mp4", tmp_path / "demo.mp4", 2.0)
    probe = ("import json, sys; from engine.classify import ExpressionModel; from engine.config import load_config; "
             "from engine.pipeline import RunOptions, run; from engine.sources import open_source; "
             f"src = open_source({str(clip)!r}, 5.0); "
             f"s = run(src, 'sqlite:///{tmp_path / 'r.db'}', load_config(), RunOptions(progress=False), "
             "model=ExpressionModel()); "
             "print(json.dumps([s.students, 'tensorflow' in sys.modules, 'keras' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    students, tensorflow, keras = json.loads(out.stdout.strip().splitlines()[-1])
    assert students > 0
    assert not tensorflow and not keras
