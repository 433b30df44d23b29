"""The Live class page's "Browser camera" source: the camera of the device the page is open on
(a laptop at the front of the room, a tablet), with no software on the computer running the
engine beyond the dashboard.

A small ``st.components.v2`` component asks the browser for the camera (``getUserMedia``),
shows it, and sends a JPEG ``fps`` times a second to the dashboard; the dashboard replaces one
picture file with it, which the engine watches (``python -m engine live --feed PATH``, see
engine/feed.py). Browsers give a camera only to secure pages: ``https://`` or ``localhost``.

Refused permission, no camera, or an insecure address: the component reports the browser's
reason, the page shows it, and the engine, which has received no picture, stops by itself
before any session is recorded (its first-picture wait), so the database stays consistent.
Privacy: only the latest picture is on disk; the engine deletes it when it stops, and a stale one
is removed before the next class.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from pathlib import Path

import streamlit as st

FEED_FOLDER = "browser-camera"
SEND_FPS = 2.0  # frames the browser sends per second: enough for expressions, light on the server
STATE_KEY = "live_browser_camera_feed"
MAX_PICTURE_BYTES = 8 * 1024 * 1024

_HTML = """
<div class="cam">
  <video autoplay muted playsinline></video>
  <div class="status">Asking the browser for the camera…</div>
</div>
"""

_CSS = """
.cam video { width: 100%; max-width: 480px; border-radius: 6px; background: #222; }
.cam .status { font-size: 0.85rem; opacity: 0.8; margin-top: 0.25rem; }
"""

_JS = """
export default function (component) {
  const { parentElement, setTriggerValue, setStateValue, data } = component;
  const video = parentElement.querySelector("video");
  const status = parentElement.querySelector(".status");
  const canvas = document.createElement("canvas");
  const period = 1000 / ((data && data.fps) || 2);
  let stream = null, timer = null, stopped = false;
  const fail = (message) => { status.textContent = "No camera: " + message; setStateValue("error", message); };
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    fail("this browser gives no camera to this page (it must be opened over https:// or on localhost)");
    return () => {};
  }
  navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false })
    .then((s) => {
      if (stopped) { s.getTracks().forEach((t) => t.stop()); return; }
      stream = s;
      video.srcObject = s;
      status.textContent = "Camera on: the engine is watching this picture.";
      setStateValue("error", "");
      timer = setInterval(() => {
        if (!video.videoWidth) return;
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        setTriggerValue("frame", canvas.toDataURL("image/jpeg", 0.85));
      }, period);
    })
    .catch((err) => {
      const why = {
        NotAllowedError: "permission was refused (allow the camera in the browser's address bar, then start again)",
        NotFoundError: "this device has no camera",
        NotReadableError: "the camera is in use by another program",
      }[err.name];
      fail(why || (err.name + ": " + err.message));
    });
  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
  };
}
"""

COMPONENT_NAME = "classroom_browser_camera"
_mounts: dict[int, object] = {}


def _camera():
    """The component's mounting command, registered with the running Streamlit runtime. Done on
    first use rather than at import: a module imported before the runtime started (tests, a
    restarted server) would otherwise have registered it with a throw-away registry."""
    try:
        from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager

        manager = get_bidi_component_manager()
    except ImportError:  # a Streamlit without this internal helper: register every time (a log warning)
        return st.components.v2.component(COMPONENT_NAME, html=_HTML, css=_CSS, js=_JS)
    mount = _mounts.get(id(manager))
    if mount is None or manager.get(COMPONENT_NAME) is None:
        mount = _mounts[id(manager)] = st.components.v2.component(COMPONENT_NAME, html=_HTML, css=_CSS, js=_JS)
    return mount


def feed_path(uploads_dir: Path) -> Path:
    """This browser tab's picture file (one per tab, so two teachers never share a feed)."""
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = uuid.uuid4().hex[:12]
    return uploads_dir / FEED_FOLDER / f"{st.session_state[STATE_KEY]}.jpg"


def decode_data_url(url: str) -> bytes | None:
    """The JPEG/PNG bytes of a ``data:image/...;base64,`` URL; None for anything else."""
    head, sep, body = url.partition(",")
    if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
        return None
    if len(body) > MAX_PICTURE_BYTES * 4 // 3 + 4:
        return None
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def save_picture(path: Path, picture: bytes) -> None:
    """Replace the feed picture whole (the engine never reads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(picture)
    os.replace(tmp, path)


def remove_feed(path: Path) -> None:
    for p in (path, path.with_name(f".{path.name}.{os.getpid()}.tmp")):
        p.unlink(missing_ok=True)


def engine_args(uploads_dir: Path) -> list[str]:
    """``--feed PATH`` for this tab; a stale picture from an earlier class is removed first, so the
    engine waits for this class's first picture."""
    path = feed_path(uploads_dir)
    remove_feed(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return ["--feed", str(path)]


def is_browser_camera(command: list[str]) -> bool:
    return "--feed" in command


@st.fragment
def camera_panel(path: Path) -> None:
    """The camera itself, shown while the engine watches it. Each picture the browser sends
    reruns only this fragment, which hands it to the engine."""
    result = _camera()(key="live_browser_camera", data={"fps": SEND_FPS}, default={"error": ""},
                     on_frame_change=lambda: None, on_error_change=lambda: None, height="content")
    error = getattr(result, "error", "") or ""
    if error:
        st.error(f"The browser camera is not available: {error}. The class stops by itself when no picture "
                 f"arrives; the session is not recorded.", icon=":material/no_photography:")
    frame = getattr(result, "frame", None)
    if frame:
        picture = decode_data_url(frame)
        if picture is not None:
            save_picture(path, picture)


def options() -> list[str]:
    """The source's widgets on the Live class page (none to set: the browser picks its camera)."""
    from dashboard import context

    st.caption("The browser asks for the camera when the class starts. It works on pages opened over "
               "https:// or on localhost.")
    return engine_args(context.settings().uploads_dir)


LABEL = "Browser camera"
HELP = ("The camera of the device this page is open on (a laptop at the front of the room, a tablet). "
        "The browser sends two pictures a second; only the latest is kept, and deleted when the class stops.")
