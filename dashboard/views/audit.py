"""Audit log (admins only): who signed in or failed to, changed or reset a password, disabled,
enabled, deleted or re-roled an account, exported or erased data; newest first, by user and kind."""

import pandas as pd
import streamlit as st

from dashboard import auth, context, data, ui
from db.repository import AUDIT_KINDS

auth.require_role("admin")
st.title("Audit log")
st.caption("Every sign-in and failed sign-in, account change, export and erasure, newest first (times in UTC). "
           "A failed sign-in's user is the name as typed.")
factory = context.factory()
LIMIT = 1000

with ui.explained_database_errors():
    names = data.audit_usernames(factory)
left, right = st.columns(2)
who = left.selectbox("User", [None, *names], format_func=lambda n: "everyone" if n is None else n, key="audit_user")
kind = right.selectbox("Kind", [None, *AUDIT_KINDS], format_func=lambda k: "every kind" if k is None else k,
                       key="audit_kind")
with ui.explained_database_errors():
    events = data.audit_events(factory, username=who, kind=kind, limit=LIMIT)
if not events:
    st.info("Nothing recorded yet for this choice.", icon=":material/info:")
    st.stop()
st.dataframe(pd.DataFrame([{"when (UTC)": f"{e.at:%Y-%m-%d %H:%M:%S}", "user": e.username, "kind": e.kind,
                            "target": e.target, "detail": e.detail} for e in events]),
             hide_index=True, key="audit_table")
if len(events) == LIMIT:
    st.caption(f"The newest {LIMIT} entries; choose a user or a kind to see older ones.")
