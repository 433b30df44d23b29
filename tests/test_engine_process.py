"""End to end: `python -m engine process` on the first seconds of the demo recording, scored
against its truth CSV (assets/demo_class_truth.csv): every face found, one student per tile,
the recorded emotions agree with the model's own reading of the same 48x48 faces, and the
session, its progress fields and the annotated video are what the contract says."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import cv2
import numpy as np
import pytest
from engine_support import DEMO_VIDEO, REPO, cut_video, need_model, read_truth, tile_of

from db import connect
from db import repository as repo
from db.models import ClassSession
from training.labels import EMOTIONS

CUT_S = 10.0
SETTLE_S = 1.0  # smoothed emotions need about a time constant to follow a change of face


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    model = need_model()
    tmp = tmp_path_factory.mktemp("process")
    video = cut_video(DEMO_VIDEO, tmp / "demo_cut.mp4", CUT_S)
    db_url = f"sqlite:///{tmp / 'class.db'}"
    annotated = tmp / "annotated.mp4"
    cmd = [sys.executable, "-m", "engine", "process", str(video), "--db", db_url, "--json", "--title", "Demo cut",
           "--course", "Biology 9B", "--model", str(model), "--annotate", str(annotated), "--emoji"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    with connect(db_url)() as s:
        frame = repo.observations_frame(s, result["session_id"])
        session = s.get(ClassSession, result["session_id"])
        course_name = session.course.name if session.course else None
        alerts = repo.alerts(s, result["session_id"])
    truth = read_truth()
    frame["tile"] = [tile_of(truth, x + w / 2, y + h / 2)
                     for x, y, w, h in frame[["box_x", "box_y", "box_w", "box_h"]].itertuples(index=False)]
    return dict(course_name=course_name, result=result, frame=frame, session=session, alerts=alerts, truth=truth, annotated=annotated,
                video=video, stderr=run.stderr, db_url=db_url, model=model, cmd=cmd)


def test_summary_json_and_session_record(processed):
    r, session = processed["result"], processed["session"]
    assert set(r) == {"session_id", "frames_analyzed", "video_seconds", "wall_seconds", "faces", "students", "alerts"}
    assert r["frames_analyzed"] == pytest.approx(CUT_S * 5, abs=1)
    assert r["video_seconds"] == pytest.approx(CUT_S, abs=0.3)
    assert r["faces"] == len(processed["frame"]) > 0
    assert r["alerts"] == len(processed["alerts"])
    assert session.status.value == "complete" and session.note == ""
    assert session.media_duration == pytest.approx(CUT_S, abs=0.3)  # the dashboard's progress bar reads this
    assert session.video_seconds == pytest.approx(CUT_S, abs=0.3)
    assert session.title == "Demo cut" and processed["course_name"] == "Biology 9B"
    assert session.source == str(processed["video"].resolve())
    assert "%" in processed["stderr"] and "frame" in processed["stderr"]  # the tqdm bar
    assert "Traceback" not in processed["stderr"]


def test_every_visible_face_found_and_one_student_per_tile(processed):
    frame, truth = processed["frame"], processed["truth"]
    assert frame["tile"].notna().all(), "an observation outside every face tile (a false face)"
    # A tile counts as shown when a face was on it for at least 2 s of the cut.
    shown = {r["tile"] for r in truth if r["label"] != "absent" and min(r["end"], CUT_S) - r["start"] >= 2.0}
    found = set(frame["tile"].astype(int))
    # The demo holds one face the detector cannot see (tile 11 starts with a caricature in profile)
    # and one the second look does not confirm in this cut (tile 14: a blurred 48 px FER face
    # upscaled to 63 px scores 0.73, and 0 and 0.64 in the crops around it).
    assert len(found & shown) >= len(shown) - 2, f"missed tiles {sorted(shown - found)}"
    assert frame.groupby("tile")["student_id"].nunique().max() == 1, "a tile's face changed student (id switch)"
    assert frame.groupby("student_id")["tile"].nunique().max() == 1, "a student jumped between tiles"
    assert processed["result"]["students"] == frame["student_id"].nunique() == len(found)
    # "Student N" labels, numbered in reading order: Student 1 is the top-left face found.
    first = frame.sort_values("t").groupby("student")["tile"].first()
    assert first.sort_values().index[0] == "Student 1"


def test_emotions_agree_with_the_model_on_the_same_faces(processed, fer_data):
    from engine.classify import ExpressionModel
    from engine.config import load_config
    from training.preprocessing import prepare_faces

    frame, truth = processed["frame"], processed["truth"]
    faces = fer_data.split("PrivateTest").images
    model = ExpressionModel(processed["model"])
    flip = load_config().classify.flip_average  # read the faces as the engine did
    agree, n = 0, 0
    for r in truth:
        if r["label"] == "absent" or r["start"] >= CUT_S:
            continue
        rows = frame[(frame["tile"] == r["tile"]) & (frame["t"] >= r["start"] + SETTLE_S) & (frame["t"] < r["end"])]
        rows = rows[rows["emotion"].notna()]  # readings below the quality floor claim no emotion (issue 14)
        if len(rows) < 5:
            continue
        dominant = Counter(rows["emotion"]).most_common(1)[0][0]
        own = EMOTIONS[int(np.argmax(model.predict(prepare_faces(faces[[r["fer_index"]]]), flip_average=flip)[0]))]
        agree += dominant == own
        n += 1
    print(f"unreadable: {frame['emotion'].isna().mean():.0%} of the cut's readings; {agree} of {n} segments agree")
    assert n >= 15
    # Detected, aligned, re-sampled crops of an upscaled face are not the 48x48 original; most
    # segments must still read the same (the full-video figure is in docs/engine.md).
    assert agree / n >= 0.7, f"{agree} of {n} segments agree"


def test_annotated_video_has_every_analysed_frame(processed):
    cap = cv2.VideoCapture(str(processed["annotated"]))
    assert cap.isOpened()
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, image = cap.read()
    cap.release()
    assert ok and n == processed["result"]["frames_analyzed"]
    assert image.shape[:2] == (720, 1280)


def test_if_missing_prints_the_existing_session(processed):
    cmd = processed["cmd"][:processed["cmd"].index("--annotate")] + ["--if-missing"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    again = json.loads(run.stdout.strip().splitlines()[-1])
    assert again["session_id"] == processed["result"]["session_id"]
    assert again["faces"] == processed["result"]["faces"]
    with connect(processed["db_url"])() as s:
        assert len(repo.list_sessions(s)) == 1  # nothing was analysed again


def test_export_writes_the_contract_columns(processed, tmp_path):
    out = tmp_path / "obs.csv"
    run = subprocess.run([sys.executable, "-m", "engine", "export", "--db", processed["db_url"], "--session",
                          str(processed["result"]["session_id"]), "--csv", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    import pandas as pd

    table = pd.read_csv(out)
    assert tuple(table.columns) == repo.EXPORT_COLUMNS
    assert len(table) == processed["result"]["faces"]
    assert set(table["student"]) == {f"Student {i + 1}" for i in range(processed["result"]["students"])}


def test_a_reader_that_stops_reading_gets_no_traceback(tmp_path):
    """`python -m engine detect PHOTO | head -1` with the reader gone before the faces are
    printed: no traceback on stderr (a broken pipe is not the engine's error)."""
    from sklearn.datasets import load_sample_images

    photo = tmp_path / "temple.png"
    cv2.imwrite(str(photo), cv2.cvtColor(load_sample_images().images[0], cv2.COLOR_RGB2BGR))
    p = subprocess.Popen([sys.executable, "-m", "engine", "detect", str(photo)], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # long before the engine has started and printed anything
    _, err = p.communicate(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert p.returncode == 1
