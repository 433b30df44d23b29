"""The two students of a merge side by side, before the teacher confirms it: when each was seen,
how often, how engaged, and their engagement over time on one axis (a gap is a time the student
was not in view, so two tracks of one person take turns, and two people overlap)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.analytics import format_t

COLORS = ("#1f77b4", "#d62728")  # kept, merged


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
    alerts = "1 alert" if track.alerts == 1 else f"{track.alerts} alerts"
    return [seen, f"{track.observations:,} observations", engagement, alerts]


def _nice_step(span: float) -> float:
    step = max(1.0, span / 8)
    return next((n for n in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if n >= step), 3600)


def timeline_figure(bins: pd.DataFrame, pair: Sequence[Track], bin_s: float) -> go.Figure:
    """Engagement per bin of each student in its own row, on one shared time axis; a bin without a
    sighting is a gap, so tracks that take turns and tracks that overlap are told apart at a glance."""
    fig = make_subplots(rows=len(pair), cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=[t.name for t in pair])
    if bins.empty:
        return fig
    grid = np.arange(0.0, float(bins["bin"].max()) + bin_s, bin_s)
    for row, (track, color) in enumerate(zip(pair, COLORS, strict=False), start=1):
        rows = bins[bins["student_id"] == track.student_id].groupby("bin")[["n", "engagement_sum"]].sum()
        series = (rows["engagement_sum"] / rows["n"]).reindex(grid)  # NaN: not in view, drawn as a gap
        fig.add_trace(go.Scatter(x=grid + bin_s / 2, y=series, name=track.name, mode="lines+markers",
                                 connectgaps=False, line={"color": color, "width": 2}, marker={"size": 4},
                                 hovertemplate=f"{track.name}: %{{y:.2f}}<extra></extra>"), row=row, col=1)
        fig.update_yaxes(range=[0, 1.05], title_text="engagement", row=row, col=1)
    end = float(grid[-1]) + bin_s
    step = _nice_step(end)
    ticks = np.arange(0.0, end + step, step)
    fig.update_xaxes(tickvals=ticks, ticktext=[format_t(t) for t in ticks], range=[0, end])
    fig.update_xaxes(title_text="time in the recording", row=len(pair), col=1)
    fig.update_layout(height=150 * len(pair) + 80, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      showlegend=False, hovermode="x unified")
    return fig
