"""Per-student scores and alerts: smoothed emotions, engagement, confusion, and alerts with
hysteresis for single students and for the whole class.

One :class:`Scorer` per class session. The pipeline calls :meth:`Scorer.update` once per
analysed frame with a :class:`Reading` for every face it saw, and :meth:`Scorer.finish` at
the end. All times are media seconds; frames may be irregularly spaced.

Rules (parameters come from ``[scoring]`` and ``[alerts]`` in ``engine/config.toml``):

* **Smoothing.** Each student's emotion probabilities go through an exponential moving
  average with time constant ``smoothing_s``: ``alpha = 1 - exp(-dt / smoothing_s)`` where
  ``dt`` is the time since the student's previous reading (0 = no smoothing). The shown
  emotion is the argmax of the smoothed probabilities.
* **Time weighting.** Every frame's value for a student stands for the time since the previous
  analysed frame, so a window's score is a share of media time, not of frame count, and
  irregular frame spacing does not bias it. The window is the last ``window_s`` seconds; the
  oldest frame is clipped at the window's start.
* **Disengagement** = the share of the window during which the student was looking away
  (``|yaw| > away_yaw_deg`` or ``|pitch| > away_pitch_deg``), had their eyes closed
  (``eye_openness < closed_eyes``) or was not seen at all (absent from the frame). Attention
  values the engine could not measure (``None``) count as attentive. ``engagement = 1 -
  disengagement``.
* **Confusion** = the window's time-weighted mean of the smoothed fear + sad + angry + surprise
  mass, mapped linearly from ``[confusion_floor, confusion_ceiling]`` to ``[0, 1]`` (clipped).
  When the window holds brow measurements it is blended with the furrowed-brow cue:
  ``(1 - brow_weight) * emotion_part + brow_weight * furrow``, where ``furrow`` is the window
  mean of how much the inner-brow gap narrowed against the student's own running median over
  the last ``brow_baseline_s`` (``brow_furrow_drop`` relative narrowing = 1, clipped to
  [0, 1]; needs ``brow_baseline_min`` earlier measurements). Only frames in which the student
  was seen *and readable* count; with none in the window confusion is 0.
* **Readable.** A reading below the ``[quality]`` floor (``Reading.readable`` False, see
  ``engine/quality.py``: face too small, turned away, head down, blurred, dark) does not move the
  smoothed emotion, the confusion window or the brow baseline, and its scored face has no emotion
  and no confusion (None; ``probs`` is the model's unsmoothed output, kept as evidence). Its head
  pose and eyes still count for engagement. The smoothing's clock runs from the last readable
  reading.
* **Student alerts.** "disengaged" (on disengagement = 1 - engagement) and "confused" (on
  confusion) open when the score has been ``>= on_threshold`` for ``min_on_s`` and close when it
  has been ``<= off_threshold`` for ``min_off_s``; a score between the thresholds keeps the
  current state and restarts the timer, so noise around one threshold cannot make an alert
  flicker. No alert opens before the student has ``min_window_s`` of history (time since first
  seen). The open/close time is the frame at which the hold time is complete.
* **Absent.** A known student (seen at least once) who has not been seen for ``absent_s``
  gets an "absent" alert, opened at the first frame at which that is true and closed at the
  first frame the student is seen again. Absence also counts as disengagement (above).
* **Whole class.** Present students are those seen within ``absent_s`` with ``min_window_s``
  of history. When at least ``class_min_present`` are present and the share of them whose
  score is ``>= on_threshold`` is ``>= class_share`` for ``min_on_s``, a class alert
  (``student=None``) of that kind opens; it closes when the share (or too few present) has
  been ``<= class_off_share`` for ``min_off_s``. Kinds: "disengaged" and "confused"; for
  "confused" only present students with a readable reading in the window count.
* :meth:`Scorer.finish` closes every open alert at the given time.
* **Attention-only** (``Scorer(..., emotions=False)``, ``[privacy] emotions = false``): readings
  carry no probabilities; scored faces have no probabilities, emotion or confusion (None), and
  no "confused" alert, for a student or the class, is ever opened. Engagement and absence are
  computed as above.

Messages are plain words for teachers. Student messages contain a ``{name}`` placeholder
for the display name (the scorer only knows student keys); :meth:`AlertEvent.text` fills it
in. Class messages name no one.

Cost: O(students) per update; each window is a deque of ``(t, dt, value)`` with running sums,
pruned by time.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from engine.config import AlertConfig, ScoringConfig
from training.labels import EMOTIONS

CONFUSION_LABELS = ("angry", "fear", "sad", "surprise")
CONFUSION_INDEX = np.array([EMOTIONS.index(name) for name in CONFUSION_LABELS])

DISENGAGED, CONFUSED, ABSENT = "disengaged", "confused", "absent"
OPEN, CLOSE = "open", "close"

# Below this a window's covered time is treated as empty (float noise of running sums).
_EPS = 1e-9


@dataclass(frozen=True)
class Reading:
    """One student's face in one analysed frame."""

    student: int  # stable student key
    probs: np.ndarray | None  # (7,) model probabilities, EMOTIONS order; None = attention-only
    yaw: float | None  # degrees
    pitch: float | None  # degrees
    eye_openness: float | None  # 0..1
    brow: float | None = None  # inner-brow gap relative to face width (optional cue)
    # False: below the [quality] floor (engine/quality.py): the expression is not read into the
    # smoothed emotion, confusion or "confused" alerts; head pose still counts for engagement.
    readable: bool = True


@dataclass(frozen=True)
class Scored:
    student: int
    probs: np.ndarray | None  # smoothed (7,); None = attention-only
    emotion: str | None  # argmax label of smoothed probs; None = attention-only
    engagement: float  # 0..1
    confusion: float | None  # 0..1; None = attention-only


@dataclass(frozen=True)
class AlertEvent:
    kind: str  # "disengaged" | "confused" | "absent"
    student: int | None  # None = whole class
    action: str  # "open" | "close"
    t: float  # media seconds
    message: str  # student messages hold a "{name}" placeholder, see text()

    def text(self, name: str) -> str:
        """The message with the student's display name filled in."""
        return self.message.replace("{name}", name)


class _TimeWindow:
    """Time-weighted mean of values over the last ``span`` seconds.

    A value added at ``t`` with weight ``dt`` stands for the interval ``(t - dt, t]``.
    """

    __slots__ = ("span", "_items", "_weight", "_total")

    def __init__(self, span: float):
        self.span = span
        self._items: deque[tuple[float, float, float]] = deque()
        self._weight = 0.0
        self._total = 0.0

    def add(self, t: float, dt: float, value: float) -> None:
        self._items.append((t, dt, value))
        self._weight += dt
        self._total += value * dt

    def mean(self, now: float) -> float | None:
        """Mean over ``(now - span, now]``; the last value when the window covers no time yet,
        None when it holds nothing."""
        start = now - self.span
        items = self._items
        while items and items[0][0] <= start:
            _, dt, value = items.popleft()
            self._weight -= dt
            self._total -= value * dt
        if not items:
            self._weight = self._total = 0.0  # drop accumulated float noise
            return None
        t0, dt0, v0 = items[0]
        excess = max(0.0, start - (t0 - dt0))  # part of the oldest interval before the window
        weight = self._weight - excess
        if weight <= _EPS:
            return items[-1][2]
        return min(1.0, max(0.0, (self._total - v0 * excess) / weight))


class _RunningMedian:
    """Median of the values of the last ``span`` seconds (sorted list + arrival order)."""

    __slots__ = ("span", "_arrivals", "_sorted")

    def __init__(self, span: float):
        self.span = span
        self._arrivals: deque[tuple[float, float]] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, t: float, value: float) -> None:
        self._arrivals.append((t, value))
        bisect.insort(self._sorted, value)
        start = t - self.span
        while self._arrivals and self._arrivals[0][0] <= start:
            _, old = self._arrivals.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def median(self) -> float:
        values, n = self._sorted, len(self._sorted)
        mid = n // 2
        return values[mid] if n % 2 else 0.5 * (values[mid - 1] + values[mid])


class _Hysteresis:
    """On/off state that changes only after the opposite condition has held long enough."""

    __slots__ = ("on_s", "off_s", "is_on", "_since")

    def __init__(self, on_s: float, off_s: float):
        self.on_s, self.off_s = on_s, off_s
        self.is_on = False
        self._since: float | None = None

    def step(self, t: float, want_on: bool, want_off: bool) -> bool:
        """Advance to ``t``; True when the state flipped at this step."""
        wanted = want_off if self.is_on else want_on
        if not wanted:
            self._since = None
            return False
        if self._since is None:
            self._since = t
        if t - self._since >= (self.off_s if self.is_on else self.on_s) - _EPS:
            self.is_on = not self.is_on
            self._since = None
            return True
        return False

    def reset(self) -> None:
        self.is_on = False
        self._since = None


@dataclass
class _Student:
    first_seen: float
    last_seen: float
    window_s: float
    brow_baseline_s: float
    probs: np.ndarray | None = None
    last_read: float | None = None  # media time of the last readable reading (the smoothing's clock)
    away: _TimeWindow = field(init=False)
    mass: _TimeWindow = field(init=False)
    furrow: _TimeWindow = field(init=False)
    brow_median: _RunningMedian = field(init=False)
    disengagement: float = 0.0
    confusion: float = 0.0

    def __post_init__(self) -> None:
        self.away = _TimeWindow(self.window_s)
        self.mass = _TimeWindow(self.window_s)
        self.furrow = _TimeWindow(self.window_s)
        self.brow_median = _RunningMedian(self.brow_baseline_s)


class Scorer:
    """Scores and alerts for one class session (see the module docstring for the rules)."""

    def __init__(self, scoring: ScoringConfig, alerts: AlertConfig, emotions: bool = True):
        self.scoring = scoring
        self.alerts = alerts
        self.emotions = emotions  # False: attention-only, no probabilities, confusion or "confused" alerts
        self._kinds = (DISENGAGED, CONFUSED) if emotions else (DISENGAGED,)
        self._students: dict[int, _Student] = {}
        self._student_alerts: dict[tuple[str, int], _Hysteresis] = {}
        self._absent_open: set[int] = set()
        self._class_alerts = {kind: _Hysteresis(alerts.min_on_s, alerts.min_off_s) for kind in self._kinds}
        self._last_t: float | None = None
        self._span = (scoring.confusion_ceiling - scoring.confusion_floor) or 1.0

    # -- per-frame entry point -------------------------------------------------------------

    def update(self, t: float, readings: list[Reading]) -> tuple[list[Scored], list[AlertEvent]]:
        """Score one analysed frame at media time ``t``; returns the seen students' scores
        and the alert events this frame opened or closed."""
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"frame time went backwards: {t} after {self._last_t}")
        frame_dt = 0.0 if self._last_t is None else t - self._last_t
        self._last_t = t

        seen: dict[int, Reading] = {r.student: r for r in readings}
        scored: list[Scored] = []
        events: list[AlertEvent] = []
        for reading in seen.values():
            scored.append(self._observe(t, frame_dt, reading))
        for key, st in self._students.items():
            if key not in seen:
                st.away.add(t, frame_dt, 1.0)
                st.disengagement = _or_zero(st.away.mean(t))
                st.confusion = self._confusion(t, st)
        self._student_events(t, seen, events)
        self._class_events(t, events)
        return scored, events

    def finish(self, t: float) -> list[AlertEvent]:
        """Close every open alert at ``t`` (end of the session)."""
        events: list[AlertEvent] = []
        for (kind, key), state in self._student_alerts.items():
            if state.is_on:
                events.append(AlertEvent(kind, key, CLOSE, t, "Alert ended with the session."))
                state.reset()
        for key in sorted(self._absent_open):
            events.append(AlertEvent(ABSENT, key, CLOSE, t, "Alert ended with the session."))
        self._absent_open.clear()
        for kind, state in self._class_alerts.items():
            if state.is_on:
                events.append(AlertEvent(kind, None, CLOSE, t, "Class alert ended with the session."))
                state.reset()
        return events

    # -- scores ----------------------------------------------------------------------------

    def _observe(self, t: float, frame_dt: float, r: Reading) -> Scored:
        cfg = self.scoring
        st = self._students.get(r.student)
        probs = None
        if self.emotions:
            if r.probs is None:
                raise ValueError(f"student {r.student}: no probabilities, and this scorer reads emotions")
            probs = np.asarray(r.probs, dtype=np.float64)
            if probs.shape != (len(EMOTIONS),):
                raise ValueError(f"student {r.student}: probs must have shape ({len(EMOTIONS)},), not {probs.shape}")
        if st is None:
            st = _Student(first_seen=t, last_seen=t, window_s=cfg.window_s, brow_baseline_s=cfg.brow_baseline_s)
            self._students[r.student] = st
            dt = 0.0  # no history before the first sighting
        else:
            dt = frame_dt
        if probs is not None and r.readable:
            if st.probs is None:
                st.probs = probs.copy()
            else:
                since = t - (st.last_read if st.last_read is not None else st.last_seen)
                alpha = 1.0 if cfg.smoothing_s <= 0 else 1.0 - math.exp(-since / cfg.smoothing_s)
                st.probs = st.probs + alpha * (probs - st.probs)  # a new array: earlier Scored stay untouched
            st.last_read = t
        st.last_seen = t

        st.away.add(t, dt, 1.0 if self._inattentive(r) else 0.0)
        if not self.emotions:  # attention-only: no expression, no confusion, no brow cue kept
            st.disengagement = _or_zero(st.away.mean(t))
            return Scored(student=r.student, probs=None, emotion=None, engagement=1.0 - st.disengagement,
                          confusion=None)
        if not r.readable:
            # Not read (too small, turned away, head down, blurred, dark): like a moment out of
            # view for confusion, whose window keeps only the readable moments. The model's own
            # output is passed on as evidence, but no emotion or confusion is claimed.
            st.disengagement = _or_zero(st.away.mean(t))
            st.confusion = self._confusion(t, st)
            return Scored(student=r.student, probs=probs, emotion=None, engagement=1.0 - st.disengagement,
                          confusion=None)
        st.mass.add(t, dt, float(st.probs[CONFUSION_INDEX].sum()))
        if r.brow is not None and r.brow > 0:
            if len(st.brow_median) >= max(1, cfg.brow_baseline_min):
                median = st.brow_median.median()
                drop = (median - r.brow) / median if median > 0 else 0.0
                st.furrow.add(t, dt, min(1.0, max(0.0, drop / cfg.brow_furrow_drop)))
            st.brow_median.add(t, r.brow)

        st.disengagement = _or_zero(st.away.mean(t))
        st.confusion = self._confusion(t, st)
        return Scored(
            student=r.student,
            probs=st.probs,
            emotion=EMOTIONS[int(np.argmax(st.probs))],
            engagement=1.0 - st.disengagement,
            confusion=st.confusion,
        )

    def _inattentive(self, r: Reading) -> bool:
        cfg = self.scoring
        return (
            (r.yaw is not None and abs(r.yaw) > cfg.away_yaw_deg)
            or (r.pitch is not None and abs(r.pitch) > cfg.away_pitch_deg)
            or (r.eye_openness is not None and r.eye_openness < cfg.closed_eyes)
        )

    def _confusion(self, t: float, st: _Student) -> float:
        cfg = self.scoring
        mass = st.mass.mean(t)
        if mass is None:
            return 0.0
        emotional = min(1.0, max(0.0, (mass - cfg.confusion_floor) / self._span))
        furrow = st.furrow.mean(t)
        if furrow is None:
            return emotional
        return (1.0 - cfg.brow_weight) * emotional + cfg.brow_weight * furrow

    # -- alerts ----------------------------------------------------------------------------

    def _student_events(self, t: float, seen: dict[int, Reading], events: list[AlertEvent]) -> None:
        cfg, window = self.alerts, self.scoring.window_s
        for key, st in self._students.items():
            ready = t - st.first_seen >= self.scoring.min_window_s - _EPS
            for kind in self._kinds:
                score = st.disengagement if kind == DISENGAGED else st.confusion
                state = self._student_alerts.get((kind, key))
                if state is None:
                    state = self._student_alerts[(kind, key)] = _Hysteresis(cfg.min_on_s, cfg.min_off_s)
                if state.step(t, ready and score >= cfg.on_threshold, score <= cfg.off_threshold):
                    events.append(_student_message(kind, key, state.is_on, t, window))
            if key in seen:
                if key in self._absent_open:
                    self._absent_open.discard(key)
                    events.append(AlertEvent(ABSENT, key, CLOSE, t, "{name} is back in view."))
            elif key not in self._absent_open and t - st.last_seen >= cfg.absent_s - _EPS:
                self._absent_open.add(key)
                events.append(AlertEvent(
                    ABSENT, key, OPEN, t, f"{{name}} has not been seen for {_seconds(t - st.last_seen)}."))

    def _class_events(self, t: float, events: list[AlertEvent]) -> None:
        cfg, min_window = self.alerts, self.scoring.min_window_s
        present = [
            st for st in self._students.values()
            if t - st.last_seen < cfg.absent_s and t - st.first_seen >= min_window - _EPS
        ]
        readable = [st for st in present if st.mass.mean(t) is not None] if CONFUSED in self._class_alerts else []
        for kind, state in self._class_alerts.items():
            # Confusion: only students whose expression was readable in the window count (a class
            # with heads down over books is not "calm" either, just unread).
            group = present if kind == DISENGAGED else readable
            n = len(group)
            if n >= cfg.class_min_present:
                scores = [st.disengagement if kind == DISENGAGED else st.confusion for st in group]
                over = sum(1 for s in scores if s >= cfg.on_threshold)
                share = over / n
            else:
                over, share = 0, 0.0
            if state.step(t, n >= cfg.class_min_present and share >= cfg.class_share, share <= cfg.class_off_share):
                events.append(_class_message(kind, state.is_on, t, over, n, self.scoring.window_s))


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None else value


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def _student_message(kind: str, key: int, opened: bool, t: float, window_s: float) -> AlertEvent:
    if kind == DISENGAGED:
        text = (f"{{name}} looked away, closed their eyes or was out of view for most of the last {_seconds(window_s)}."
                if opened else "{name} is paying attention again.")
    else:
        text = (f"{{name}} has looked confused or upset for most of the last {_seconds(window_s)}."
                if opened else "{name} no longer looks confused.")
    return AlertEvent(kind, key, OPEN if opened else CLOSE, t, text)


def _class_message(kind: str, opened: bool, t: float, over: int, present: int, window_s: float) -> AlertEvent:
    if kind == DISENGAGED:
        text = (f"{over} of {present} students present are not paying attention (last {_seconds(window_s)})."
                if opened else "Most of the class is paying attention again.")
    else:
        text = (f"{over} of {present} students present look confused or upset (last {_seconds(window_s)})."
                if opened else "The class no longer looks confused.")
    return AlertEvent(kind, None, OPEN if opened else CLOSE, t, text)
