"""A school's own labelled faces: a zip of ``label/image`` folders, read for evaluation.

Each image's label is the name of the folder it sits in (any depth: ``happy/1.png`` and
``year7/happy/1.png`` are both "happy"), with the image-folder loaders' synonyms
(:func:`training.labels.label_index`: "happiness", "anger", "3", ...). Images in folders that are
not an emotion label are left out and reported, never guessed.

How a face is found in each image:

* an image no larger than :data:`FACE_CROP_MAX_SIDE` pixels on each side is taken as the face
  crop itself (FER2013's 48x48 faces, and the 64-128 px crops of most face data sets: a detector
  cannot search a picture that is only the face);
* a larger image is searched with the engine's face detector as the engine searches a still
  picture (every scale), the largest face is cropped with the engine's alignment (eye line
  levelled, FER-like margin) and read; an image with no face is reported and left out.

Either way the crop goes through ``training.preprocessing`` exactly as in training and in the
engine. The archive is checked before anything is unpacked: not a zip, an empty one, an
encrypted one, one that would unpack to more than :data:`MAX_UNPACKED_BYTES` or whose members
are compressed past :data:`MAX_RATIO` (a zip bomb) raise :class:`ArchiveError` with one
sentence a person can act on. Images are read from the archive in memory, never written out.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from training.data import IMAGE_SUFFIXES, DataError
from training.labels import EMOTIONS, label_index
from training.preprocessing import INPUT_SIZE, to_grey48

FACE_CROP_MAX_SIDE = 128  # pixels; at most this on each side = already a face crop
MAX_IMAGES = 20_000
MAX_IMAGE_BYTES = 25 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200  # a photo compresses maybe 1.5x, a PNG face 2-5x; 200x is a bomb, not a picture
LABEL_HINT = f"{', '.join(EMOTIONS)} (or a synonym such as happiness, anger, surprised, or 0-6)"

Progress = Callable[[int, int], None]  # (images done, images in all)


class ArchiveError(DataError):
    """An archive that cannot be evaluated, with the reason in plain words."""


@dataclass(frozen=True)
class Member:
    name: str  # path inside the archive
    folder: str  # the folder the image is in ("" at the top level)
    label: int | None  # index into EMOTIONS, None when the folder is not a label


@dataclass
class LabelledFaces:
    images: np.ndarray  # (N, 48, 48) uint8: the crops the model reads
    labels: np.ndarray  # (N,) int64
    names: list[str]  # each image's path in the archive
    detected: int = 0  # how many of them were found by the face detector (the rest were crops)
    unknown_labels: dict[str, int] = field(default_factory=dict)  # folder -> images left out
    no_face: list[str] = field(default_factory=list)
    several_faces: list[str] = field(default_factory=list)  # read by their largest face
    unreadable: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def notes(self) -> list[str]:
        """What was left out or read with care, one plain sentence each."""
        out = []
        for folder, n in sorted(self.unknown_labels.items()):
            where = f"folder '{folder}'" if folder else "the archive's top level (no label folder)"
            out.append(f"{n} image{'s' if n != 1 else ''} in {where} left out: not an emotion label; "
                       f"use {LABEL_HINT}.")
        if self.no_face:
            out.append(f"{len(self.no_face)} image{'s' if len(self.no_face) != 1 else ''} without a face left out: "
                       + _some(self.no_face) + ".")
        if self.unreadable:
            out.append(f"{len(self.unreadable)} file{'s' if len(self.unreadable) != 1 else ''} that are not readable "
                       "pictures left out: " + _some(self.unreadable) + ".")
        if self.several_faces:
            out.append(f"{len(self.several_faces)} image{'s' if len(self.several_faces) != 1 else ''} with more than "
                       "one face were read by the largest face: " + _some(self.several_faces) + ".")
        return out

    def report(self) -> dict:
        """The archive's side of the ``evaluate --json`` answer."""
        return {"detected": self.detected, "unknown_labels": self.unknown_labels, "no_face": self.no_face,
                "several_faces": self.several_faces, "unreadable": self.unreadable, "notes": self.notes()}


def _some(names: list[str], k: int = 5) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def members(path: str | Path) -> list[Member]:
    """The archive's images and their labels, after the checks that need nothing unpacked."""
    p = Path(path)
    if not p.exists():
        raise ArchiveError(f"archive not found: {p}")
    if p.stat().st_size == 0:
        raise ArchiveError("the file is empty (0 bytes)")
    if not zipfile.is_zipfile(p):
        raise ArchiveError("the file is not a zip archive; make one of label folders (happy/, sad/, ...) of face images")
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(f"the zip archive is damaged ({exc})") from exc
    files = [i for i in infos if not i.is_dir() and not _hidden(i.filename)]
    if not files:
        raise ArchiveError("the zip archive is empty")
    if any(i.flag_bits & 0x1 for i in files):
        raise ArchiveError("the zip archive is password-protected; make it without a password")
    if sum(i.file_size for i in files) > MAX_UNPACKED_BYTES:
        raise ArchiveError(f"the zip archive unpacks to more than {MAX_UNPACKED_BYTES // 2**20:,} MB; split it")
    if any(i.file_size > 1024 * 1024 and i.file_size > MAX_RATIO * max(i.compress_size, 1) for i in files):
        raise ArchiveError("the zip archive is compressed far beyond what pictures allow (a zip bomb?); refused")
    images = [i for i in files if PurePosixPath(i.filename).suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise ArchiveError(f"the zip archive holds no pictures ({', '.join(sorted(IMAGE_SUFFIXES))}) in label folders")
    if len(images) > MAX_IMAGES:
        raise ArchiveError(f"the zip archive holds {len(images):,} pictures; at most {MAX_IMAGES:,} at a time")
    out = []
    for i in images:
        parts = PurePosixPath(i.filename).parts
        folder = parts[-2] if len(parts) > 1 else ""
        out.append(Member(i.filename, folder, label_index(folder) if folder else None))
    if all(m.label is None for m in out):
        folders = sorted({m.folder for m in out if m.folder})
        found = f"found {', '.join(repr(f) for f in folders[:6])}" if folders else "the pictures are not in folders"
        raise ArchiveError(f"no picture is in a folder named after an emotion ({found}); name the folders {LABEL_HINT}")
    return out


def _hidden(name: str) -> bool:
    # macOS and Windows zip tools add these beside the pictures.
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts) \
        or PurePosixPath(name).name.lower() == "thumbs.db"


FaceFinder = Callable[[np.ndarray], list[np.ndarray]]  # BGR picture -> grey face crops, largest first


def read(path: str | Path, find_faces: FaceFinder | None = None, progress: Progress | None = None) -> LabelledFaces:
    """Every labelled face of the archive. ``find_faces`` searches pictures larger than a face
    crop (default: the engine's detector, started on the first such picture)."""
    listed = members(path)
    unknown: dict[str, int] = {}
    for m in listed:
        if m.label is None:
            unknown[m.folder] = unknown.get(m.folder, 0) + 1
    todo = [m for m in listed if m.label is not None]
    images, labels, names = [], [], []
    result = LabelledFaces(np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8), np.zeros(0, np.int64), [],
                           unknown_labels=unknown)
    finder = find_faces
    with zipfile.ZipFile(path) as zf:
        for k, m in enumerate(todo):
            picture = _decode(zf, m.name)
            if picture is None:
                result.unreadable.append(m.name)
            elif max(picture.shape[:2]) <= FACE_CROP_MAX_SIDE:
                images.append(to_grey48(picture))
                labels.append(m.label)
                names.append(m.name)
            else:
                if finder is None:
                    finder = engine_face_finder()
                crops = finder(_bgr(picture))
                if not crops:
                    result.no_face.append(m.name)
                else:
                    if len(crops) > 1:
                        result.several_faces.append(m.name)
                    images.append(to_grey48(crops[0]))
                    labels.append(m.label)
                    names.append(m.name)
                    result.detected += 1
            if progress:
                progress(k + 1, len(todo))
    if not images:
        raise ArchiveError("no face could be read from the archive: " + " ".join(result.notes()))
    result.images, result.labels, result.names = np.stack(images), np.array(labels, np.int64), names
    return result


def _decode(zf: zipfile.ZipFile, name: str) -> np.ndarray | None:
    """The picture as uint8 (grey, BGR or BGRA), or None when it is not one. At most
    MAX_IMAGE_BYTES are read whatever the archive declares."""
    try:
        with zf.open(name) as fh:
            data = fh.read(MAX_IMAGE_BYTES + 1)
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
        return None
    if not data or len(data) > MAX_IMAGE_BYTES:
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        return None
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    return img if img.dtype == np.uint8 else None


def _bgr(picture: np.ndarray) -> np.ndarray:
    if picture.ndim == 2:
        return cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
    if picture.shape[2] == 4:
        return cv2.cvtColor(picture, cv2.COLOR_BGRA2BGR)
    return picture


def engine_face_finder() -> FaceFinder:
    """The engine's detector and alignment, as ``python -m engine process`` uses them on a
    still picture (``engine/config.toml``'s [detector] and [align])."""
    from engine.align import aligned_crop
    from engine.config import load_config
    from engine.detect import FaceDetector
    from engine.quiet import native_stderr_silenced

    cfg = load_config()
    with native_stderr_silenced():
        detector = FaceDetector(cfg.detector)
        detector.warm_up()
    searched = 0

    def find(bgr: np.ndarray) -> list[np.ndarray]:
        nonlocal searched
        # Each picture is a scene of its own: a media time far from the last makes the detector
        # choose its plan afresh instead of keeping the previous picture's.
        searched += 1
        faces = detector.detect(bgr, t=searched * 1e6, every_scale=True)
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        return [aligned_crop(grey, f, cfg.align) for f in sorted(faces, key=lambda f: -f.w * f.h)]

    return find
