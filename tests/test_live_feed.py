"""The picture-file feed (engine/feed.py): how the browser camera's frames reach the engine."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from engine.feed import FeedSource, write_picture
from engine.sources import SourceError


def jpeg(value: int, size=(64, 48)) -> bytes:
    image = np.full((size[1], size[0], 3), value, np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def test_each_new_picture_is_a_frame(tmp_path):
    path = tmp_path / "live.jpg"
    write_picture(path, jpeg(10))
    source = FeedSource(path, fps=5.0, first_wait_s=1.0)
    assert (source.info.kind, source.info.live, source.info.width, source.info.height) == ("feed", True, 64, 48)

    def producer():
        for value in (80, 160, 240):
            time.sleep(0.3)
            write_picture(path, jpeg(value))

    threading.Thread(target=producer, daemon=True).start()
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 4:
            break
    # The same picture is not analysed twice; each replacement is one frame, in order.
    assert [int(f.image.mean() // 40) for f in frames] == [0, 2, 4, 6]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(b.t > a.t for a, b in zip(frames, frames[1:], strict=False))


def test_no_picture_at_all_is_a_clear_message(tmp_path):
    with pytest.raises(SourceError, match=r"no picture arrived .* \(browser camera not allowed"):
        FeedSource(tmp_path / "live.jpg", fps=5.0, first_wait_s=0.3)
    with pytest.raises(SourceError, match="feed folder not found"):
        FeedSource(tmp_path / "nowhere" / "live.jpg", fps=5.0, first_wait_s=0.3)


def test_a_feed_that_goes_quiet_ends_as_lost(tmp_path):
    path = tmp_path / "live.jpg"
    write_picture(path, jpeg(10))
    source = FeedSource(path, fps=5.0, first_wait_s=1.0, idle_s=0.5)
    frames = list(source.frames())
    assert len(frames) == 1
    assert source.lost and "sent no picture for 0.5 s" in source.end_note
    source.close()
    assert not path.exists()  # no face picture is left behind


def test_a_stop_ends_a_feed_that_went_quiet_at_once(tmp_path):
    """A stop while no picture comes (the tab that sent them reloaded) ends the frames then, not
    after the feed's idle limit: the engine must finish its last batch before the dashboard's
    grace for a stop runs out."""
    path = tmp_path / "live.jpg"
    write_picture(path, jpeg(10))
    source = FeedSource(path, fps=5.0, first_wait_s=1.0, idle_s=60.0)
    stop = threading.Event()
    source.stop_on(stop)
    threading.Timer(0.5, stop.set).start()
    began = time.monotonic()
    frames = list(source.frames())
    assert len(frames) == 1 and time.monotonic() - began < 5  # not the 60 s idle limit
    assert not source.lost and source.end_note == ""


def test_a_broken_picture_is_skipped(tmp_path):
    path = tmp_path / "live.jpg"
    write_picture(path, jpeg(10))
    source = FeedSource(path, fps=5.0, first_wait_s=1.0, idle_s=1.0)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 1:
            write_picture(path, b"not a picture")
            time.sleep(0.25)
            write_picture(path, jpeg(200))
    assert [int(f.image.mean() // 40) for f in frames] == [0, 5]
