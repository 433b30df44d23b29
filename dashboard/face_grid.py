"""A grid of small face images as one HTML block with the pictures inlined (PNG data URIs).

Why not ``st.image``: pictures served through Streamlit's /media endpoint showed as broken
(HTTP 500) when starlette 1.5+ was installed under Streamlit 1.60 (requirements.txt now pins
starlette 1.4.1). Inlined pictures need no endpoint at all, and a few dozen 48x48 faces are
only a few kilobytes."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def png_data_uri(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def face_grid_html(images: Sequence[np.ndarray], captions: Sequence[str], size_px: int = 96) -> str:
    cells = []
    for image, caption in zip(images, captions, strict=True):
        cells.append(
            f"<figure style='margin:0;text-align:center;width:{size_px + 16}px'>"
            f"<img src='{png_data_uri(image)}' width='{size_px}' height='{size_px}' alt='{html.escape(caption)}' "
            f"style='image-rendering:pixelated;border-radius:4px'>"
            f"<figcaption style='font-size:0.8em;color:#666'>{html.escape(caption)}</figcaption></figure>"
        )
    return "<div style='display:flex;flex-wrap:wrap;gap:10px'>" + "".join(cells) + "</div>"
