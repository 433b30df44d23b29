"""The admin's model page on any install: the shipped model's card evaluation on a fresh database,
and an evaluation on the school's own labelled faces (a zip made here from FER2013 faces) that
matches the training CLI's on the same faces, with clear words for bad archives and labels."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from dashboard_support import APP
from streamlit.testing.v1 import AppTest

from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from db import connect
from db import repository as repo
from training import cli, labelled_zip
from training.labels import EMOTIONS

REPO = Path(__file__).resolve().parents[1]
# One folder name per label, as schools' exports spell them: the loaders' synonyms must apply.
FOLDERS = {0: "anger", 1: "disgusted", 2: "Fear", 3: "happiness", 4: "4", 5: "surprised", 6: "neutral"}
PER_CLASS = 5


def admin_page(tmp_path: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv(ENV_DB, f"sqlite:///{tmp_path / 'fresh.db'}")
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[USER_KEY] = SignedInUser("admin", "admin")
    at.switch_page("views/model.py")
    return at.run()


def chart_spec(at: AppTest, key: str) -> str:
    return next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)


def texts(at: AppTest, kind: str) -> str:
    """As a viewer reads them: text from the archive is Markdown-escaped (dashboard.ui.plain)."""
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in getattr(at, kind)))


def png(face: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", face)
    assert ok
    return buf.tobytes()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_a_fresh_database_shows_the_shipped_models_confusion_matrix(tmp_path, monkeypatch):
    card = json.loads((REPO / "models" / "fer_fast.json").read_text())["private_test"]
    at = admin_page(tmp_path, monkeypatch)
    assert not at.exception and not at.error
    assert at.selectbox(key="card_pick").value == "fer_fast"
    spec = chart_spec(at, "card_confusion_chart")
    first_row = ",".join(f'"{v}"' for v in card["confusion"][0])
    assert f'"text":[[{first_row}]' in spec  # the card's matrix, cell by cell, no data set needed
    per_class = next(d.value for d in at.dataframe if "precision" in d.value.columns)
    assert list(per_class["emotion"]) == list(EMOTIONS)
    assert per_class["f1"].tolist() == pytest.approx([card["per_class"][e]["f1"] for e in EMOTIONS])
    assert {m.label: m.value for m in at.metric}["Faces"] == "3,589"
    # Nothing stored yet: the hint is the whole command, in a code box (not cut off inline).
    assert "No evaluation has been stored" in texts(at, "info")
    hint = next(c.value for c in at.code if "--db" in c.value)
    assert hint.startswith("python -m training evaluate --model models/fer_fast.keras --data ")
    assert "--split PrivateTest --db sqlite:///" in hint


@pytest.mark.slow  # the real model, in the page's evaluation command and here
def test_a_labelled_zip_gives_the_clis_confusion_matrix_and_is_stored_when_asked(tmp_path, monkeypatch, capsys,
                                                                                 fer_data):
    test = fer_data.split("PrivateTest")
    rows = np.concatenate([np.flatnonzero(test.labels == k)[:PER_CLASS] for k in range(len(EMOTIONS))])
    faces, labels = test.images[rows], test.labels[rows]
    # The CLI on the same rows, as a FER2013 CSV (the challenge file's own loader, not the zip's).
    # In this process: the suite has keras loaded already, a second interpreter would load it again.
    csv = tmp_path / "rows.csv"
    csv.write_text("emotion,pixels,Usage\n" + "".join(
        f"{y},{' '.join(map(str, f.ravel()))},PrivateTest\n" for f, y in zip(faces, labels, strict=True)))
    monkeypatch.setenv("CLASSROOM_CACHE", str(tmp_path / "cache"))
    assert cli.main(["evaluate", "--data", str(csv), "--split", "PrivateTest", "--tta", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    entries = {f"year7/{FOLDERS[int(y)]}/{k:03d}.png": png(f) for k, (f, y) in enumerate(zip(faces, labels, strict=True))}
    entries["year7/bored/000.png"] = png(faces[0])  # not an emotion label: left out, said so
    entries["year7/happiness/wall.png"] = png(np.full((240, 320), 128, np.uint8))  # a picture with no face
    entries["__MACOSX/year7/._000.png"] = b"\0\5\26\7"  # the zip tool's litter is ignored

    at = admin_page(tmp_path, monkeypatch)
    at.file_uploader(key="faces_upload").set_value(("year7.zip", zip_of(entries), "application/zip"))
    at.button(key="faces_start").click().run()
    assert not at.exception and not at.error, texts(at, "error")

    result = at.session_state["faces_evaluation"]
    assert result.n == len(rows) == expected["n"]
    assert result.confusion == expected["confusion"]
    assert result.per_class == expected["per_class"]
    shown = chart_spec(at, "faces_confusion_chart")
    assert f'"text":[[{",".join(chr(34) + str(v) + chr(34) for v in expected["confusion"][0])}]' in shown
    warnings = texts(at, "warning")
    assert "1 image in folder 'bored' left out: not an emotion label" in warnings
    assert "1 image without a face left out: year7/happiness/wall.png" in warnings
    wrong = len(rows) - sum(expected["confusion"][k][k] for k in range(len(EMOTIONS)))
    assert len(result.misread) == wrong and all(f.image.shape == (48, 48) for f in result.misread)

    # A bad archive afterwards loses nothing: the result stays on the page.
    at.file_uploader(key="faces_upload").set_value(("again.zip", b"PK not really", "application/zip"))
    at.button(key="faces_start").click().run()
    assert "not a zip archive" in texts(at, "error")
    assert at.session_state["faces_evaluation"] is result

    at.text_input(key="faces_name").input("Year 7 photos")
    at.button(key="faces_store").click().run()
    assert not at.exception and "Stored as 'Year 7 photos'" in texts(at, "success")
    with connect(os.environ[ENV_DB])() as s:
        (stored,) = repo.evaluations(s)
        assert (stored.model_name, stored.split, stored.tta) == ("fer_fast", "Year 7 photos", True)
        assert stored.confusion == expected["confusion"] and stored.n == len(rows)
    assert "Year 7 photos" in at.selectbox(key="evaluation_pick").format_func(stored.id)


def test_bad_archives_and_unknown_labels_get_clear_messages(tmp_path, monkeypatch):
    at = admin_page(tmp_path, monkeypatch)
    for name, content, message in [
        ("empty.zip", b"", "The file is empty"),
        ("photo.zip", png(np.zeros((48, 48), np.uint8)), "not a zip archive"),
        ("bored.zip", zip_of({"bored/1.png": png(np.zeros((48, 48), np.uint8))}),
         "no picture is in a folder named after an emotion (found 'bored')"),
    ]:
        at.file_uploader(key="faces_upload").set_value((name, content, "application/zip"))
        at.button(key="faces_start").click().run()
        assert not at.exception
        assert message.lower() in texts(at, "error").lower(), name
        assert "faces_evaluation" not in at.session_state


def test_the_archive_reader_refuses_bombs_and_empty_zips_before_unpacking(tmp_path):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_of({"happy/a.png": b"\0" * (20 * 2**20)}))  # 20 MB of zeros in ~20 kB
    with pytest.raises(labelled_zip.ArchiveError, match="zip bomb"):
        labelled_zip.members(bomb)
    empty = tmp_path / "empty.zip"
    empty.write_bytes(zip_of({"happy/": b"", "__MACOSX/._x": b"x"}))
    with pytest.raises(labelled_zip.ArchiveError, match="empty"):
        labelled_zip.members(empty)
    plain = tmp_path / "notes.zip"
    plain.write_bytes(zip_of({"happy/readme.txt": b"hello"}))
    with pytest.raises(labelled_zip.ArchiveError, match="holds no pictures"):
        labelled_zip.members(plain)
