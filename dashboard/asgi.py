"""What ``python -m dashboard`` serves (``streamlit run dashboard/asgi.py -- --db URL``): the pages of
``dashboard/app.py`` on Streamlit's own server, plus the route that sets and clears the signed
sign-in cookie (``POST /_classroom/session``) and the gate that refuses uploads from Streamlit
sessions that are not signed in. See :mod:`dashboard.web_session`."""

import sys
from pathlib import Path

# Streamlit imports this file by its folder, not as part of the package.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.routing import Route  # noqa: E402

from dashboard import web_session  # noqa: E402

web_session.ACTIVE = True  # the pages now take the sign-in from the cookie, on every run

app = st.App(
    str(Path(__file__).resolve().with_name("app.py")),
    routes=[Route(web_session.ROUTE, web_session.session_route, methods=["POST"])],
    middleware=[Middleware(web_session.UploadGate)],
)
