"""Loaders: the challenge CSV (plain and gzip) and image-folder layouts, and their errors."""

from __future__ import annotations

import gzip

import cv2
import numpy as np
import pytest

from training.data import DataError, load
from training.labels import EMOTIONS, label_index


def _write_csv(path, rows, header="emotion,pixels,Usage"):
    text = header + "\n" + "\n".join(rows) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def _row(label, value, usage):
    return f"{label},{' '.join([str(value)] * 2304)},{usage}"


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_csv_loads_images_labels_and_splits(tmp_path, name):
    path = tmp_path / name
    _write_csv(path, [_row(3, 10, "Training"), _row(1, 200, "PublicTest"), _row(6, 255, "PrivateTest")])
    data = load(path, cache_dir=tmp_path / "cache")
    assert data.images.shape == (3, 48, 48) and data.images.dtype == np.uint8
    assert data.labels.tolist() == [3, 1, 6]
    priv = data.split("PrivateTest")
    assert len(priv) == 1 and priv.images[0, 0, 0] == 255
    # A second load comes from the cache and is identical.
    again = load(path, cache_dir=tmp_path / "cache")
    assert np.array_equal(again.images, data.images) and list((tmp_path / "cache").iterdir())


def test_csv_skips_and_counts_bad_rows(tmp_path):
    path = tmp_path / "bad.csv"
    _write_csv(path, [_row(0, 1, "Training"), "9,1 2 3,Training", "x,1 2,Training", _row(2, 5, "Training")])
    data = load(path, cache_dir=tmp_path)
    assert len(data) == 2 and data.skipped == 2


def test_csv_wrong_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("label,image\n1,2\n")
    with pytest.raises(DataError, match="expected columns emotion,pixels"):
        load(path, cache_dir=tmp_path)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load(tmp_path / "nope.csv")
    other = tmp_path / "x.txt"
    other.write_text("hi")
    with pytest.raises(DataError, match="neither"):
        load(other)


def test_folder_layout_with_synonyms_colour_sizes_and_corrupt_files(tmp_path):
    rng = np.random.default_rng(0)
    for split, label in [("train", "Happiness"), ("train", "disgusted"), ("test", "FEARFUL"), ("test", "cats")]:
        d = tmp_path / split / label
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "a.png"), rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))  # colour, not 48x48
        cv2.imwrite(str(d / "b.jpg"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
    (tmp_path / "train" / "Happiness" / "broken.jpg").write_bytes(b"not a jpeg")
    data = load(tmp_path)
    assert data.images.shape == (6, 48, 48)
    assert data.skipped == 1
    assert sorted(EMOTIONS[i] for i in data.labels) == ["disgust", "disgust", "fear", "fear", "happy", "happy"]
    assert set(data.usage) == {"Training", "PrivateTest"}
    assert any("cats" in n for n in data.notes)


def test_folder_without_labels_is_a_clear_error(tmp_path):
    (tmp_path / "train" / "unknown").mkdir(parents=True)
    with pytest.raises(DataError, match="no labelled images"):
        load(tmp_path)


def test_label_synonyms():
    assert label_index("Surprised") == 5 and label_index("happiness") == 3 and label_index("4") == 4
    assert label_index("bored") is None


def test_shared_fer2013_has_the_standard_split(fer_data):
    assert {s: len(fer_data.split(s)) for s in ("Training", "PublicTest", "PrivateTest")} == {
        "Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert fer_data.split("PrivateTest").class_counts().tolist() == [491, 55, 528, 879, 594, 416, 626]
