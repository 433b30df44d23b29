"""The report's downloads read well at any width (issue 14): the HTML report drawn by a real
headless Chromium (Debian's /usr/bin/chromium driven by Playwright, as test_dashboard_browser does)
at 1600 px, at the width of an A4 page (794 px) and as printed on A4, and the PDF's tables laid
out across an A4 landscape page. The demo class, with two students renamed to long names through
the repository, as a teacher would."""

from __future__ import annotations

import pandas as pd
import pytest
from dashboard_support import seed_database
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

from dashboard import analytics, charts, data, report_export
from db import connect
from db import repository as repo

LONG = "Maximilian Alexander-Fitzgerald"  # one line beside the heatmap
LONGER = "Anastasia Konstantinopoulou-Vasilakopoulou"  # past charts.WRAP_NAME_AT: two lines
BIN_S = 5


@pytest.fixture(scope="module")
def content(tmp_path_factory) -> report_export.ReportContent:
    """The report of the demo class as the report page assembles it, and a short mood chart."""
    seeded = seed_database(tmp_path_factory.mktemp("report"), users=False)
    with connect(seeded.url)() as s:
        students = repo.students(s, seeded.session_id)
        repo.rename_student(s, students[2].id, LONG)
        repo.rename_student(s, students[4].id, LONGER)
    factory = data.open_database(seeded.url)
    session = data.get_session(factory, seeded.session_id)
    bins = data.binned(factory, seeded.session_id, BIN_S)
    mood = analytics.class_mood(bins)
    names = bins.groupby("student_id")["student"].first().to_dict()
    alert_rows = data.alerts(factory, seeded.session_id)
    spans = [(a.start_t, a.end_t if a.end_t is not None else session.video_seconds, a.kind)
             for a in alert_rows if a.student_id is None]
    note = analytics.coverage(data.quality_counts(factory, seeded.session_id)).sentence()
    return report_export.ReportContent(
        session=session, mood=mood, bin_s=BIN_S,
        figures={"Class mood over time": charts.mood_figure(mood, spans, bin_s=BIN_S, note=note),
                 "Per-student timeline": charts.timeline_heatmap(analytics.student_timeline(bins, "engagement"),
                                                                 "engagement", bin_s=BIN_S),
                 # the Live class page's size, where the two panels' "0%" and "1" used to meet
                 "Class mood, short": charts.mood_figure(mood, spans, bin_s=BIN_S, height=320)},
        summary=analytics.student_summary(bins), confused=analytics.notable_moments(mood, "confusion", bin_s=BIN_S),
        disengaged=analytics.notable_moments(mood, "engagement", largest=False, bin_s=BIN_S),
        alerts=pd.DataFrame([{"from": analytics.format_t(a.start_t), "to": analytics.format_t(a.end_t),
                              "who": "whole class" if a.student_id is None else names[a.student_id],
                              "kind": a.kind, "message": a.message} for a in alert_rows]),
        alert_spans=spans, coverage=note, baseline=analytics.student_baseline(bins),
    )


# Every chart's svg box, and the box and text of each tick label by axis letter (x, y: the mood
# chart's two panels share them, so the upper panel's "0%" and the lower one's "1" are compared too).
LAYOUT_JS = """() => Array.from(document.querySelectorAll('.chart .js-plotly-plot')).map(gd => {
  const box = r => ({left: r.left, right: r.right, top: r.top, bottom: r.bottom});
  // a tick's group is named after its axis: xtick, x2tick, ytick, y2tick (a colour bar's: ycbtick)
  const ticks = letter => Array.from(gd.querySelectorAll('g > text')).filter(t =>
      new RegExp('^' + letter + '[0-9]*tick$').test(t.parentNode.getAttribute('class')))
      .map(t => ({text: t.textContent, ...box(t.getBoundingClientRect()),
                  lines: Array.from(t.querySelectorAll('tspan.line')).map(l => l.textContent)}))
      .filter(t => t.text && t.right > t.left);
  return {svg: box(gd.querySelector('.main-svg').getBoundingClientRect()), x: ticks('x'), y: ticks('y'),
          labels: Array.from(gd.querySelectorAll('.main-svg text')).map(t => ({text: t.textContent,
              ...box(t.getBoundingClientRect())})).filter(t => t.text && t.right > t.left)};
})"""


def assert_readable(figures: list[dict], width: float) -> None:
    assert len(figures) == 3
    for fig in figures:
        svg = fig["svg"]
        assert svg["right"] - svg["left"] <= width + 0.5  # the chart fits the page it is on
        for label in fig["labels"]:  # ticks, axis titles, legend, notes: nothing cut at the figure's edge
            inside = (label["left"] >= svg["left"] - 0.5 and label["right"] <= svg["right"] + 0.5
                      and label["top"] >= svg["top"] - 0.5 and label["bottom"] <= svg["bottom"] + 0.5)
            assert inside, (label, svg)
        for letter in ("x", "y"):
            ticks = sorted(fig[letter], key=lambda t: (t["left"], t["top"]))
            assert ticks, letter
            for i, a in enumerate(ticks):
                for b in ticks[i + 1:]:
                    apart = (a["right"] <= b["left"] + 0.5 or b["right"] <= a["left"] + 0.5
                             or a["bottom"] <= b["top"] + 0.5 or b["bottom"] <= a["top"] + 0.5)
                    assert apart, (letter, a, b)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)")
def test_the_html_report_is_readable_at_1600_px_on_an_a4_page_and_printed(content, tmp_path):
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(report_export.html_report(content), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(page_file.as_uri())
            page.wait_for_function("document.querySelectorAll('.chart .js-plotly-plot .main-svg').length >= 2")
            for width in (1600, 794):  # a wide screen, then an A4 page's width (the charts redraw)
                page.set_viewport_size({"width": width, "height": 1000})
                page.wait_for_function("w => Array.from(document.querySelectorAll('.chart .js-plotly-plot'))"
                                       ".every(gd => gd._fullLayout.width === Math.round(gd.parentElement"
                                       ".getBoundingClientRect().width))", arg=width)
                figures = page.evaluate(LAYOUT_JS)
                assert_readable(figures, min(width, 1100))
                names = figures[1]["y"]
                assert [t["lines"] for t in names if t["text"] == LONG] == [[]]  # whole, on one line
                assert [t["lines"] for t in names if t["text"].startswith("Anastasia")] == [LONGER.split(" ", 1)]
                # the tables wrap within the page: nothing to scroll sideways
                assert page.evaluate("document.documentElement.scrollWidth") <= width
            # Printed: before printing the charts are redrawn at the printed width, inside an A4 page.
            page.emulate_media(media="print")
            page.evaluate("dispatchEvent(new Event('beforeprint'))")
            page.wait_for_function("w => Array.from(document.querySelectorAll('.chart .js-plotly-plot'))"
                                   ".every(gd => gd._fullLayout.width === w)", arg=report_export.PRINT_WIDTH_PX)
            assert_readable(page.evaluate(LAYOUT_JS), 703)  # A4 less the 12 mm margins, in CSS px
            page.evaluate("dispatchEvent(new Event('afterprint'))")
            assert page.pdf(format="A4").startswith(b"%PDF-")
        finally:
            browser.close()


def test_the_pdf_tables_fit_an_a4_landscape_page_without_breaking_a_name(content):
    pdf, _ = report_export.new_pdf()
    tables = dict(report_export._tables(content))
    assert set(tables) >= {"Students", report_export.BASELINE_HEADING, "Alerts"}
    for heading, table in tables.items():
        layout = report_export.table_layout(pdf, table)
        assert len(layout.col_widths) == len(table.columns), heading
        assert sum(layout.col_widths) <= pdf.epw + 1e-6, heading
        pdf.set_font(size=layout.font_size)
        for column, width in zip(table.columns, layout.col_widths, strict=True):  # no word is cut
            words = [w for v in [column, *table[column].astype(str)] for w in v.split()]
            assert max(pdf.get_string_width(w) for w in words) <= width - 2 * pdf.c_margin, (heading, column)
    for heading in ("Students", report_export.BASELINE_HEADING):  # the names column holds a whole name
        layout = report_export.table_layout(pdf, tables[heading])
        pdf.set_font(size=layout.font_size)
        assert pdf.get_string_width(LONG) <= layout.col_widths[0] - 2 * pdf.c_margin
    # A table far wider than the page is set smaller and still fits between the margins.
    wide = pd.DataFrame([[f"value-{i}-of-a-wide-row" for i in range(30)]], columns=[f"column {i}" for i in range(30)])
    layout = report_export.table_layout(pdf, wide)
    assert layout.font_size == min(report_export.TABLE_FONT_SIZES)
    assert sum(layout.col_widths) == pytest.approx(pdf.epw)
    assert report_export.pdf_report(content).startswith(b"%PDF-")
