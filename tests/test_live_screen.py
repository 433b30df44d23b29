"""The screen source (engine/screen.py) against a real X server: an Xvfb virtual display whose
picture is set through its memory-mapped framebuffer (benchmarks/virtual_screen.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from live_support import load_demo_module

from benchmarks.virtual_screen import VirtualScreen, xvfb_available
from engine.screen import Monitor, Region, ScreenError, ScreenSource, capture_area, list_monitors, parse_region

SIZE = (640, 360)
needs_xvfb = pytest.mark.skipif(not xvfb_available(), reason="Xvfb not installed (apt-get install -y xvfb)")


@pytest.fixture(scope="module")
def gallery_picture(fer_data, tmp_path_factory):
    """One frame of a 2x3 meeting gallery of FER faces (rendered by assets/make_demo_class.py)."""
    demo = load_demo_module()
    test = fer_data.split("PrivateTest")
    happy = np.flatnonzero(test.labels == 3)[:6]
    schedule = [demo.Segment(tile=i, start=0, end=1, label="happy", face=int(f)) for i, f in enumerate(happy)]
    path = tmp_path_factory.mktemp("gallery") / "gallery.mp4"
    demo.render_gallery(path, test.images, schedule, size=SIZE, grid=(2, 3), fps=5, duration=0.4, jitter=False)
    ok, frame = cv2.VideoCapture(str(path)).read()
    assert ok
    return frame


@pytest.fixture(scope="module")
def screen():
    if not xvfb_available():
        pytest.skip("Xvfb not installed (apt-get install -y xvfb)")
    with VirtualScreen((800, 500)) as vs:
        yield vs


@pytest.fixture
def on_screen(screen, monkeypatch):
    monkeypatch.setenv("DISPLAY", screen.display)
    screen.clear()
    return screen


def test_region_text_is_checked():
    assert parse_region(" 10, 20,300,200") == Region(10, 20, 300, 200)
    for bad, words in [("10,20,300", "x,y,w,h"), ("a,b,c,d", "x,y,w,h"), ("0,0,0,10", "no area"),
                       ("-5,0,10,10", "outside")]:
        with pytest.raises(ScreenError, match=words):
            parse_region(bad)


def test_region_and_monitor_are_checked_against_the_screen():
    monitors = [Monitor(0, 0, 0, 3840, 1080), Monitor(1, 0, 0, 1920, 1080), Monitor(2, 1920, 0, 1920, 1080)]
    assert capture_area(monitors, 2, Region(100, 50, 640, 360)) == {"left": 2020, "top": 50, "width": 640,
                                                                      "height": 360}
    assert capture_area(monitors, 0, None) == {"left": 0, "top": 0, "width": 3840, "height": 1080}
    with pytest.raises(ScreenError, match="no monitor 3: this screen has monitors 1, 2"):
        capture_area(monitors, 3, None)
    with pytest.raises(ScreenError, match="reaches outside monitor 1"):
        capture_area(monitors, 1, Region(1800, 0, 640, 360))


def test_no_display_is_a_clear_message(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ScreenError, match=r"^no screen to capture: \$DISPLAY is not set"):
        ScreenSource(5.0)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(ScreenError, match="no screen to capture: this is a Wayland session"):
        list_monitors()


def test_a_display_that_does_not_answer_is_a_clear_message(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":987")
    with pytest.raises(ScreenError, match="no screen to capture: cannot connect to display :987"):
        ScreenSource(5.0)


@needs_xvfb
def test_monitors_of_the_virtual_display(on_screen):
    monitors = list_monitors()
    assert monitors[1].width == 800 and monitors[1].height == 500
    with pytest.raises(ScreenError, match="reaches outside monitor 1 \\(800x500"):
        ScreenSource(5.0, region="600,0,640,360")
    with pytest.raises(ScreenError, match="no monitor 2"):
        ScreenSource(5.0, monitor=2)


@needs_xvfb
def test_a_region_is_captured_pixel_for_pixel_at_the_analysis_rate(on_screen, gallery_picture):
    on_screen.show(gallery_picture, at=(100, 80))
    source = ScreenSource(5.0, region=f"100,80,{SIZE[0]},{SIZE[1]}")
    assert (source.info.kind, source.info.live, source.info.duration) == ("screen", True, None)
    assert (source.info.width, source.info.height) == SIZE
    assert source.info.name == f"screen 1 region 100,80,{SIZE[0]},{SIZE[1]}"
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 4:
            break
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert np.array_equal(frames[0].image, gallery_picture)
    gaps = np.diff([f.t for f in frames])
    assert np.all(np.abs(gaps - 0.2) < 0.08), gaps
    now = datetime.now(UTC).replace(tzinfo=None)
    assert now - timedelta(seconds=5) < frames[0].wall_time <= now


@needs_xvfb
def test_a_slow_consumer_skips_frames_instead_of_falling_behind(on_screen):
    source = ScreenSource(10.0, region="0,0,64,64")
    start, seen = time.monotonic(), []
    for frame in source.frames():
        seen.append((frame.t, time.monotonic() - start))
        if len(seen) == 4:
            break
        time.sleep(0.35)  # analysis slower than the 0.1 s frame period
    # Each frame is grabbed when it is asked for: its media time is "now", not a queued past slot.
    for t, asked in seen:
        assert abs(t - asked) < 0.12, seen


@needs_xvfb
def test_the_screen_picture_changes_are_seen_and_faces_found(on_screen, gallery_picture):
    from engine.config import load_config
    from engine.detect import FaceDetector

    source = ScreenSource(5.0, region=f"0,0,{SIZE[0]},{SIZE[1]}")
    images = []
    for frame in source.frames():
        images.append(frame.image)
        if frame.index == 0:
            on_screen.show(gallery_picture)  # the meeting window appears
        if frame.index == 2:
            break
    found = []
    for image in (images[0], images[-1]):
        # A detector per picture: each plans its own search on what it is shown first.
        detector = FaceDetector(load_config().detector)
        try:
            found.append(detector.detect(image, 0.0))
        finally:
            detector.close()
    assert found[0] == []  # an empty (or minimised) meeting is no faces, not an error
    demo = load_demo_module()
    for tile in demo.layout(SIZE, (2, 3)):
        assert any(iou(f.box, tile.face_box) > 0.4 for f in found[1]), (tile, [f.box for f in found[1]])


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@needs_xvfb
def test_the_display_going_away_ends_the_source_as_lost(monkeypatch):
    vs = VirtualScreen((320, 240))
    monkeypatch.setenv("DISPLAY", vs.display)
    try:
        source = ScreenSource(5.0)
        n = 0
        for _ in source.frames():
            n += 1
            if n == 2:
                vs.close()
            assert n < 100
    finally:
        vs.close()
    assert source.lost
    assert "the screen stopped giving pictures" in source.end_note
