"""Downloads of a session report: the observations CSV (the engine's export columns, streamed), a
self-contained HTML page (plotly.js inlined: opens offline) and a PDF (fpdf2)."""

from __future__ import annotations

import html
import io
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy.orm import sessionmaker

from dashboard import data
from dashboard.analytics import EMOTIONS, format_t
from dashboard.charts import ALERT_COLORS, EMOTION_COLORS
from dashboard.data import SessionInfo


def csv_file(factory: sessionmaker, session_id: int, viewer=None) -> BinaryIO:
    """The observations CSV (exactly :data:`db.repository.EXPORT_COLUMNS`, in order), streamed
    from the database into a temporary file: memory stays flat however long the session. Built
    only when the teacher asks for it (a deferred download). With ``viewer`` (the signed-in user),
    refused unless they may see the session (:class:`dashboard.data.NotVisible`)."""
    text = io.TextIOWrapper(tempfile.TemporaryFile(), encoding="utf-8", newline="")  # gone when closed
    data.export_csv(factory, session_id, text, viewer=viewer)
    text.flush()
    file = text.detach().detach()  # the bare file (the buffered writer flushed), which nothing else closes
    file.seek(0)
    # A reader, since Streamlit takes str, bytes, BytesIO, BufferedReader or RawIOBase; note that
    # it then reads the finished file into memory once to serve it (Streamlit has no streamed download).
    return io.BufferedReader(file)


@dataclass
class ReportContent:
    session: SessionInfo
    mood: pd.DataFrame  # analytics.class_mood
    bin_s: float
    figures: dict[str, go.Figure]  # heading -> figure
    summary: pd.DataFrame  # analytics.student_summary
    confused: pd.DataFrame | None  # analytics.notable_moments; None for an attention-only session
    disengaged: pd.DataFrame
    alerts: pd.DataFrame
    alert_spans: list[tuple[float, float, str]] = field(default_factory=list)  # whole-class alerts, shaded
    coverage: str = ""  # analytics.Coverage.sentence(): how much of the time expressions were readable
    baseline: pd.DataFrame | None = None  # analytics.student_baseline; None for an attention-only session


def _facts(session: SessionInfo) -> list[tuple[str, str]]:
    return [
        ("Session", f"#{session.id} {session.title}"),
        ("Source", f"{session.source} ({session.source_kind})"),
        ("Status", session.status + (f": {session.note}" if session.note else "")),
        ("Started (UTC)", f"{session.started_at:%Y-%m-%d %H:%M}"),
        ("Length analysed", format_t(session.video_seconds)),
        ("Model", session.model_version or "-"),
        ("Mode", "emotions and attention" if session.emotions else
         "attention-only: no expressions read, no emotion or confusion values"),
    ]


BASELINE_HEADING = "Compared with each student's usual"


def _tables(content: ReportContent) -> list[tuple[str, pd.DataFrame]]:
    """The report's tables, in order; an attention-only session has no "most confused" one."""
    tables = [("Most confused moments", content.confused)] if content.confused is not None else []
    tables += [("Least engaged moments", content.disengaged), ("Students", content.summary)]
    if content.baseline is not None:
        tables.append((BASELINE_HEADING, content.baseline))
    return tables + [("Alerts", content.alerts)]


# The page reads at any screen width and prints on A4 or Letter: tables wrap their text within the
# page, each chart fills the width it has (plotly's responsive config redraws it when the window
# changes), and before printing every chart is redrawn at the printed width (PRINT_WIDTH_PX): a
# chart drawn for a wide window would otherwise be cut at the paper's edge.
PRINT_WIDTH_PX = 700  # A4 portrait less 12 mm margins is 703 CSS px; Letter is wider
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    # A table cell breaks a word only when the table would not fit the page otherwise (overflow-wrap:
    # anywhere lets the table shrink below its longest word; at .9em an A4 page never needs it).
    "table{border-collapse:collapse;margin:.5em 0 1.5em;max-width:100%;font-size:.9em}"
    "td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}"
    "th{background:#f3f3f3}.chart{width:100%;margin:0 0 1.5em}"
    "@page{size:A4;margin:12mm}"
    "@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}"
    ".chart,tr{break-inside:avoid}h2{break-after:avoid}}"
)
_PRINT_SCRIPT = f"""<script>
(function () {{
  function charts() {{ return Array.from(document.querySelectorAll(".chart .js-plotly-plot")); }}
  window.addEventListener("beforeprint", function () {{
    charts().forEach(function (gd) {{ Plotly.relayout(gd, {{width: {PRINT_WIDTH_PX}}}); }});
  }});
  window.addEventListener("afterprint", function () {{
    charts().forEach(function (gd) {{ Plotly.relayout(gd, {{width: null, autosize: true}}); }});
  }});
}})();
</script>"""


def html_report(content: ReportContent) -> str:
    s = content.session
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Class report #{s.id} {html.escape(s.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Class report: {html.escape(s.title)}</h1><table>",
        *(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _facts(s)),
        "</table>",
        f"<p><strong>Readable faces:</strong> {html.escape(content.coverage)}</p>" if content.coverage else "",
    ]
    first = True
    for heading, fig in content.figures.items():
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        # plotly.js is inlined once, with the first figure; the file works without a network.
        chart = fig.to_html(full_html=False, include_plotlyjs="inline" if first else False,
                            config={"responsive": True, "displaylogo": False})
        parts.append(f"<div class='chart'>{chart}</div>")
        first = False
    if content.figures:
        parts.append(_PRINT_SCRIPT)
    for heading, table in _tables(content):
        parts.append(f"<h2>{heading}</h2>")
        parts.append(table.to_html(index=False, escape=True, border=0) if not table.empty else "<p>None.</p>")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p><small>Generated {generated} by the classroom-engagement dashboard.</small></p></body></html>")
    return "\n".join(parts)


def _font_path() -> Path | None:
    """A Unicode TTF (student names are not Latin-1): matplotlib ships DejaVu Sans."""
    try:
        import matplotlib

        p = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return p if p.exists() else None
    except ImportError:
        return None


def _mood_png(mood: pd.DataFrame, bin_s: float, spans=(), emotions: bool = True) -> bytes:
    """The mood chart drawn with matplotlib (plotly needs a browser to make images); without
    ``emotions`` (attention-only) engagement alone. Drawn at the size it is printed (CHART_MM wide
    on A4 landscape), so its 9 pt ticks stay 9 pt on paper; the legend sits right of the plot,
    clear of the tick labels and the axis title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig, ax = plt.subplots(figsize=(CHART_MM / 25.4, 3.4), dpi=150)
    x = mood.index.to_numpy() + bin_s / 2
    if emotions:
        ax.stackplot(x, *[mood[e].to_numpy() for e in EMOTIONS], labels=list(EMOTIONS),
                     colors=[EMOTION_COLORS[e] for e in EMOTIONS], alpha=0.85)
    ax.plot(x, mood["engagement"], color="black", lw=2, label="engagement")
    if emotions:
        ax.plot(x, mood["confusion"], color="#e377c2", lw=2, ls="--", label="confusion")
    for start, end, kind in spans:
        ax.axvspan(start, end, color=ALERT_COLORS.get(kind, "#7f7f7f"), alpha=0.25, lw=0)
        ax.text((start + end) / 2, 1.01, f"alert: {kind}", ha="center", va="bottom", fontsize=8,
                color=ALERT_COLORS.get(kind, "#7f7f7f"))
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 3, 5, 6, 10]))  # whole m:ss steps, never crowded
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_t(v)))
    ax.tick_params(labelsize=9)
    ax.set_xlabel("time in the recording", fontsize=9)
    ax.set_ylabel("share of faces" if emotions else "engagement (0-1)", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")  # the legend and labels inside the image
    plt.close(fig)
    return buf.getvalue()


CHART_MM = 260.0  # the mood chart's printed width (A4 landscape: 277 mm between the margins)
TABLE_FONT_SIZES = (8, 7, 6)  # pt: a wide table is set smaller before any word is cut


@dataclass(frozen=True)
class TableLayout:
    font_size: float
    col_widths: tuple[float, ...]  # mm; they add up to the width between the page's margins


def _cells(table: pd.DataFrame) -> list[list[str]]:
    """The header and the rows as printed; an empty value (NaN: nothing readable) prints as "-"
    (pandas 3 keeps NaN through astype(str))."""
    body = table.astype(object).where(table.notna(), "-").astype(str)
    return [[str(c) for c in table.columns], *(list(row) for row in body.itertuples(index=False))]


def table_layout(pdf, table: pd.DataFrame) -> TableLayout:
    """Column widths for ``table`` across the page, from what the cells hold: no column is cut
    narrower than its longest word (so no word is broken across lines), the first column (the
    students' names) keeps its longest value on one line up to a third of the page, and the room
    left goes to the columns with the most text. A table that does not fit is set in a smaller
    font; at the smallest, the columns share the page by their longest words (a word may break)."""
    width = pdf.epw
    cells = _cells(table)
    columns = list(zip(*cells, strict=True))
    pad = 2 * pdf.c_margin + 1.0  # the cell's inner margins, and a millimetre to spare
    for size in TABLE_FONT_SIZES:
        pdf.set_font(size=size)
        natural = [max(pdf.get_string_width(v) for v in col) + pad for col in columns]
        least = [max(pdf.get_string_width(w) for v in col for w in v.split() or [""]) + pad for col in columns]
        least[0] = max(least[0], min(natural[0], width / 3))
        if sum(natural) <= width:  # every cell on one line: widen each in proportion
            return TableLayout(size, tuple(n * width / sum(natural) for n in natural))
        if sum(least) <= width:  # wrap at spaces, giving the room left to the longer texts
            extra = [n - lo for n, lo in zip(natural, least, strict=True)]
            room = width - sum(least)
            return TableLayout(size, tuple(lo + room * e / sum(extra) for lo, e in zip(least, extra, strict=True)))
    return TableLayout(TABLE_FONT_SIZES[-1], tuple(lo * width / sum(least) for lo in least))


def new_pdf():
    """An A4 landscape document with a Unicode font (student names are not Latin-1); returns the
    document and the font family to use."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", format="A4")
    font = _font_path()
    family = "Helvetica"
    if font:
        pdf.add_font("DejaVu", "", str(font))
        pdf.add_font("DejaVu", "B", str(font))  # same face for bold: names must render, style can wait
        family = "DejaVu"
    pdf.set_font(family, "", 10)
    return pdf, family


def pdf_report(content: ReportContent) -> bytes:
    pdf, family = new_pdf()
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    # Every line wraps within the page (a long title, an admin's long source path).
    pdf.multi_cell(0, 10, f"Class report: {content.session.title}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    for k, v in _facts(content.session):
        pdf.multi_cell(0, 6, f"{k}: {v}", new_x="LMARGIN", new_y="NEXT")
    if content.coverage:
        pdf.multi_cell(0, 6, f"Readable faces: {content.coverage}", new_x="LMARGIN", new_y="NEXT")
    if not content.mood.empty:
        pdf.image(io.BytesIO(_mood_png(content.mood, content.bin_s, content.alert_spans, content.session.emotions)),
                  w=CHART_MM)
    for heading, table in _tables(content):
        pdf.set_font(family, "B", 12)
        pdf.cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 8)
        if table.empty:
            pdf.cell(0, 6, "None.", new_x="LMARGIN", new_y="NEXT")
            continue
        layout = table_layout(pdf, table)
        pdf.set_font(family, "", layout.font_size)
        with pdf.table(text_align="LEFT", col_widths=layout.col_widths, width=pdf.epw) as t:
            for row in _cells(table):
                t.row(row)
    return bytes(pdf.output())
