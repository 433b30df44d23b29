"""Numbers behind the charts, from the observations frame (one row per student per analysed
frame, :data:`db.repository.EXPORT_COLUMNS`). Pure pandas, no Streamlit, no plotting."""

from __future__ import annotations

import math

import pandas as pd

from db.repository import EMOTION_COLUMNS

EMOTIONS = EMOTION_COLUMNS  # the FER2013 order, the label contract
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


def with_bins(frame: pd.DataFrame, bin_s: float) -> pd.DataFrame:
    out = frame.copy()
    out["bin"] = (out["t"] // bin_s) * bin_s
    return out


def class_mood(frame: pd.DataFrame, bin_s: float) -> pd.DataFrame:
    """Per time bin: the share of observations whose dominant emotion is each label (sums to
    1), mean engagement and confusion, and how many students were seen. Index: bin start (s)."""
    cols = [*EMOTIONS, "engagement", "confusion", "students"]
    if frame.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="bin", dtype=float))
    binned = with_bins(frame, bin_s)
    shares = pd.crosstab(binned["bin"], binned["emotion"], normalize="index")
    shares = shares.reindex(columns=list(EMOTIONS), fill_value=0.0)
    grouped = binned.groupby("bin")
    mood = shares.join(grouped[["engagement", "confusion"]].mean())
    mood["students"] = grouped["student_id"].nunique()
    mood.index.name = "bin"
    return mood[cols]


def _mode(values: pd.Series) -> str:
    return values.value_counts().index[0]


def student_timeline(frame: pd.DataFrame, bin_s: float, value: str = "engagement") -> pd.DataFrame:
    """Students (rows, in order of first appearance) by time bin (columns): mean engagement
    or confusion, or the most frequent emotion when ``value`` is "emotion". Empty where a
    student was not seen."""
    if frame.empty:
        return pd.DataFrame()
    binned = with_bins(frame, bin_s)
    agg = _mode if value == "emotion" else "mean"
    table = binned.pivot_table(index="student", columns="bin", values=value, aggfunc=agg)
    order = binned.groupby("student")["t"].min().sort_values().index
    all_bins = sorted(binned["bin"].unique())
    return table.reindex(index=order, columns=all_bins)


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


def student_summary(frame: pd.DataFrame, alert_counts: dict[int, int] | None = None) -> pd.DataFrame:
    """One row per student: when seen, how often, mean engagement and confusion, the most
    frequent emotion, and the number of alerts about them."""
    cols = ["student", "first seen", "last seen", "observations", "engagement", "confusion",
            "most frequent emotion", "alerts"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    g = frame.groupby("student_id")
    out = pd.DataFrame({
        "student": g["student"].first(),
        "first seen": g["t"].min().map(format_t),
        "last seen": g["t"].max().map(format_t),
        "observations": g.size(),
        "engagement": g["engagement"].mean().round(2),
        "confusion": g["confusion"].mean().round(2),
        "most frequent emotion": g["emotion"].agg(_mode),
    })
    counts = alert_counts or {}
    out["alerts"] = [counts.get(sid, 0) for sid in out.index]
    first = g["t"].min()
    return out.loc[first.sort_values().index, cols].reset_index(drop=True)


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
