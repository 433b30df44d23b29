"""Evaluating a shipped model on the school's own labelled faces, from the admin's model page.

The uploaded zip (``label/image`` folders) is checked here first (empty, not a zip, too large),
then written to a private temporary folder and read by the training command line,
``python -m training evaluate --model M --data FILE.zip --json --progress`` (the dashboard never
imports the model code; ``training/labelled_zip.py`` finds the faces and applies the label
synonyms). The folder is removed as soon as the command ends: the faces live only in this
browser session's memory unless the admin downloads the misclassified ones. Storing the result
is a separate step: :func:`store` writes the metrics (never a face) under the admin's name for it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy.orm import sessionmaker

from dashboard.analytics import EMOTIONS
from dashboard.config import REPO_ROOT
from db import repository as repo

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
NAME_MAX = 20  # stored in model_evaluations.split (String(20)), where a FER2013 evaluation keeps its split
FER_SPLITS = ("Training", "PublicTest", "PrivateTest")
TIMEOUT_S = 3600

Progress = Callable[[int, int], None]  # (images done, images in all)


class LabelledFacesError(Exception):
    """An archive or a run that gave no evaluation, in words an admin can act on."""


@dataclass(frozen=True)
class MisreadFace:
    name: str  # the image's path in the archive
    true: str
    pred: str
    image: np.ndarray  # (48, 48) uint8: the crop the model read


@dataclass(frozen=True)
class FacesEvaluation:
    model_name: str
    tta: bool
    accuracy: float
    top2: float
    n: int
    per_class: dict
    confusion: list
    notes: tuple[str, ...]  # what was left out (unknown labels, no face, unreadable)
    detected: int  # faces found by the detector in larger pictures (the rest were face crops)
    misread: tuple[MisreadFace, ...]

    def result(self) -> dict:
        """The metrics as ``db.repository.store_evaluation`` takes them."""
        return {"n": self.n, "accuracy": self.accuracy, "top2": self.top2, "per_class": self.per_class,
                "confusion": self.confusion}


def check_upload(data: bytes) -> None:
    """The checks that need no unpacking, so a wrong file is refused at once."""
    if not data:
        raise LabelledFacesError("The file is empty (0 bytes).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise LabelledFacesError(f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB; split it into smaller zips.")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise LabelledFacesError("The file is not a zip archive. Zip a folder that holds one folder per emotion "
                                 "(happy/, sad/, ...) of face pictures.")


def evaluation_command(archive: Path, model: Path, tta: bool) -> list[str]:
    return [sys.executable, "-m", "training", "evaluate", "--model", str(model), "--data", str(archive),
            "--json", "--progress"] + (["--tta"] if tta else [])


def evaluate(data: bytes, model: Path, tta: bool, progress: Progress | None = None) -> FacesEvaluation:
    """Run the training command on the archive; raises :class:`LabelledFacesError` with its
    own words when it cannot evaluate it."""
    check_upload(data)
    with tempfile.TemporaryDirectory(prefix="labelled-faces-") as tmp:
        archive, out = Path(tmp) / "faces.zip", Path(tmp) / "result.json"
        archive.write_bytes(data)
        # stdout (one large JSON object) to a file, stderr (progress lines) read as it comes:
        # both on pipes could stall the command on a full stdout pipe.
        with out.open("wb") as fo:
            proc = subprocess.Popen(evaluation_command(archive, model, tta), cwd=REPO_ROOT, stdout=fo,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            other = _follow(proc, progress)
        if proc.returncode != 0:
            raise LabelledFacesError(_failure(other, proc.returncode))
        try:
            found = json.loads(out.read_text())
        except ValueError as exc:
            raise LabelledFacesError("The evaluation gave no result; see the server's log.") from exc
    return _parse(found, model.stem, tta)


def _follow(proc: subprocess.Popen, progress: Progress | None) -> list[str]:
    """Pass progress lines on until the command ends; the other stderr lines are returned."""
    other = []
    try:
        for line in proc.stderr:
            parts = line.strip().split()
            if len(parts) == 2 and parts[0] == "progress" and "/" in parts[1]:
                done, total = parts[1].split("/", 1)
                if progress and done.isdigit() and total.isdigit():
                    progress(int(done), int(total))
            elif line.strip():
                other.append(line.strip())
        proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        other.append(f"error: the evaluation took more than {TIMEOUT_S // 60} minutes and was stopped")
    finally:
        proc.stderr.close()
    return other


def _failure(lines: list[str], code: int | None) -> str:
    errors = [ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("error:")]
    if errors:
        text = errors[-1]
        return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
    return f"The evaluation stopped (exit code {code}); see the server's log."


def _parse(found: dict, model_name: str, tta: bool) -> FacesEvaluation:
    archive = found.get("archive") or {}
    misread = []
    for item in found.get("misclassified") or []:
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(item["face_png"]))).convert("L"))
        misread.append(MisreadFace(item["name"], EMOTIONS[item["true"]], EMOTIONS[item["pred"]], image))
    return FacesEvaluation(model_name, tta, float(found["accuracy"]), float(found["top2"]), int(found["n"]),
                           dict(found["per_class"]), list(found["confusion"]), tuple(archive.get("notes") or ()),
                           int(archive.get("detected") or 0), tuple(misread))


def check_name(name: str) -> str:
    """The evaluation's name as stored, or :class:`LabelledFacesError` saying what is wrong."""
    name = " ".join(name.split())
    if not name:
        raise LabelledFacesError("Give the evaluation a name first (for example 'Year 7 photos').")
    if len(name) > NAME_MAX:
        raise LabelledFacesError(f"The name is longer than {NAME_MAX} characters.")
    if name in FER_SPLITS:
        raise LabelledFacesError(f"'{name}' is a FER2013 split's name; choose another.")
    return name


def store(factory: sessionmaker, ev: FacesEvaluation, name: str) -> str:
    """Store the metrics (no face) as an evaluation named ``name``; returns the stored name."""
    name = check_name(name)
    with factory() as s:
        repo.store_evaluation(s, model_name=ev.model_name, split=name, tta=ev.tta, result=ev.result())
    return name


def misread_zip(ev: FacesEvaluation) -> bytes:
    """The misread faces as PNGs in ``true/read-as-PRED/NAME.png`` folders, for a download the
    admin asks for."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, face in enumerate(ev.misread):
            png = io.BytesIO()
            Image.fromarray(face.image).save(png, format="PNG")
            stem = Path(face.name).stem
            zf.writestr(f"{face.true}/read-as-{face.pred}/{k:04d}-{stem}.png", png.getvalue())
    return buf.getvalue()
