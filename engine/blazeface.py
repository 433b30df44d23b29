"""BlazeFace's short-range model run on many 128 px pictures at a time.

MediaPipe's ``FaceDetection`` solution takes one picture per call and spends ~1.5 ms of graph
overhead around a model that itself runs in ~0.8 ms on a 2-core laptop; a gallery's detection
plan is 100-800 such pictures a second (tiles, and a crop around every known face). This runs
the same model file (``face_detection_short_range.tflite`` from the MediaPipe wheel, nothing
downloaded) in TensorFlow Lite on batches, and decodes its outputs as MediaPipe's graph does
(``face_detection_short_range.pbtxt``): 896 SSD anchors over 16x16 and 8x8 cells, box and
keypoint offsets scaled by the 128 px input, sigmoid scores, weighted non-maximum suppression at
IoU 0.3. ``tests/test_engine_stages.py`` checks that its boxes and scores match MediaPipe's on
the same pictures.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.runtime import import_mediapipe, interpreter

INPUT = 128
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold for this model
CHUNKS = (16, 4)  # interpreter batch sizes: per-picture cost is flat from 4 up, set-up grows with the batch
RETRY_EVERY = 25  # model calls between two looks at a thread count not in use, times its cost ratio (ThreadChoice)
MAX_BACKOFF = 8  # ... up to this many times RETRY_EVERY
COST_WEIGHT = 0.3  # weight of the latest call in a thread count's running cost per picture


@dataclass(frozen=True)
class RawFace:
    """One detection in the picture's own 0-1 coordinates."""

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: np.ndarray  # (6, 2), 0-1


def model_path() -> Path:
    mediapipe = import_mediapipe()
    return Path(mediapipe.__file__).parent / "modules" / "face_detection" / "face_detection_short_range.tflite"


def _anchor_centres() -> np.ndarray:
    """(896, 2) anchor centres, 0-1. The short-range options (4 layers, strides 8/16/16/16, one
    aspect ratio plus the interpolated one, fixed anchor size) give 2 anchors per cell of the
    16x16 grid and 6 per cell of the 8x8 grid; with a fixed size every anchor is 1 x 1."""
    out = []
    for grid, per_cell in ((INPUT // 8, 2), (INPUT // 16, 6)):
        ys, xs = np.mgrid[0:grid, 0:grid]
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


class ThreadChoice:
    """Which of several interpreter thread counts runs the next call: the one with the lowest
    running cost per picture; each other one is looked at again after ``retry_every`` calls
    times how many times dearer it measured (at most ``MAX_BACKOFF``), so a look at a slow
    option costs at most about 1/``retry_every`` of the calls' time, however slow it is.

    Why not simply the most threads: TensorFlow Lite's XNNPACK splits every layer of the model
    between its threads and waits for all of them at each layer's end. When other processes
    keep the cores busy, one thread is often descheduled and the others wait for it at every
    layer: on the 2-core test machine at load ~3.5, in one run of the classroom clip alternating
    the two, 2 threads took 10.3 ms a picture and 1 thread 2.45 ms; minutes later, at load ~2.8,
    2 threads took 1.57 ms and 1 thread 2.30 ms. Neither is right all the time, so the detector
    measures both as it goes."""

    def __init__(self, options: tuple[int, ...], retry_every: int = RETRY_EVERY):
        self.options = options
        self.cost: dict[int, float | None] = dict.fromkeys(options)  # seconds per picture
        self._retry_every = retry_every
        self._calls = 0
        self._last_used = dict.fromkeys(options, 0)  # call number

    def pick(self) -> int:
        self._calls += 1
        unmeasured = [o for o in self.options if self.cost[o] is None]
        choice = unmeasured[0] if unmeasured else min(self.options, key=lambda o: self.cost[o])
        if not unmeasured:
            best = self.cost[choice]
            for o in sorted(self.options, key=lambda o: self.cost[o])[1:]:
                # Load changes, and only a measurement says when; the dearer, the rarer the look.
                wait = self._retry_every * min(MAX_BACKOFF, self.cost[o] / max(best, 1e-9))
                if self._calls - self._last_used[o] >= wait:
                    choice = o
                    break
        self._last_used[choice] = self._calls
        return choice

    def record(self, option: int, seconds: float, pictures: int) -> None:
        per = seconds / max(pictures, 1)
        old = self.cost[option]
        self.cost[option] = per if old is None else (1 - COST_WEIGHT) * old + COST_WEIGHT * per


class ShortRangeDetector:
    """``detect(pictures)``: faces in each 128x128 RGB uint8 picture, scored at least ``min_score``.
    ``threads``: the interpreter's thread count; by default both 1 and up to 4 (the cores there
    are) are kept ready and the faster at the moment runs (``ThreadChoice``)."""

    def __init__(self, min_score: float, threads: int | None = None):
        options = (threads,) if threads else tuple(sorted({1, min(4, os.cpu_count() or 1)}))
        # Every batch size allocated once, for each thread count: resizing an interpreter's
        # input re-plans its whole graph.
        self._interpreters = {}
        for k in options:
            for n in (*CHUNKS, 1):
                it = interpreter(k, model_path=model_path())
                it.resize_tensor_input(it.get_input_details()[0]["index"], [n, INPUT, INPUT, 3])
                it.allocate_tensors()
                # XNNPACK packs the weights on an interpreter's first run (tens of ms): done
                # here, so that it is not taken for the cost of that thread count.
                it.set_tensor(it.get_input_details()[0]["index"], np.zeros((n, INPUT, INPUT, 3), np.float32))
                it.invoke()
                self._interpreters[k, n] = it
        self.threads = ThreadChoice(options)
        self.min_score = min_score
        self._anchors = _anchor_centres()
        # A score logit: sigmoid(x) >= min_score  <=>  x >= logit(min_score).
        self._logit_floor = float(np.log(min_score / (1.0 - min_score)))

    def detect(self, pictures: np.ndarray | list[np.ndarray]) -> list[list[RawFace]]:
        pictures = np.asarray(pictures)
        if len(pictures) == 0:
            return []
        if pictures.shape[1:] != (INPUT, INPUT, 3):
            raise ValueError(f"pictures must be (N, {INPUT}, {INPUT}, 3), not {pictures.shape}")
        x = pictures.astype(np.float32) * (2.0 / 255.0) - 1.0  # the graph's [-1, 1] input range
        regressors, logits = self._run(x)
        return [self._decode(r, s) for r, s in zip(regressors, logits, strict=True)]

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.threads.pick()
        start = time.perf_counter()
        regs, scores, i = [], [], 0
        while i < len(x):
            left = len(x) - i
            n = next((c for c in CHUNKS if left >= c), 1 if left < 2 else CHUNKS[-1])
            part = x[i:i + n]
            if len(part) < n:  # pad the last chunk rather than keep an interpreter per size
                part = np.concatenate([part, np.zeros((n - len(part), *part.shape[1:]), np.float32)])
            it = self._interpreters[k, n]
            it.set_tensor(it.get_input_details()[0]["index"], part)
            it.invoke()
            out = {d["name"]: _per_picture(it.get_tensor(d["index"]), n) for d in it.get_output_details()}
            take = min(n, left)
            regs.append(out["regressors"][:take])
            scores.append(out["classificators"][:take, :, 0])
            i += take
        self.threads.record(k, time.perf_counter() - start, len(x))
        return np.concatenate(regs), np.concatenate(scores)

    def _decode(self, reg: np.ndarray, logit: np.ndarray) -> list[RawFace]:
        keep = np.flatnonzero(logit >= self._logit_floor)
        if len(keep) == 0:
            return []
        anchors = self._anchors[keep]
        r = reg[keep] / INPUT
        centres = anchors + r[:, 0:2]
        sizes = r[:, 2:4]
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)  # x0 y0 x1 y1
        kps = anchors[:, None, :] + r[:, 4:16].reshape(-1, 6, 2)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logit[keep], -100.0, 100.0)))
        return [RawFace(float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1]), s, k)
                for b, s, k in _weighted_nms(boxes, scores, kps)]


def _per_picture(out: np.ndarray, n: int) -> np.ndarray:
    """(n, 896, k) from the model's output for a batch of n. The graph reshapes each feature
    map to (1, -1, k) before joining them, so a batch comes out as (1, n*896, k): first the
    16x16 map's 512 rows of every picture, then the 8x8 map's 384 rows of every picture."""
    if out.shape[0] == n:
        return out
    k = out.shape[-1]
    flat = out.reshape(-1, k)
    fine, coarse = flat[:n * 512].reshape(n, 512, k), flat[n * 512:].reshape(n, 384, k)
    return np.concatenate([fine, coarse], axis=1)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray):
    """MediaPipe's WEIGHTED suppression: each kept face is the score-weighted mean of every
    candidate overlapping the best remaining one by more than ``NMS_IOU``, with the best score."""
    from supervision import box_iou_batch

    order = np.argsort(-scores)
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    iou = box_iou_batch(boxes, boxes)
    left = np.ones(len(boxes), bool)
    for i in range(len(boxes)):
        if not left[i]:
            continue
        group = left & (iou[i] > NMS_IOU)
        group[i] = True
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kp = (kps[group] * w[:, :, None]).sum(0) / w.sum()
        left &= ~group
        yield box, float(scores[i]), kp.astype(np.float32)
