"""The Recordings page's question before an analysis: was this very recording (the same bytes,
by SHA-256) analysed already, in a session the teacher may see? Then a warning links to each
earlier report, and the teacher may still analyse it again (a new session)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import sessionmaker

from dashboard import course_week, ui, uploads
from db import repository as repo

AGAIN_KEY = "analyse_again_sha256"  # the recording the teacher said to analyse again anyway
_DIGESTS_KEY = "upload_sha256"  # the uploader's file id -> its SHA-256 (hashed once per upload)


def again_requested() -> str | None:
    """The recording (its SHA-256) the teacher has just said to analyse again, once: the page then
    starts the analysis, passing it to :func:`stop_for_earlier`."""
    return st.session_state.pop(AGAIN_KEY, None)


def _sha256(upload) -> str:
    digests = st.session_state.setdefault(_DIGESTS_KEY, {})
    key = getattr(upload, "file_id", None)
    if key is None or key not in digests:
        with st.spinner("Checking whether this recording was analysed before…"):  # a few seconds per GB
            digest = uploads.content_sha256(upload)
        if key is None:
            return digest
        digests.clear()  # one upload at a time: only the current one is remembered
        digests[key] = digest
    return digests[key]


def _analyse_again(digest: str) -> None:
    st.session_state[AGAIN_KEY] = digest


def stop_for_earlier(factory: sessionmaker, viewer: repo.Viewer, upload, again: str | None = None) -> bool:
    """True (the analysis waits) when a session ``viewer`` may see analysed these bytes before and
    the teacher has not said to analyse them again (``again``: :func:`again_requested`): the
    warning, with a link to each earlier report and an "Analyse it again" button, is shown.
    False: go ahead."""
    digest = _sha256(upload)
    if again == digest:
        return False
    with ui.explained_database_errors():
        earlier = course_week.earlier_analyses(factory, viewer, digest)
    if not earlier:
        return False
    where = "the session below" if len(earlier) == 1 else f"the {len(earlier)} sessions below"
    st.warning(f"This recording was already analysed: the same file (identical content) is in {where}. Open its "
               "report, or analyse it again as a new session.", icon=":material/content_copy:")
    for s in earlier[:5]:
        st.page_link(ui.REPORT_PAGE, label=f"#{s.id} {ui.plain(s.title)} · {s.status} · {s.started_at:%Y-%m-%d %H:%M}",
                     query_params={"session": str(s.id)}, icon=":material/insert_chart:")
    st.button("Analyse it again", key="recording_again_anyway", on_click=_analyse_again, args=(digest,),
              icon=":material/replay:")
    return True
