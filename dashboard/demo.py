"""A demo class written through the repository API, for a first look at the dashboard
(``python -m dashboard --demo``), its tests and its screenshots. Deterministic."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from db import connect
from db import repository as repo
from db.models import SessionStatus, utcnow
from engine.config import load_config

EMOTIONS = repo.EMOTION_COLUMNS
# FER2013 PrivateTest class sizes (3,589 faces), for a plausible stored evaluation.
PRIVATE_TEST_SUPPORT = (491, 55, 528, 879, 594, 416, 626)


def _probs(rng: np.random.Generator, leaning: dict[str, float]) -> np.ndarray:
    logits = rng.normal(0, 0.6, len(EMOTIONS)) + np.array([leaning.get(e, 0.0) for e in EMOTIONS])
    p = np.exp(logits - logits.max())
    return p / p.sum()


def seed_demo(url: str, students: int = 6, seconds: float = 120.0, fps: float = 2.0,
              title: str = "Demo: algebra, period 2", with_evaluation: bool = True, live: bool = False) -> int:
    """Write one session (``students`` students over ``seconds`` of media), its alerts and,
    optionally, a model evaluation; returns the session id. ``live`` leaves it running, as
    a camera session in progress, with the class-wide alert still open.

    The story: attention is good, a confusing stretch hits the whole class from 60 s to 85 s,
    Student 3 looks away from 30 s to 60 s, and Student 6 arrives late (at 20 s).
    """
    rng = np.random.default_rng(7)
    floor = load_config().quality  # the shipped floor: the demo reads faces as the engine would
    factory = connect(url)
    with factory() as s:
        cs = repo.start_session(
            s, source="camera 0" if live else "demo-lecture.mp4", source_kind="camera" if live else "video",
            model_version="fer_fast (demo)", analysis_fps=fps, title=title, course="Algebra",
            media_duration=None if live else seconds,
        )
        people = [repo.add_student(s, cs.id, track_id=i + 1) for i in range(students)]
        s.commit()
        ids = [p.id for p in people]
        start_wall = utcnow() - timedelta(seconds=seconds)
        rows = []
        for k in range(int(seconds * fps)):
            t = k / fps
            confusing = 60 <= t < 85
            for i, sid in enumerate(ids):
                if i == 5 and t < 20:
                    continue  # arrives late
                away = i == 2 and 30 <= t < 60
                leaning = {"neutral": 1.3, "happy": 1.1 if i % 2 == 0 else 0.4, "surprise": 0.2}
                if confusing:
                    leaning.update({"fear": 1.4, "sad": 1.1, "surprise": 1.0, "neutral": 0.6, "happy": -0.5})
                p = _probs(rng, leaning)
                yaw = float(rng.normal(48 if away else 0, 6))
                eyes = float(np.clip(rng.normal(0.35 if away else 0.85, 0.08), 0, 1))
                engagement = float(np.clip(rng.normal(0.2 if away else 0.78 - 0.18 * confusing, 0.06), 0, 1))
                negative = float(p[[0, 2, 4, 5]].sum())  # angry, fear, sad, surprise
                confusion = float(np.clip(0.1 + 0.5 * confusing + 0.3 * negative + rng.normal(0, 0.05), 0, 1))
                # As the engine records them (engine/quality.py): a face turned past the floor's
                # yaw is not read, so it has no emotion and no confusion, only attention.
                readable = abs(yaw) <= floor.max_yaw_deg
                rows.append({
                    "student_id": sid, "t": t, "wall_time": start_wall + timedelta(seconds=t),
                    **{e: float(v) for e, v in zip(EMOTIONS, p, strict=True)},
                    "emotion": EMOTIONS[int(p.argmax())] if readable else None,
                    "box_x": 80 + 150 * i, "box_y": 120 + int(rng.integers(-3, 4)), "box_w": 90, "box_h": 90,
                    "yaw": yaw, "pitch": float(rng.normal(-5, 4)), "eye_openness": eyes,
                    "engagement": engagement, "confusion": confusion if readable else None,
                    "detector_score": float(np.clip(rng.normal(0.9, 0.04), 0.5, 1.0)),
                    "blur": float(rng.normal(900, 120)), "brightness": float(rng.normal(120, 10)),
                    "contrast": float(rng.normal(45, 5)), "readable": readable,
                    "unreadable_reason": None if readable else "turned",
                })
            if len(rows) >= 500:
                repo.write_batch(s, cs.id, rows, video_seconds=t, frames_analyzed=k + 1)
                rows = []
        repo.write_batch(s, cs.id, rows, video_seconds=seconds, frames_analyzed=int(seconds * fps))
        for kind, start, end, message, who in (
            ("disengaged", 38.0, 60.0, "Student 3 looked away for most of 20 s", ids[2]),
            ("confused", 64.0, 85.0, "most of the class looked confused for 20 s", None),
            ("confused", 66.0, 84.0, "Student 2 looked confused for 20 s", ids[1]),
        ):
            if start < seconds:
                alert = repo.open_alert(s, cs.id, kind, start, message, student_id=who)
                if end <= seconds:  # a live class's later alerts are still open
                    repo.close_alert(s, alert.id, end)
        s.commit()
        if live:
            repo.heartbeat(s, cs.id)  # as an engine that has just written its batch
        else:
            repo.finish_session(s, cs.id, SessionStatus.complete, video_seconds=seconds,
                                frames_analyzed=int(seconds * fps))
        if with_evaluation:
            repo.store_evaluation(s, "demo-model", "PrivateTest", False, demo_evaluation())
        return cs.id


def demo_evaluation(accuracy_by_class=(0.60, 0.55, 0.45, 0.88, 0.55, 0.80, 0.72)) -> dict:
    """A confusion matrix shaped like a ~68 % FER2013 model's, in the evaluate CLI's JSON shape."""
    n = len(EMOTIONS)
    # Where each class's errors usually go (FER2013's well-known confusions).
    usual = {0: 6, 1: 0, 2: 4, 3: 6, 4: 6, 5: 2, 6: 4}
    confusion = np.zeros((n, n), dtype=int)
    for i, support in enumerate(PRIVATE_TEST_SUPPORT):
        right = round(support * accuracy_by_class[i])
        wrong = support - right
        confusion[i, i] = right
        confusion[i, usual[i]] += wrong // 2
        rest = wrong - wrong // 2
        others = [j for j in range(n) if j not in (i, usual[i])]
        for m, j in enumerate(others):
            confusion[i, j] += rest // len(others) + (1 if m < rest % len(others) else 0)
    tp = np.diag(confusion)
    precision = tp / np.maximum(confusion.sum(axis=0), 1)
    recall = tp / np.maximum(confusion.sum(axis=1), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-9)
    total = int(confusion.sum())
    return {
        "accuracy": float(tp.sum() / total), "top2": 0.83, "n": total,
        "per_class": {e: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(confusion[i].sum())} for i, e in enumerate(EMOTIONS)},
        "confusion": confusion.tolist(),
    }
