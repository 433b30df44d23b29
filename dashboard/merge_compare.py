"""The two students of a merge side by side, before the teacher confirms it: when each was seen,
how often, how engaged, and their engagement over time on one axis (a gap is a time the student
was not in view, so two tracks of one person take turns, and two people overlap)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.analytics import format_t

COLORS = ("#1f77b4", "#d62728")  # kept, merged: the same two colours in the cards and the chart


@dataclass(frozen=True)
class Track:
    """One student as the comparison shows them."""

    student_id: int
    name: str
    observations: int
    first_seen: float | None  # media seconds; None: never seen
    last_seen: float | None
    engagement: float | None  # mean over the session
    alerts: int


def tracks(bins: pd.DataFrame, student_ids: Sequence[int], names: Mapping[int, str],
           alert_counts: Mapping[int, int]) -> list[Track]:
    """One :class:`Track` per id, in the order given, from the page's sums per bin per student."""
    out = []
    for sid in student_ids:
        rows = bins[bins["student_id"] == sid] if not bins.empty else bins
        n = int(rows["n"].sum()) if len(rows) else 0
        out.append(Track(
            sid, names.get(sid, f"student #{sid}"), n,
            float(rows["t_min"].min()) if n else None, float(rows["t_max"].max()) if n else None,
            float(rows["engagement_sum"].sum() / n) if n else None, int(alert_counts.get(sid, 0)),
        ))
    return out


def card_lines(track: Track) -> list[str]:
    """The figures of one track, as short lines."""
    seen = (f"seen from {format_t(track.first_seen)} to {format_t(track.last_seen)}"
            if track.first_seen is not None else "never seen")
    engagement = f"mean engagement {track.engagement:.2f}" if track.engagement is not None else "no engagement reading"
    return [seen, f"{track.observations:,} observations", engagement, f"{track.alerts} alerts"]


def timeline_figure(bins: pd.DataFrame, pair: Sequence[Track], bin_s: float, height: int = 260) -> go.Figure:
    """Engagement per bin of the two students on one time axis; bins without a sighting are gaps."""
    fig = go.Figure()
    if bins.empty:
        return fig
    grid = np.arange(0.0, float(bins["bin"].max()) + bin_s, bin_s)
    for track, color in zip(pair, COLORS, strict=False):
        rows = bins[bins["student_id"] == track.student_id].groupby("bin")[["n", "engagement_sum"]].sum()
        series = (rows["engagement_sum"] / rows["n"]).reindex(grid)  # NaN: not in view, drawn as a gap
        fig.add_trace(go.Scatter(x=grid + bin_s / 2, y=series, name=track.name, mode="lines+markers",
                                 connectgaps=False, line={"color": color, "width": 2}, marker={"size": 4},
                                 hovertemplate=f"{track.name}: %{{y:.2f}}<extra></extra>"))
    step = max(bin_s, float(grid[-1]) / 8 if len(grid) else bin_s)
    ticks = np.arange(0.0, float(grid[-1]) + bin_s + step, step)
    fig.update_xaxes(tickvals=ticks, ticktext=[format_t(t) for t in ticks], title_text="time in the recording")
    fig.update_yaxes(range=[0, 1], title_text="engagement (0-1)")
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, hovermode="x unified",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02})
    return fig
