"""The live view file (engine/preview.py) the Live class page shows."""

from __future__ import annotations

import cv2
import numpy as np

from engine.preview import Mark, PreviewWriter, annotate


def test_boxes_and_labels_are_drawn_on_a_scaled_copy():
    image = np.zeros((1080, 1920, 3), np.uint8)
    out = annotate(image, [Mark((960, 540, 200, 200), "Student 1 · happy", 0.9), Mark((10, 10, 50, 50), "x", None)])
    assert out.shape == (720, 1280, 3)
    assert not image.any()  # the frame itself is untouched
    # The engaged student's box is green-ish, drawn where the scaled box lies.
    b, g, r = out[360 + 60, 640].astype(int)
    assert g > 150 and r < 100


def test_the_view_is_rate_limited_replaced_whole_and_removed_at_the_end(tmp_path):
    path = tmp_path / "views" / "live.jpg"
    writer = PreviewWriter(path, every_s=10.0)
    image = np.full((240, 320, 3), 90, np.uint8)
    assert writer.write(image, [])
    assert not writer.write(np.zeros_like(image), [])  # too soon: the first view stays
    assert abs(cv2.imread(str(path)).mean() - 90) < 3
    assert writer.write(np.zeros_like(image), [], force=True)
    assert cv2.imread(str(path)).mean() < 3
    assert [p.name for p in path.parent.iterdir()] == ["live.jpg"]  # no temporary file left
    writer.close()
    assert not path.exists()
