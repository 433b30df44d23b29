"""Plotly figures; each takes the tables from :mod:`dashboard.analytics` and returns a figure."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.analytics import EMOTIONS, format_t

# One colour per emotion, the same on every chart (colour-blind-friendly where it matters most:
# happy vs the negative emotions).
EMOTION_COLORS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#2ca02c",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#b8b8b8",
}
ALERT_COLORS = {"confused": "#ff7f0e", "disengaged": "#d62728", "absent": "#7f7f7f"}


# Readable at any width from an A4 page (794 px) to a wide screen: every axis sizes its margin to
# its own tick labels and title (plotly's automargin), so a long student name or an h:mm:ss tick
# is never cut off, and legends sit right of the plot, where they cannot meet tick labels.
LEGEND_RIGHT = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top", "tracegroupgap": 12}
TICK_PX = 12  # plotly's default tick font size
WRAP_NAME_AT = 32  # characters: a longer student name is written on two lines beside the heatmap


def _time_ticks(seconds: Sequence[float]) -> dict:
    """A seconds axis labelled m:ss (at most nine ticks: even h:mm:ss labels never meet on a page)."""
    axis = {"title": {"text": "time in the recording"}, "automargin": True}
    if len(seconds) == 0:
        return axis
    lo, hi = float(min(seconds)), float(max(seconds))
    step = max(1.0, (hi - lo) / 8)
    nice = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if s >= step), 3600)
    ticks = np.arange(lo - lo % nice, hi + nice, nice)
    return {**axis, "tickvals": ticks, "ticktext": [format_t(t) for t in ticks]}


def _time_axis(fig: go.Figure, seconds: Sequence[float]) -> None:
    fig.update_xaxes(**_time_ticks(seconds))


def mood_figure(mood: pd.DataFrame, alert_spans: Sequence[tuple[float, float, str]] = (),
                bin_s: float = 0.0, height: int = 460, emotions: bool = True, note: str = "") -> go.Figure:
    """Class mood over time in two panels on one time axis: above, the share of readable faces
    showing each emotion (stacked areas); below, mean engagement and confusion (lines). Alert spans
    (start, end, kind) are shaded across both. ``note`` (the coverage of readable faces) is written
    on the chart, so that a saved or printed chart keeps it. ``emotions=False`` (an attention-only
    session): mean engagement alone, in one panel."""
    if not emotions:
        return engagement_figure(mood, alert_spans, bin_s=bin_s, height=min(height, 340))
    # The figure is written as one layout and a list of traces, not with make_subplots and update_*
    # calls: plotly validates each call, and that was most of a report's first drawing on the server.
    # The gap between the panels in pixels, not as a share of the height: the upper panel's "0%" and
    # the lower one's "1" are centred on the panels' edges and met on a short chart.
    plot_px = max(height - 120, 120)  # the height left for the panels, less the margins (a guess on the safe side)
    gap = min(0.25, (2 * TICK_PX + 8) / plot_px)
    split = 0.38 * (1 - gap)  # the lower panel (scores) takes 38 % of the height the panels share
    x = mood.index.to_numpy() + bin_s / 2  # plot each bin at its middle
    traces = [
        {"type": "scatter", "x": x, "y": mood[emotion], "name": emotion, "stackgroup": "mood", "mode": "lines",
         "legendgroup": "emotions", "line": {"width": 0.5, "color": EMOTION_COLORS[emotion]},
         "fillcolor": EMOTION_COLORS[emotion], "hovertemplate": f"{emotion}: %{{y:.0%}}<extra></extra>",
         "xaxis": "x", "yaxis": "y"}
        for emotion in EMOTIONS
    ]
    traces += [
        {"type": "scatter", "x": x, "y": mood["engagement"], "name": "engagement", "mode": "lines",
         "legendgroup": "scores", "line": {"color": "#1b9e77", "width": 3},
         "hovertemplate": "engagement %{y:.2f}<extra></extra>", "xaxis": "x2", "yaxis": "y2"},
        {"type": "scatter", "x": x, "y": mood["confusion"], "name": "confusion", "mode": "lines",
         "legendgroup": "scores", "line": {"color": "#d95f02", "width": 3, "dash": "dash"},
         "hovertemplate": "confusion %{y:.2f}<extra></extra>", "xaxis": "x2", "yaxis": "y2"},
    ]
    shapes, annotations = [], []
    for start, end, kind in alert_spans:
        color = ALERT_COLORS.get(kind, "#7f7f7f")
        shapes += [{"type": "rect", "x0": start, "x1": end, "xref": xref, "y0": 0, "y1": 1, "yref": f"{yref} domain",
                    "fillcolor": color, "opacity": 0.22, "line": {"width": 0}, "layer": "above"}
                   for xref, yref in (("x", "y"), ("x2", "y2"))]
        annotations.append({"x": (start + end) / 2, "xref": "x", "y": 1.0, "yref": "paper", "yanchor": "bottom",
                            "text": f"alert: {kind}", "showarrow": False, "font": {"size": 11, "color": color}})
    top = 30
    if note:  # above the alert labels, wrapped: plotly does not wrap an annotation itself
        lines = textwrap.wrap(note, 90)  # 90 characters of 11 px fit the width of an A4 page
        annotations.append({"x": 0, "xref": "paper", "xanchor": "left", "y": 1.0, "yref": "paper",
                            "yanchor": "bottom", "yshift": 16, "text": "<br>".join(lines), "showarrow": False,
                            "align": "left", "font": {"size": 11, "color": "#555"}})
        top = 36 + 15 * len(lines)
    time_axis = _time_ticks(mood.index.to_numpy())
    if height < 400:  # a small chart: the m:ss ticks say enough
        time_axis["title"] = {"text": ""}
    layout = {
        "height": height, "margin": {"l": 10, "r": 10, "t": top, "b": 10}, "hovermode": "x unified",
        "legend": {**LEGEND_RIGHT, "traceorder": "grouped"}, "shapes": shapes, "annotations": annotations,
        # Two panels on one time axis: the upper one's ticks are the lower one's (matches, no labels).
        "xaxis": {**time_axis, "title": {"text": ""}, "anchor": "y", "matches": "x2", "showticklabels": False,
                  "domain": [0, 1]},
        "xaxis2": {**time_axis, "anchor": "y2", "domain": [0, 1]},
        "yaxis": {"domain": [split + gap, 1], "anchor": "x", "range": [0, 1], "tickformat": ".0%",
                  "title": {"text": "share of faces"}, "automargin": True},
        "yaxis2": {"domain": [0, split], "anchor": "x2", "range": [0, 1], "title": {"text": "score (0-1)"},
                   "automargin": True},
    }
    return go.Figure(data=traces, layout=layout)


def engagement_figure(mood: pd.DataFrame, alert_spans: Sequence[tuple[float, float, str]] = (),
                      bin_s: float = 0.0, height: int = 340) -> go.Figure:
    """Mean engagement over time (an attention-only session's chart: no emotion, no confusion)."""
    fig = go.Figure()
    x = mood.index.to_numpy() + bin_s / 2
    fig.add_trace(go.Scatter(x=x, y=mood["engagement"], name="engagement", mode="lines",
                             line={"color": "#1b9e77", "width": 3}, hovertemplate="engagement %{y:.2f}<extra></extra>"))
    for start, end, kind in alert_spans:
        fig.add_vrect(x0=start, x1=end, fillcolor=ALERT_COLORS.get(kind, "#7f7f7f"), opacity=0.22, line_width=0,
                      layer="above")
        fig.add_annotation(x=(start + end) / 2, y=1.0, yref="paper", yanchor="bottom", text=f"alert: {kind}",
                           showarrow=False, font={"size": 11, "color": ALERT_COLORS.get(kind, "#7f7f7f")})
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, hovermode="x unified",
                      showlegend=False)
    fig.update_yaxes(range=[0, 1], title_text="engagement (0-1)", automargin=True)
    _time_axis(fig, mood.index.to_numpy())
    return fig


def _two_lines(name: str) -> str:
    """A name longer than :data:`WRAP_NAME_AT` on two lines (at a space), never cut: a tick label
    that long would leave the heatmap little room on an A4 page."""
    if len(name) <= WRAP_NAME_AT:
        return name
    lines = textwrap.wrap(name, max(WRAP_NAME_AT, -(-len(name) // 2)), break_long_words=False, break_on_hyphens=False)
    return "<br>".join([lines[0], " ".join(lines[1:])]) if len(lines) > 1 else name


def timeline_heatmap(table: pd.DataFrame, value: str, bin_s: float = 0.0) -> go.Figure:
    """Students by time: engagement/confusion as a colour scale, or the dominant emotion in
    each bin in the emotion colours."""
    x = table.columns.to_numpy(dtype=float) + bin_s / 2
    y = [str(s) for s in table.index]
    labels = [_two_lines(name) for name in y]  # the hover keeps the name on one line
    row_px = 36 if any("<br>" in label for label in labels) else 28
    height = 120 + row_px * len(y)
    if value == "emotion":
        codes = table.apply(lambda col: col.map(lambda e: EMOTIONS.index(e) if isinstance(e, str) else np.nan))
        n = len(EMOTIONS)
        # A stepped colour scale: code k covers [k/n, (k+1)/n] of the 0..n-1 range.
        scale = []
        for k, e in enumerate(EMOTIONS):
            scale += [[k / n, EMOTION_COLORS[e]], [(k + 1) / n, EMOTION_COLORS[e]]]
        fig = go.Figure(go.Heatmap(
            z=codes.to_numpy(dtype=float), x=x, y=y, zmin=-0.5, zmax=n - 0.5, colorscale=scale,
            text=table.fillna("not seen").to_numpy(), hovertemplate="%{y}: %{text}<extra></extra>",
            colorbar={"tickvals": list(range(n)), "ticktext": list(EMOTIONS), "title": "emotion"},
        ))
    elif value == "baseline":  # confusion minus the student's own usual: 0 = as usual for them
        fig = go.Figure(go.Heatmap(
            z=table.to_numpy(dtype=float), x=x, y=y, zmin=-0.5, zmax=0.5, zmid=0, colorscale="RdBu_r",
            hovertemplate="%{y}: %{z:+.2f} against their usual<extra></extra>",
            colorbar={"title": "vs usual"},
        ))
    else:
        colors = "RdYlGn" if value == "engagement" else "Purples"
        fig = go.Figure(go.Heatmap(
            z=table.to_numpy(dtype=float), x=x, y=y, zmin=0, zmax=1, colorscale=colors,
            hovertemplate="%{y}: %{z:.2f}<extra></extra>", colorbar={"title": value},
        ))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 20, "b": 10})
    fig.update_yaxes(autorange="reversed", automargin=True, tickvals=y, ticktext=labels)
    _time_axis(fig, table.columns.to_numpy(dtype=float))
    return fig


def confusion_heatmap(confusion: Sequence[Sequence[int]], labels: Sequence[str] = EMOTIONS,
                      normalise: bool = False) -> go.Figure:
    """Rows = true label, columns = prediction; ``normalise`` divides each row by its total
    (so the diagonal reads as recall)."""
    m = np.asarray(confusion, dtype=float)
    if normalise:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    text = [[f"{v:.0%}" if normalise else f"{int(v)}" for v in row] for row in m]
    fig = go.Figure(go.Heatmap(
        z=m, x=list(labels), y=list(labels), colorscale="Blues", text=text, texttemplate="%{text}",
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        colorbar={"title": "share of row" if normalise else "faces"},
    ))
    fig.update_layout(height=480, margin={"l": 10, "r": 10, "t": 20, "b": 10},
                      xaxis_title="predicted", yaxis_title="true label")
    fig.update_yaxes(autorange="reversed")
    return fig


def accuracy_comparison(rows: pd.DataFrame) -> go.Figure:
    """Horizontal bars, one per model (``name``, ``accuracy`` 0..1, optional ``low``, ``group``
    ours/reference)."""
    colors = rows["group"].map({"ours": "#1f77b4", "reference": "#b0b0b0"}).fillna("#b0b0b0")
    # A published range (e.g. 72-73.3 %) is drawn as its top with an error bar down to its bottom.
    low = rows["low"] if "low" in rows else pd.Series([None] * len(rows))
    minus = [a - lo if pd.notna(lo) else 0.0 for a, lo in zip(rows["accuracy"], low, strict=True)]
    text = [f"{lo:.0%}-{a:.1%}" if pd.notna(lo) else f"{a:.1%}" for a, lo in zip(rows["accuracy"], low, strict=True)]
    fig = go.Figure(go.Bar(
        x=rows["accuracy"], y=rows["name"], orientation="h", marker_color=colors, text=text,
        textposition="outside", error_x={"type": "data", "symmetric": False, "array": [0.0] * len(rows),
                                         "arrayminus": minus, "color": "#555"},
        hovertemplate="%{y}: %{text}<extra></extra>",
    ))
    fig.update_layout(height=90 + 34 * len(rows), margin={"l": 10, "r": 40, "t": 20, "b": 10},
                      xaxis={"range": [0, 1], "tickformat": ".0%", "title": "FER2013 PrivateTest accuracy"})
    fig.update_yaxes(autorange="reversed")
    return fig


def warm_up_figure() -> go.Figure:
    """An empty, 10 px, static chart. The sign-in page shows it so that the browser fetches and
    compiles Streamlit's plotly.js (4.6 MB, 1.7-4 s of a 2-core laptop's CPU) while the teacher
    types, instead of on the first report they open (``benchmarks/report_open.py``)."""
    fig = go.Figure()
    fig.update_layout(height=10, margin={"l": 0, "r": 0, "t": 0, "b": 0}, xaxis={"visible": False},
                      yaxis={"visible": False}, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig
