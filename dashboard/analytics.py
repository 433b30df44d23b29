"""Numbers behind the charts. The report and students pages work from observations summed per
time bin per student (:data:`db.aggregates.BIN_COLUMNS`, computed in SQL), never every
observation; the live page's "now" reads the last seconds' raw observations
(:data:`db.repository.EXPORT_COLUMNS`). Pure pandas, no Streamlit, no plotting."""

from __future__ import annotations

import math

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
    for e in EMOTIONS:
        binned[f"n_{e}"] = (binned["emotion"] == e).astype("int64")
    g = binned.groupby(["bin", "student_id"], sort=True)
    out = pd.DataFrame({
        "n": g.size(), "t_min": g["t"].min(), "t_max": g["t"].max(),
        "engagement_sum": g["engagement"].sum(), "confusion_sum": g["confusion"].sum(),
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
    sums = ["n", "engagement_sum", "confusion_sum", *(f"n_{e}" for e in EMOTIONS)]
    out = g[sums].sum().join(g["t_min"].min()).join(g["t_max"].max())
    if "student" in bins.columns:
        out = out.join(g["student"].first())
    out = out.reset_index()
    return out[[c for c in (*BIN_COLUMNS, "student") if c in out.columns]]


def _dominant(counts: pd.DataFrame) -> pd.Series:
    """The most frequent emotion of each row of ``n_<emotion>`` counts; a tie goes to the
    emotion first in the label order (the same answer whichever database summed them)."""
    return pd.Series(np.asarray(EMOTIONS)[counts[[f"n_{e}" for e in EMOTIONS]].to_numpy().argmax(axis=1)],
                     index=counts.index)


def class_mood(bins: pd.DataFrame) -> pd.DataFrame:
    """Per time bin: the share of observations whose dominant emotion is each label (sums to
    1), mean engagement and confusion, and how many students were seen. Index: bin start (s).
    ``bins``: :func:`bin_observations` or :func:`db.aggregates.binned_observations`."""
    cols = [*EMOTIONS, "engagement", "confusion", "students"]
    if bins.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="bin", dtype=float))
    g = bins.groupby("bin", sort=True)
    n = g["n"].sum()
    mood = pd.DataFrame({e: g[f"n_{e}"].sum() / n for e in EMOTIONS})
    mood["engagement"] = g["engagement_sum"].sum() / n
    mood["confusion"] = g["confusion_sum"].sum() / n
    mood["students"] = g["student_id"].nunique()
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
    cell = _dominant(bins) if value == "emotion" else bins[f"{value}_sum"] / bins["n"]
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
    totals = g[["n", "engagement_sum", "confusion_sum", *(f"n_{e}" for e in EMOTIONS)]].sum()
    out = pd.DataFrame({
        "student": g["student"].first(),
        "first seen": g["t_min"].min().map(format_t),
        "last seen": g["t_max"].max().map(format_t),
        "observations": totals["n"],
        "engagement": (totals["engagement_sum"] / totals["n"]).round(2),
        "confusion": (totals["confusion_sum"] / totals["n"]).round(2),
        "most frequent emotion": _dominant(totals),
    })
    counts = alert_counts or {}
    out["alerts"] = [counts.get(sid, 0) for sid in out.index]
    return out.loc[_first_seen_order(bins), cols].reset_index(drop=True)


def overall(bins: pd.DataFrame) -> dict[str, float]:
    """The whole session's figures: students seen, observations, last media time, mean
    engagement and confusion (weighted by observations, as over the raw rows)."""
    n = int(bins["n"].sum()) if not bins.empty else 0
    return {
        "students": int(bins["student_id"].nunique()) if n else 0, "observations": n,
        "end_t": float(bins["t_max"].max()) if n else 0.0,
        "engagement": float(bins["engagement_sum"].sum() / n) if n else float("nan"),
        "confusion": float(bins["confusion_sum"].sum() / n) if n else float("nan"),
    }


def latest_per_student(frame: pd.DataFrame, window_s: float = 10.0) -> pd.DataFrame:
    """Each student's most recent observation, for students seen in the last ``window_s``
    seconds of media time."""
    if frame.empty:
        return frame
    recent = frame[frame["t"] >= frame["t"].max() - window_s]
    return recent.sort_values("t").groupby("student_id").tail(1).sort_values("student_id")


def mood_now(latest: pd.DataFrame) -> dict[str, float]:
    """Share of each emotion among the students seen just now, plus mean engagement/confusion."""
    if latest.empty:
        return {}
    shares = latest["emotion"].value_counts(normalize=True)
    out = {e: float(shares.get(e, 0.0)) for e in EMOTIONS}
    out["engagement"] = float(latest["engagement"].mean())
    out["confusion"] = float(latest["confusion"].mean())
    return out
