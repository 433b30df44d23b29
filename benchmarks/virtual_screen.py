"""A virtual X display (Xvfb) whose picture a program can set directly, for tests and benchmarks
of the screen source without a monitor.

Xvfb's ``-fbdir DIR`` keeps the screen's framebuffer in a memory-mapped XWD file; writing
pixels into that file changes what every X client (``mss`` included) reads from the screen,
with no window manager, no GUI toolkit and no X client of our own. Showing a video on the
"screen" is then one array copy per frame::

    with VirtualScreen((1280, 720)) as screen:      # sets nothing globally
        screen.show(frame_bgr)                      # what a meeting window would show
        env = {"DISPLAY": screen.display}           # for the process that captures

Needs the ``xvfb`` Debian package (``apt-get install -y xvfb``).
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

# The XWD header (X11 XWDFileHeader): 25 big-endian CARD32 fields, then the window name.
_XWD_FIELDS = ("header_size", "file_version", "pixmap_format", "pixmap_depth", "pixmap_width", "pixmap_height",
               "xoffset", "byte_order", "bitmap_unit", "bitmap_bit_order", "bitmap_pad", "bits_per_pixel",
               "bytes_per_line", "visual_class", "red_mask", "green_mask", "blue_mask", "bits_per_rgb",
               "colormap_entries", "ncolors", "window_width", "window_height", "window_x", "window_y",
               "window_bdrwidth")
_XWD_COLOUR_BYTES = 12  # one XWDColor entry after the header


class VirtualScreenError(RuntimeError):
    pass


def xvfb_available() -> bool:
    return shutil.which("Xvfb") is not None


class VirtualScreen:
    """An Xvfb display of ``size`` (width, height), 24-bit, whose pixels :meth:`show` sets."""

    def __init__(self, size: tuple[int, int] = (1280, 720)):
        if not xvfb_available():
            raise VirtualScreenError("Xvfb is not installed (apt-get install -y xvfb)")
        self.size = size
        self._dir = Path(tempfile.mkdtemp(prefix="xvfb-"))
        read_fd, write_fd = os.pipe()
        # -displayfd: Xvfb picks a free display number and writes it once it accepts clients,
        # so parallel runs never collide and there is no sleep-and-hope.
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{size[0]}x{size[1]}x24",
             "-fbdir", str(self._dir), "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        os.close(write_fd)
        try:
            number = self._read_display(read_fd)
        finally:
            os.close(read_fd)
        self.display = f":{number}"
        self._open_framebuffer()

    def _read_display(self, fd: int, timeout: float = 15.0) -> str:
        deadline, text = time.monotonic() + timeout, b""
        os.set_blocking(fd, False)
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 64)
            except BlockingIOError:
                chunk = None
            if chunk:
                text += chunk
                if text.endswith(b"\n"):
                    return text.decode().strip()
            elif chunk == b"" or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
        self.close()
        raise VirtualScreenError(f"Xvfb did not start: {err.strip()[-300:] or 'no display number within 15 s'}")

    def _open_framebuffer(self) -> None:
        self._file = open(self._dir / "Xvfb_screen0", "r+b")  # noqa: SIM115 - lives as long as the screen
        head = dict(zip(_XWD_FIELDS, struct.unpack(">25I", self._file.read(100)), strict=True))
        if head["bits_per_pixel"] != 32 or head["byte_order"] != 0:
            raise VirtualScreenError(f"unexpected Xvfb framebuffer layout: {head}")
        offset = head["header_size"] + head["ncolors"] * _XWD_COLOUR_BYTES
        self._map = mmap.mmap(self._file.fileno(), 0)
        rows, stride = head["pixmap_height"], head["bytes_per_line"]
        # LSB-first 32-bit pixels with masks R=0xff0000, G=0xff00, B=0xff are B, G, R, X in memory.
        self.pixels = np.frombuffer(self._map, np.uint8, rows * stride, offset).reshape(rows, stride // 4, 4)

    def show(self, image: np.ndarray, at: tuple[int, int] = (0, 0)) -> None:
        """Put a BGR (or grey) image on the screen with its top-left corner at ``at``."""
        x, y = at
        h = min(image.shape[0], self.size[1] - y)
        w = min(image.shape[1], self.size[0] - x)
        if image.ndim == 2:
            image = image[:, :, None]
        self.pixels[y:y + h, x:x + w, :3] = image[:h, :w]

    def clear(self, value: int = 0) -> None:
        self.pixels[:, :, :3] = value

    def close(self) -> None:
        if getattr(self, "pixels", None) is not None:
            self.pixels = None
        if getattr(self, "_map", None) is not None:
            self._map.close()
            self._map = None
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> VirtualScreen:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
