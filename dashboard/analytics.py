"""Numbers behind the charts. The report and students pages work from observations summed per
time bin per student (:data:`db.aggregates.BIN_COLUMNS`, computed in SQL), never every
observation; the live page's "now" reads the last seconds' raw observations
(:data:`db.repository.EXPORT_COLUMNS`). Pure pandas, no Streamlit, no plotting."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from db.aggregates import BIN_COLUMNS
from db.repository import EMOTION_COLUMNS

EMOTIONS = EMOTION_COLUMNS  # the FER2013 order, the label contract
# What an attention-only session's student table leaves out (it has no emotion or confusion values).
EMOTION_SUMMARY_COLUMNS = ("confusion", "most frequent emotion")
PURGED_MARK = "observations purged after"  # in a session's note once retention deleted its observations (db.repository)
# "Nice" bin widths in seconds, for a chart of at most about 40 columns whatever the session's length.
BIN_CHOICES = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


def format_t(seconds: float | None) -> str:
    """Media time as m:ss (or h:mm:ss)."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def auto_bin_seconds(duration: float, target_bins: int = 40) -> int:
    for b in BIN_CHOICES:
        if duration / b <= target_bins:
            return b
    return BIN_CHOICES[-1]


def bin_observations(frame: pd.DataFrame, bin_s: float) -> pd.DataFrame:
    """The observations frame summed per time bin per student: the same table, :data:`BIN_COLUMNS`
    plus ``student``, that :func:`db.aggregates.binned_observations` computes in SQL. The pages
    read the SQL one; this is its definition in pandas (and what tests check it against)."""
    if frame.empty:
        return pd.DataFrame(columns=[*BIN_COLUMNS, "student"])
    binned = frame.assign(bin=(frame["t"] // bin_s) * bin_s)
    # Readable: the engine's quality floor passed (missing = recorded before it was measured).
    ok = binned["readable"].map(lambda v: v is None or pd.isna(v) or bool(v)) if "readable" in binned else True
    for e in EMOTIONS:
        binned[f"n_{e}"] = ((binned["emotion"] == e) & ok).astype("int64")
    binned["n_read"] = (binned["emotion"].notna() & ok).astype("int64")
    binned["confusion_read"] = binned["confusion"].where(ok)
    g = binned.groupby(["bin", "student_id"], sort=True)
    out = pd.DataFrame({
        "n": g.size(), "n_read": g["n_read"].sum(), "t_min": g["t"].min(), "t_max": g["t"].max(),
        "engagement_sum": g["engagement"].sum(), "confusion_sum": g["confusion_read"].sum(min_count=1),  # empty, as SQL's SUM, when none was read
        **{f"n_{e}": g[f"n_{e}"].sum() for e in EMOTIONS},
        "student": g["student"].first(),
    }).reset_index()
    return out[[*BIN_COLUMNS, "student"]]


def coarsen(bins: pd.DataFrame, bin_s: float) -> pd.DataFrame:
    """Sums per finer bin (a width that divides ``bin_s``) regrouped into ``bin_s`` bins: the same
    table the database would give for ``bin_s`` (sums and counts add, first/last times take the
    min/max), so a change of bin width needs no new query."""
    if bins.empty:
        return bins
    g = bins.assign(bin=(bins["bin"] // bin_s) * bin_s).groupby(["bin", "student_id"], sort=True)
    sums = ["n", "n_read", "engagement_sum", *(f"n_{e}" for e in EMOTIONS)]
    out = (g[sums].sum().join(g["confusion_sum"].sum(min_count=1))  # empty where no finer bin had any
           .join(g["t_min"].min()).join(g["t_max"].max()))
    if "student" in bins.columns:
        out = out.join(g["student"].first())
    out = out.reset_index()
    return out[[c for c in (*BIN_COLUMNS, "student") if c in out.columns]]


def _dominant(counts: pd.DataFrame) -> pd.Series:
    """The most frequent emotion of each row of ``n_<emotion>`` counts; a tie goes to the
    emotion first in the label order (the same answer whichever database summed them)."""
    return pd.Series(np.asarray(EMOTIONS)[counts[[f"n_{e}" for e in EMOTIONS]].to_numpy().argmax(axis=1)],
                     index=counts.index)


def _per_read(total: pd.Series, n_read: pd.Series) -> pd.Series:
    """``total / n_read``, empty (NaN) where nothing was readable: no reading is not a zero."""
    return (total / n_read.where(n_read > 0)).astype(float)


def class_mood(bins: pd.DataFrame) -> pd.DataFrame:
    """Per time bin: the share of *readable* observations whose dominant emotion is each label
    (sums to 1; empty where none was readable), mean engagement (all observations) and confusion
    (readable ones), how many students were seen, and ``read``: the share of observations whose
    expression was readable (the engine's quality floor). Index: bin start (s).
    ``bins``: :func:`bin_observations` or :func:`db.aggregates.binned_observations`."""
    cols = [*EMOTIONS, "engagement", "confusion", "students", "read"]
    if bins.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="bin", dtype=float))
    g = bins.groupby("bin", sort=True)
    n, n_read = g["n"].sum(), g["n_read"].sum()
    mood = pd.DataFrame({e: _per_read(g[f"n_{e}"].sum(), n_read) for e in EMOTIONS})
    mood["engagement"] = g["engagement_sum"].sum() / n
    mood["confusion"] = _per_read(g["confusion_sum"].sum(), n_read)
    mood["students"] = g["student_id"].nunique()
    mood["read"] = n_read / n
    mood.index = mood.index.astype(float)
    mood.index.name = "bin"
    return mood[cols]


def _first_seen_order(bins: pd.DataFrame) -> pd.Index:
    """Student ids in order of first appearance (ties: the earlier track)."""
    first = bins.groupby("student_id")["t_min"].min().reset_index()
    return pd.Index(first.sort_values(["t_min", "student_id"], kind="stable")["student_id"])


def student_timeline(bins: pd.DataFrame, value: str = "engagement") -> pd.DataFrame:
    """Students (rows, by name, in order of first appearance) by time bin (columns): mean
    engagement or confusion, or the most frequent emotion when ``value`` is "emotion". Empty
    where a student was not seen."""
    if bins.empty:
        return pd.DataFrame()
    if value == "emotion":
        cell = _dominant(bins).where(bins["n_read"] > 0)
    elif value == "confusion":
        cell = _per_read(bins["confusion_sum"], bins["n_read"])
    else:
        cell = bins[f"{value}_sum"] / bins["n"]
    table = pd.DataFrame({"student_id": bins["student_id"], "bin": bins["bin"].astype(float), "v": cell})
    table = table.pivot(index="student_id", columns="bin", values="v")
    table = table.reindex(index=_first_seen_order(bins), columns=sorted(bins["bin"].astype(float).unique()))
    names = bins.groupby("student_id")["student"].first()
    table.index = pd.Index([names[i] for i in table.index], name="student")
    table.columns.name = "bin"
    return table


def notable_moments(mood: pd.DataFrame, column: str, n: int = 5, largest: bool = True,
                    bin_s: float | None = None) -> pd.DataFrame:
    """The ``n`` bins with the highest (or lowest) ``column``: when, the value, how many students."""
    if mood.empty:
        return pd.DataFrame(columns=["from", "to", column, "students"])
    picked = mood[column].nlargest(n) if largest else mood[column].nsmallest(n)
    width = bin_s if bin_s is not None else (mood.index[1] - mood.index[0] if len(mood) > 1 else 0)
    return pd.DataFrame({
        "from": [format_t(t) for t in picked.index],
        "to": [format_t(t + width) for t in picked.index],
        column: picked.round(2).to_numpy(),
        "students": mood.loc[picked.index, "students"].to_numpy(),
    })


def student_summary(bins: pd.DataFrame, alert_counts: dict[int, int] | None = None) -> pd.DataFrame:
    """One row per student (in order of first appearance): when seen, how often, mean
    engagement and confusion, the most frequent emotion, and the number of alerts about them."""
    cols = ["student", "first seen", "last seen", "observations", "engagement", "confusion",
            "most frequent emotion", "alerts"]
    if bins.empty:
        return pd.DataFrame(columns=cols)
    g = bins.groupby("student_id")
    totals = g[["n", "n_read", "engagement_sum", "confusion_sum", *(f"n_{e}" for e in EMOTIONS)]].sum()
    out = pd.DataFrame({
        "student": g["student"].first(),
        "first seen": g["t_min"].min().map(format_t),
        "last seen": g["t_max"].max().map(format_t),
        "observations": totals["n"],
        "engagement": (totals["engagement_sum"] / totals["n"]).round(2),
        "confusion": _per_read(totals["confusion_sum"], totals["n_read"]).round(2),
        "most frequent emotion": _dominant(totals).where(totals["n_read"] > 0, "not readable"),
    })
    counts = alert_counts or {}
    out["alerts"] = [counts.get(sid, 0) for sid in out.index]
    return out.loc[_first_seen_order(bins), cols].reset_index(drop=True)


def overall(bins: pd.DataFrame) -> dict[str, float]:
    """The whole session's figures: students seen, observations, last media time, mean
    engagement and confusion (weighted by observations, as over the raw rows)."""
    n = int(bins["n"].sum()) if not bins.empty else 0
    n_read = int(bins["n_read"].sum()) if n else 0
    return {
        "students": int(bins["student_id"].nunique()) if n else 0, "observations": n,
        "end_t": float(bins["t_max"].max()) if n else 0.0,
        "engagement": float(bins["engagement_sum"].sum() / n) if n else float("nan"),
        "confusion": float(bins["confusion_sum"].sum() / n_read) if n_read else float("nan"),
        "read": n_read / n if n else float("nan"),  # share of observations whose expression counted
    }


def latest_per_student(frame: pd.DataFrame, window_s: float = 10.0) -> pd.DataFrame:
    """Each student's most recent observation, for students seen in the last ``window_s``
    seconds of media time."""
    if frame.empty:
        return frame
    recent = frame[frame["t"] >= frame["t"].max() - window_s]
    return recent.sort_values("t").groupby("student_id").tail(1).sort_values("student_id")


def mood_now(latest: pd.DataFrame) -> dict[str, float]:
    """Share of each emotion among the readable faces seen just now (all 0 when none is), mean
    engagement of all of them and mean confusion of the readable ones (NaN when none is)."""
    if latest.empty:
        return {}
    read = latest
    if "readable" in latest:
        read = latest[latest["readable"].map(lambda v: v is None or pd.isna(v) or bool(v))]
    shares = read["emotion"].value_counts(normalize=True)
    out = {e: float(shares.get(e, 0.0)) for e in EMOTIONS}
    out["engagement"] = float(latest["engagement"].mean())
    out["confusion"] = float(read["confusion"].mean()) if len(read) else float("nan")
    return out


def analysed_rate(history: list[tuple[float, int]], window_s: float = 30.0,
                  min_span_s: float = 10.0) -> float | None:
    """Frames analysed per media second lately, from a live session's (video_seconds,
    frames_analyzed) as successive refreshes read them (oldest first): over the last
    ``window_s`` media seconds, or since the oldest reading where the class is younger; None
    until ``min_span_s`` have passed. A live engine skips the frames that pass while it is
    busy with one, so this is what it manages now, not what was asked."""
    if not history:
        return None
    t_now, n_now = history[-1]
    earlier = [(t, n) for t, n in history[:-1] if t <= t_now - window_s]
    t0, n0 = earlier[-1] if earlier else history[0]
    span = t_now - t0
    return (n_now - n0) / span if span >= min_span_s else None


# -- honest readings: coverage and each student's own baseline ------------------------------------

# Why a reading was not counted (db.models.Observation.unreadable_reason), in a teacher's words.
REASON_WORDS = {"small": "faces too small", "turned": "turned away", "down": "heads down", "blurred": "blurred",
                "dark": "too dark", "unknown": "other reasons"}
# ... and for one student's reading (the live page's tiles).
READING_WORDS = {"small": "face too small", "turned": "turned away", "down": "head down", "blurred": "blurred",
                 "dark": "too dark"}
ABOVE_USUAL = 0.2  # a bin's confusion this far above the student's own usual counts as "above usual"


@dataclass(frozen=True)
class Coverage:
    """How much of the time in view a face's expression could be read (the engine's quality floor)."""

    observations: int
    read: float  # share of observations whose expression was read
    reasons: tuple[tuple[str, float], ...]  # (reason in words, share of all observations), largest first
    measured: bool  # False: every observation was recorded before the engine measured face quality

    def sentence(self) -> str:
        """"Emotion read for 62 % of student-minutes in view; otherwise faces too small (30 %) ..."."""
        if not self.measured:
            return ("This session was analysed before the engine measured face quality: every reading counts, "
                    "including small or turned-away faces.")
        head = f"Emotion read for {self.read:.0%} of student-minutes in view"
        if not self.reasons:
            return head + "."
        parts = [f"{words} ({share:.0%})" for words, share in self.reasons]
        rest = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
        return f"{head}; otherwise {rest}."


def coverage(counts: dict[str | None, int]) -> Coverage | None:
    """From :func:`db.aggregates.quality_counts`; None without observations."""
    total = sum(counts.values())
    if not total:
        return None
    unmeasured = counts.get("unmeasured", 0)
    read = (counts.get(None, 0) + unmeasured) / total
    reasons = sorted(((REASON_WORDS.get(k, REASON_WORDS["unknown"]), v / total) for k, v in counts.items()
                      if k not in (None, "unmeasured") and v), key=lambda kv: -kv[1])
    return Coverage(total, read, tuple(reasons), measured=unmeasured < total)


def _confusion_cells(bins: pd.DataFrame) -> pd.DataFrame:
    """Per (bin, student): readable confusion mean, only where something was readable."""
    cells = bins.assign(value=_per_read(bins["confusion_sum"], bins["n_read"]))
    return cells[cells["n_read"] > 0]


def baseline_timeline(bins: pd.DataFrame) -> pd.DataFrame:
    """:func:`student_timeline` of confusion minus the student's own usual (the median of their
    readable bins): 0 = as usual for them, + = more confused-looking than usual."""
    table = student_timeline(bins, "confusion")
    if table.empty:
        return table
    return table.sub(table.median(axis=1, skipna=True), axis=0)


def student_baseline(bins: pd.DataFrame) -> pd.DataFrame:
    """One row per student (order of first appearance): how much of their time in view their
    expression was read, their usual (most frequent) emotion and how often they showed another,
    their usual confusion (median over the bins where they were readable), the highest bin above
    it and the share of their readable bins at least :data:`ABOVE_USUAL` above it. A student whose
    resting face reads "sad" has a high usual and is not "above usual" all lesson."""
    cols = ["student", "emotion read", "usual emotion", "another emotion", "usual confusion",
            "highest above usual", f"time {ABOVE_USUAL:.1f}+ above usual"]
    if bins.empty:
        return pd.DataFrame(columns=cols)
    g = bins.groupby("student_id")
    totals = g[["n", "n_read", *(f"n_{e}" for e in EMOTIONS)]].sum()
    usual = _dominant(totals)
    n_usual = pd.Series([totals.loc[sid, f"n_{e}"] for sid, e in usual.items()], index=totals.index)
    cells = _confusion_cells(bins)
    median = cells.groupby("student_id")["value"].median()
    deviation = cells["value"] - cells["student_id"].map(median)
    dev = pd.DataFrame({"student_id": cells["student_id"], "d": deviation}).groupby("student_id")["d"]
    read = totals["n_read"] > 0
    out = pd.DataFrame({
        "student": g["student"].first(),
        "emotion read": (totals["n_read"] / totals["n"]).map(lambda v: f"{v:.0%}"),
        "usual emotion": usual.where(read, "not readable"),
        "another emotion": _per_read(totals["n_read"] - n_usual, totals["n_read"]).map(
            lambda v: "-" if pd.isna(v) else f"{v:.0%}"),
        "usual confusion": median.reindex(totals.index).round(2),
        "highest above usual": dev.max().reindex(totals.index).round(2),
        f"time {ABOVE_USUAL:.1f}+ above usual": (dev.apply(lambda d: (d >= ABOVE_USUAL).mean())
                                                 .reindex(totals.index).map(lambda v: "-" if pd.isna(v) else f"{v:.0%}")),
    })
    return out.loc[_first_seen_order(bins), cols].reset_index(drop=True)
