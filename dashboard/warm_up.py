"""A hidden sample of a report under the first page a browser shows, so that its first report is fast.

A browser runs a page's code slowly the first few times (it has not compiled it yet), and
Streamlit fetches each kind of element's code the first time one is shown. Measured with
``benchmarks/report_open.py`` and a Chromium profile: the first report opened after signing in
took twice the browser time of the second (3.0 s against 1.5 s on a 2-core laptop), spread over
drawing its charts, its tables, its widgets and its text. Signing in reloads the page (to take
the HttpOnly cookie), which forgets all of that, so the sign-in page cannot do it. The first page
run after a load therefore ends with a small report of made-up numbers: the same chart
functions, a table, figures, formatted text and (disabled) widgets, hidden from sight, from the
keyboard and from screen readers (``visibility: hidden``), laid out all the same so that the
browser does the work while the teacher looks at the page. It is gone at the next run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import analytics, charts

KEY = "report_warm_up"  # Streamlit gives the container the class st-key-<KEY>
# Out of the page's flow (it takes no room) but laid out at a report's width: plotly and the
# table draw only what has a size.
_HIDDEN = (f"<style>.st-key-{KEY} {{visibility: hidden; position: absolute; top: 0; left: 0; "
           "width: 900px; height: 0; overflow: hidden; pointer-events: none}}</style>")


def _sample_mood() -> pd.DataFrame:
    bins = pd.Index([0.0, 5.0, 10.0], name="bin")
    shares = np.full((len(bins), len(analytics.EMOTIONS)), 1.0 / len(analytics.EMOTIONS))
    mood = pd.DataFrame(shares, index=bins, columns=list(analytics.EMOTIONS))
    return mood.assign(engagement=[0.8, 0.7, 0.9], confusion=[0.1, 0.3, 0.2], students=2, read=1.0)


def _sample_timeline() -> pd.DataFrame:
    return pd.DataFrame([[0.8, 0.6, 0.9], [0.5, 0.7, 0.4]], index=["Student 1", "Student 2"],
                        columns=[0.0, 5.0, 10.0])


def after_first_page(page_is_report: bool) -> None:
    """Draw the hidden sample at the end of a browser's first page run after it loaded the app
    (a few milliseconds of the server's time); nothing on later runs, without a browser, or
    when that first page was a report (the sample would only hold up the report's own drawing)."""
    if st.context.url is None or st.session_state.get(KEY):  # AppTest has no browser to prepare
        return
    st.session_state[KEY] = True
    if not page_is_report:
        sample_report()


def sample_report() -> None:
    """Draw the hidden sample."""
    st.html(_HIDDEN)
    with st.container(key=KEY):
        st.metric("Students seen", 2)
        st.markdown("**Engagement** is *where heads point*:\n\n- one\n- two")
        st.caption(":material/visibility: sample")
        st.plotly_chart(charts.mood_figure(_sample_mood(), [(0.0, 5.0, "confused")], bin_s=5.0, note="sample"),
                        key=f"{KEY}_mood")
        st.plotly_chart(charts.timeline_heatmap(_sample_timeline(), "engagement", bin_s=5.0), key=f"{KEY}_timeline")
        st.dataframe(pd.DataFrame({"student": ["Student 1", "Student 2"], "engagement": [0.8, 0.6],
                                   "alerts": [0, 1], "from": ["0:00", "0:05"]}), hide_index=True, key=f"{KEY}_table")
        st.select_slider("Time bin (seconds)", options=[5, 10], value=5, disabled=True, key=f"{KEY}_bin")
        st.radio("Colour by", ["engagement", "emotion"], horizontal=True, disabled=True, key=f"{KEY}_colour")
        st.segmented_control("Right?", ["right", "wrong"], disabled=True, key=f"{KEY}_mark")
        with st.expander("More", icon=":material/help:"):
            st.checkbox("Sure", disabled=True, key=f"{KEY}_sure")
        st.download_button("Report (CSV)", b"", file_name="sample.csv", disabled=True, key=f"{KEY}_download",
                           icon=":material/table_view:")
