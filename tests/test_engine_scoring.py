"""Scores and alerts (engine/scoring.py) on synthetic frame sequences with the shipped config."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from engine.config import ConfigError, load_config
from engine.scoring import AlertEvent, Reading, Scorer
from training.labels import EMOTIONS

FPS = 5.0
FRAME = 1.0 / FPS
TOL = FRAME + 1e-6  # "exact within a frame"


def one_hot(label: str) -> np.ndarray:
    p = np.zeros(len(EMOTIONS))
    p[EMOTIONS.index(label)] = 1.0
    return p


NEUTRAL = one_hot("neutral")
CONFUSED = np.array([0.0, 0.0, 0.5, 0.0, 0.4, 0.0, 0.1])  # fear + sad = 0.9


def mix(**shares: float) -> np.ndarray:
    p = np.zeros(len(EMOTIONS))
    for label, share in shares.items():
        p[EMOTIONS.index(label)] = share
    return p


def attentive(student: int, probs: np.ndarray = NEUTRAL, brow: float | None = None) -> Reading:
    return Reading(student, probs, yaw=2.0, pitch=-3.0, eye_openness=0.9, brow=brow)


def looking_away(student: int, probs: np.ndarray = NEUTRAL) -> Reading:
    return Reading(student, probs, yaw=55.0, pitch=0.0, eye_openness=0.9)


def config(**scoring):
    cfg = load_config()
    return dataclasses.replace(cfg.scoring, **scoring), cfg.alerts


def frames(start: float, stop: float, step: float = FRAME):
    n = int(round((stop - start) / step))
    return [start + i * step for i in range(n + 1)]


def run(scorer: Scorer, times, readings_at) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for t in times:
        _, ev = scorer.update(t, readings_at(t))
        events += ev
    return events


def of(events, kind, student="any", action=None):
    return [e for e in events if e.kind == kind and (student == "any" or e.student == student)
            and (action is None or e.action == action)]


# -- smoothing ---------------------------------------------------------------------------------

def test_smoothing_converges_with_its_time_constant_at_any_frame_spacing():
    tau = 2.0
    scoring, alerts = config(smoothing_s=tau)
    rng = random.Random(1)
    for spacing in ("regular", "irregular"):
        scorer = Scorer(scoring, alerts)
        t, last_neutral = 0.0, 0.0
        scorer.update(0.0, [attentive(1, NEUTRAL)])
        # neutral until 10 s, then happy: happy share = 1 - exp(-(t - last neutral frame) / tau)
        while t < 20.0:
            t = round(t + (FRAME if spacing == "regular" else rng.uniform(0.03, 0.7)), 6)
            happy = t >= 10.0
            (s,), _ = scorer.update(t, [attentive(1, one_hot("happy") if happy else NEUTRAL)])
            if not happy:
                last_neutral = t
                assert s.emotion == "neutral"
            else:
                expected = 1 - math.exp(-(t - last_neutral) / tau)
                assert s.probs[EMOTIONS.index("happy")] == pytest.approx(expected, abs=1e-9)
                assert s.emotion == ("happy" if expected > 0.5 else "neutral")
            assert s.probs.sum() == pytest.approx(1.0)
        assert s.probs[EMOTIONS.index("happy")] > 0.99  # ~5 tau after the change


def test_smoothing_zero_passes_probabilities_through():
    scorer = Scorer(*config(smoothing_s=0.0))
    scorer.update(0.0, [attentive(1, NEUTRAL)])
    (s,), _ = scorer.update(0.2, [attentive(1, one_hot("sad"))])
    assert s.emotion == "sad" and s.probs[EMOTIONS.index("sad")] == 1.0


def test_earlier_scored_probabilities_are_not_changed_by_later_updates():
    scorer = Scorer(*config())
    (first,), _ = scorer.update(0.0, [attentive(1, NEUTRAL)])
    scorer.update(0.2, [attentive(1, one_hot("angry"))])
    assert first.probs[EMOTIONS.index("neutral")] == 1.0


# -- disengagement ----------------------------------------------------------------------------

def away_period_expectations(scoring, alerts, away_from, away_to):
    """Open/close times for a student away over [away_from, away_to) seen at FRAME spacing.

    A frame's value stands for the frame interval before it, so the away time covers
    (away_from - FRAME, away_to - FRAME]."""
    a, b = away_from - FRAME, away_to - FRAME
    crosses_on = a + alerts.on_threshold * scoring.window_s
    crosses_off = b + scoring.window_s - alerts.off_threshold * scoring.window_s
    return crosses_on + alerts.min_on_s, crosses_off + alerts.min_off_s


def test_looking_away_for_30_s_opens_one_alert_after_min_on_and_closes_after_return():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    engagement = {}

    def readings(t):
        return [looking_away(1) if 60.0 <= t < 90.0 - 1e-9 else attentive(1)]

    events = []
    for t in frames(0.0, 140.0):
        (s,), ev = scorer.update(t, readings(t))
        engagement[round(t, 1)] = s.engagement
        events += ev
    opened, closed = away_period_expectations(scoring, alerts, 60.0, 90.0)
    assert [e.action for e in events] == ["open", "close"]
    assert all(e.kind == "disengaged" and e.student == 1 for e in events)
    assert events[0].t == pytest.approx(opened, abs=TOL)
    assert events[1].t == pytest.approx(closed, abs=TOL)
    # engagement is the exact attentive share of the last window_s
    assert engagement[50.0] == pytest.approx(1.0)
    assert engagement[70.0] == pytest.approx(1 - (70.0 - 59.8) / 20.0, abs=1e-6)
    assert engagement[85.0] == pytest.approx(0.0)
    assert engagement[100.0] == pytest.approx(1 - (89.8 - 80.0) / 20.0, abs=1e-6)
    assert "{name}" in events[0].message and "20 s" in events[0].message
    assert events[0].text("Ana").startswith("Ana looked away")


def test_noisy_attention_makes_no_flicker():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    rng = random.Random(7)

    def readings(t):
        away = 60.0 <= t < 90.0
        # 15 % of frames flip state, yaw jitters around the away threshold
        if rng.random() < 0.15:
            away = not away
        yaw = rng.gauss(45.0, 8.0) if away else rng.gauss(0.0, 8.0)
        eyes = rng.choice([None, 0.9]) if not away else 0.8
        return [Reading(1, NEUTRAL, yaw=yaw, pitch=rng.gauss(0, 5), eye_openness=eyes)]

    events = run(scorer, frames(0.0, 150.0), readings)
    assert [e.action for e in events] == ["open", "close"]
    assert 70.0 <= events[0].t <= 82.0 and 98.0 <= events[1].t <= 112.0


def test_score_hovering_around_on_threshold_opens_once_and_does_not_close_above_off():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    # away in 7 s bursts out of every 10 s: the 20 s share swings around 0.6-0.7, never <= 0.4
    events = run(scorer, frames(0.0, 200.0), lambda t: [looking_away(1) if (t % 10.0) < 7.0 else attentive(1)])
    assert [e.action for e in events] == ["open"]
    assert scorer.finish(200.0)[0].action == "close"


def test_unknown_attention_counts_as_attentive_and_closed_eyes_as_disengaged():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    for t in frames(0.0, 30.0):
        (s,), _ = scorer.update(t, [Reading(1, NEUTRAL, yaw=None, pitch=None, eye_openness=None)])
    assert s.engagement == 1.0
    events = run(scorer, frames(30.2, 60.0), lambda t: [Reading(1, NEUTRAL, yaw=None, pitch=None, eye_openness=0.1)])
    assert [(e.kind, e.action) for e in events] == [("disengaged", "open")]


def test_no_alert_before_min_window_of_history():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    # away from the first frame: score 1 at once, but the alert waits min_window_s + min_on_s
    events = run(scorer, frames(0.0, 20.0), lambda t: [looking_away(1)])
    assert len(events) == 1
    assert events[0].t == pytest.approx(scoring.min_window_s + alerts.min_on_s, abs=TOL)


# -- confusion --------------------------------------------------------------------------------

def test_confusion_maps_windowed_fear_sad_angry_surprise_mass():
    scoring, alerts = config(smoothing_s=0.0, confusion_floor=0.25, confusion_ceiling=0.65)
    scorer = Scorer(scoring, alerts)
    # mass 0.45 -> (0.45 - 0.25) / (0.65 - 0.25) = 0.5; happy / disgust / neutral do not count
    probs = mix(fear=0.1, sad=0.1, angry=0.1, surprise=0.15, happy=0.3, disgust=0.1, neutral=0.15)
    for t in frames(0.0, 30.0):
        (s,), ev = scorer.update(t, [attentive(1, probs)])
        assert ev == []  # 0.5 is between the thresholds
    assert s.confusion == pytest.approx(0.5)
    assert s.emotion == "happy"


def test_sustained_fear_and_sad_open_a_confused_alert_and_neutral_closes_it():
    scoring, alerts = config(confusion_floor=0.25, confusion_ceiling=0.65)  # the timing below assumes these
    scorer = Scorer(scoring, alerts)
    events = run(scorer, frames(0.0, 120.0),
                 lambda t: [attentive(1, CONFUSED if 30.0 <= t < 60.0 else NEUTRAL)])
    assert [(e.kind, e.action) for e in events] == [("confused", "open"), ("confused", "close")]
    # smoothed mass rises from 0 to 0.9 within ~1 s; the window mean crosses the mass for
    # confusion 0.6 (0.49) after ~0.49 / 0.9 * 20 s = 10.9 s, plus the smoothing lag
    assert 40.0 + alerts.min_on_s <= events[0].t <= 43.0 + alerts.min_on_s
    assert "confused" in events[0].message


def test_furrowed_brow_adds_to_confusion():
    scoring, alerts = config(smoothing_s=0.0)
    scorer = Scorer(scoring, alerts)
    probs = mix(fear=0.25, neutral=0.75)  # mass at the floor: emotional part 0
    for t in frames(0.0, 60.0):
        (s,), _ = scorer.update(t, [attentive(1, probs, brow=0.20)])
    assert s.confusion == pytest.approx(0.0)
    for t in frames(60.2, 90.0):  # gap narrowed by 8 % of the student's own median = fully furrowed
        (s,), _ = scorer.update(t, [attentive(1, probs, brow=0.20 * (1 - scoring.brow_furrow_drop))])
    assert s.confusion == pytest.approx(scoring.brow_weight)
    # half the drop -> furrow 0.5
    scorer = Scorer(scoring, alerts)
    for t in frames(0.0, 60.0):
        scorer.update(t, [attentive(1, CONFUSED, brow=0.20)])
    for t in frames(60.2, 90.0):
        (s,), _ = scorer.update(t, [attentive(1, CONFUSED, brow=0.20 * (1 - scoring.brow_furrow_drop / 2))])
    assert s.confusion == pytest.approx((1 - scoring.brow_weight) * 1.0 + scoring.brow_weight * 0.5)


# -- absence ----------------------------------------------------------------------------------

def test_absent_after_absent_s_and_back_when_seen():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    # student 2 stays throughout; student 1 leaves after 20 s and comes back at 70 s
    events = run(scorer, frames(0.0, 100.0),
                 lambda t: [attentive(2)] + ([attentive(1)] if t <= 20.0 + 1e-9 or t >= 70.0 else []))
    absent = of(events, "absent")
    assert [(e.student, e.action) for e in absent] == [(1, "open"), (1, "close")]
    assert absent[0].t == pytest.approx(20.0 + alerts.absent_s, abs=TOL)
    assert absent[1].t == pytest.approx(70.0, abs=1e-9)
    # being out of view counts as disengaged too; the student who stayed gets nothing
    assert [e.action for e in of(events, "disengaged", 1)] == ["open", "close"]
    assert of(events, "disengaged", 2) == [] and of(events, "absent", 2) == []


# -- whole class ------------------------------------------------------------------------------

def class_run(n_confused: int, n_students: int = 10):
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    events = run(scorer, frames(0.0, 60.0),
                 lambda t: [attentive(k, CONFUSED if k < n_confused else NEUTRAL) for k in range(n_students)])
    return scoring, alerts, scorer, events


def test_class_alert_when_60_percent_confused():
    scoring, alerts, scorer, events = class_run(6)
    cls = of(events, "confused", None)
    assert [e.action for e in cls] == ["open"]
    # confusion is 1 from the first frame (smoothing starts at the first reading); history
    # reaches min_window_s at 5 s, then min_on_s
    assert cls[0].t == pytest.approx(scoring.min_window_s + alerts.min_on_s, abs=TOL)
    assert cls[0].message.startswith("6 of 10 students")
    assert len(of(events, "confused", action="open")) == 7  # 6 students + the class
    closes = scorer.finish(61.0)
    assert len(closes) == 7 and all(e.action == "close" and e.t == 61.0 for e in closes)


def test_no_class_alert_when_40_percent_confused():
    # The model reads about a quarter of neutral faces as confused (config.toml), so a class
    # alert needs half the class; 4 of 10 is each student's own alert, not the class's.
    _, _, _, events = class_run(4)
    assert of(events, "confused", None) == []
    assert [e.student for e in of(events, "confused", action="open")] == [0, 1, 2, 3]


def test_class_alert_closes_when_share_falls():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    # 6 of 10 look away for 40 s, then all attend
    events = run(scorer, frames(0.0, 120.0),
                 lambda t: [looking_away(k) if k < 6 and 10.0 <= t < 50.0 else attentive(k) for k in range(10)])
    cls = of(events, "disengaged", None)
    assert [e.action for e in cls] == ["open", "close"]
    opened, closed = away_period_expectations(scoring, alerts, 10.0, 50.0)
    assert cls[0].t == pytest.approx(opened, abs=TOL)
    # the class share counts students over on_threshold: it drops 0.6 -> 0 once the six are
    # back under 0.6 (not 0.4 as for their own alerts), then min_off_s
    under_on = 50.0 - FRAME + scoring.window_s * (1 - alerts.on_threshold)
    assert cls[1].t == pytest.approx(under_on + alerts.min_off_s, abs=TOL)
    assert [e.t for e in of(events, "disengaged", 0)] == pytest.approx([opened, closed], abs=TOL)


def test_no_class_alert_with_too_few_present():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    events = run(scorer, frames(0.0, 60.0), lambda t: [looking_away(k) for k in range(alerts.class_min_present - 1)])
    assert of(events, "disengaged", None) == []
    assert len(of(events, "disengaged", action="open")) == alerts.class_min_present - 1


# -- end of session, timing, input checks -----------------------------------------------------

def test_finish_closes_every_open_alert():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    events = run(scorer, frames(0.0, 80.0),
                 lambda t: [looking_away(k) for k in range(4)] + ([attentive(9)] if t < 10.0 else []))
    opened = {(e.kind, e.student) for e in events if e.action == "open"}
    assert {("disengaged", None), ("absent", 9), ("disengaged", 9)} <= opened
    closes = scorer.finish(80.5)
    assert {(e.kind, e.student) for e in closes} == opened
    assert all(e.action == "close" and e.t == 80.5 for e in closes)
    assert scorer.finish(81.0) == []


def test_irregular_frame_spacing_gives_the_same_alert_times():
    scoring, alerts = config()
    scorer = Scorer(scoring, alerts)
    rng = random.Random(3)
    times, t = [], 0.0
    while t < 140.0:
        times.append(t)
        t = round(t + rng.uniform(0.05, 0.6), 6)
    events = run(scorer, times, lambda t: [looking_away(1) if 60.0 <= t < 90.0 else attentive(1)])
    assert [e.action for e in events] == ["open", "close"]
    # a frame's value stands for the gap before it, so the away time is (a, b] with a, b the
    # frames before the first away / first attentive frame; a state changes at the first frame
    # at or after which the condition holds, and the hold ends at the first frame min_on_s later
    a = max(x for x in times if x < 60.0)
    b = max(x for x in times if x < 90.0)
    first = lambda cond: next(x for x in times if cond(x))  # noqa: E731
    crossed_on = first(lambda x: x - a >= alerts.on_threshold * scoring.window_s)
    crossed_off = first(lambda x: x > b and b - (x - scoring.window_s) <= alerts.off_threshold * scoring.window_s)
    assert events[0].t == first(lambda x: x - crossed_on >= alerts.min_on_s - 1e-9)
    assert events[1].t == first(lambda x: x - crossed_off >= alerts.min_off_s - 1e-9)
    assert abs(events[0].t - 77.0) < 1.3 and abs(events[1].t - 107.0) < 1.3


def test_time_going_backwards_is_an_error():
    scorer = Scorer(*config())
    scorer.update(5.0, [attentive(1)])
    with pytest.raises(ValueError, match="backwards"):
        scorer.update(4.0, [attentive(1)])


def test_wrong_probability_shape_is_an_error():
    scorer = Scorer(*config())
    with pytest.raises(ValueError, match="shape"):
        scorer.update(0.0, [attentive(1, np.ones(5) / 5)])


def test_config_rejects_a_zero_furrow_drop(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[scoring]\nbrow_furrow_drop = 0.0\n")
    with pytest.raises(ConfigError, match="brow_furrow_drop"):
        load_config(path)


def test_config_switches_the_mirror_reading_off_and_refuses_a_non_boolean(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("[classify]\nflip_average = false\n")
    assert load_config(path).classify.flip_average is False
    path.write_text('[classify]\nflip_average = "yes"\n')
    with pytest.raises(ConfigError, match=r"\[classify\] flip_average must be bool"):
        load_config(path)


def test_only_seen_students_are_scored():
    scorer = Scorer(*config())
    scorer.update(0.0, [attentive(1), attentive(2)])
    scored, _ = scorer.update(0.2, [attentive(2)])
    assert [s.student for s in scored] == [2]
    assert 0.0 <= scored[0].engagement <= 1.0 and 0.0 <= scored[0].confusion <= 1.0
