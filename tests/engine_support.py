"""Helpers shared by the tests/test_engine_*.py files (imported explicitly, not a conftest)."""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_VIDEO = REPO / "assets" / "demo_class.mp4"
DEMO_TRUTH = REPO / "assets" / "demo_class_truth.csv"
DEFAULT_MODEL = REPO / "models" / "fer_fast.keras"


def need_model() -> Path:
    """The expression model the tests run (ENGINE_TEST_MODEL overrides the shipped default)."""
    override = os.environ.get("ENGINE_TEST_MODEL")
    if override:
        return Path(override)
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"the expression model {DEFAULT_MODEL} is not there yet (trained by `make train`)")
    return DEFAULT_MODEL


def demo_module():
    """assets/make_demo_class.py as a module (assets/ is not a package)."""
    if "make_demo_class" in sys.modules:
        return sys.modules["make_demo_class"]
    spec = importlib.util.spec_from_file_location("make_demo_class", REPO / "assets" / "make_demo_class.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def cut_video(src: Path, dst: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``src`` re-encoded with OpenCV (mp4v)."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    ok, frame = cap.read()
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
    for _ in range(round(seconds * fps)):
        if not ok:
            break
        writer.write(frame)
        ok, frame = cap.read()
    writer.release()
    cap.release()
    return dst


def write_video(path: Path, frames: list[np.ndarray], fps: float = 5.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def read_truth(path: Path = DEMO_TRUTH) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("tile", "x", "y", "w", "h", "fer_index"):
            r[k] = int(r[k])
        r["start"], r["end"] = float(r["start"]), float(r["end"])
    return rows


def tile_of(truth: list[dict], cx: float, cy: float) -> int | None:
    for r in truth:
        if r["x"] <= cx < r["x"] + r["w"] and r["y"] <= cy < r["y"] + r["h"]:
            return r["tile"]
    return None


def segment_at(truth: list[dict], tile: int, t: float) -> dict | None:
    for r in truth:
        if r["tile"] == tile and r["start"] <= t < r["end"]:
            return r
    return None


def small_faces_scene(images: np.ndarray, seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A 640x352 frame with 17 FER faces of 16-25 px on a blurred background (a ceiling camera)."""
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur((rng.random((352, 640, 3)) * 60 + 80).astype(np.uint8), (0, 0), 6)
    boxes = []
    for k, idx in enumerate(rng.choice(len(images), 17, replace=False)):
        s = int(rng.integers(16, 26))
        row, col = divmod(k, 6)
        x, y = int(30 + col * 100 + rng.integers(0, 40)), int(30 + row * 110 + rng.integers(0, 40))
        frame[y:y + s, x:x + s] = cv2.resize(images[idx], (s, s), interpolation=cv2.INTER_AREA)[:, :, None]
        boxes.append((x, y, s, s))
    return frame, boxes
