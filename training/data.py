"""Loading FER2013-style data: the challenge CSV (plain or gzip) and image folders.

Everything comes back as a :class:`FerData`: grey 48x48 uint8 images, integer labels
in :data:`training.labels.EMOTIONS` order, and the split each image belongs to.
Bad input raises :class:`DataError` with one sentence a person can act on.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from training.labels import EMOTIONS, NUM_CLASSES, label_index
from training.preprocessing import INPUT_SIZE, to_grey48

SPLITS = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# Folder names of the image-folder editions, mapped onto challenge split names.
_SPLIT_FOLDERS = {"train": "Training", "training": "Training", "val": "PublicTest",
                  "validation": "PublicTest", "publictest": "PublicTest", "test": "PrivateTest",
                  "privatetest": "PrivateTest"}


class DataError(Exception):
    """A data file or folder that cannot be used, with the reason in plain words."""


@dataclass(frozen=True)
class FerData:
    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, index into EMOTIONS
    usage: np.ndarray  # (N,) str, one of SPLITS
    skipped: int = 0  # unreadable images passed over while loading
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> FerData:
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        mask = self.usage == name
        if not mask.any():
            present = ", ".join(sorted(set(self.usage.tolist()))) or "none"
            raise DataError(f"{self.source} has no {name} images (splits present: {present})")
        return FerData(self.images[mask], self.labels[mask], self.usage[mask], 0, self.source)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)


def load(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> FerData:
    """Load a FER2013 CSV (``.csv``/``.csv.gz``) or an image-folder tree."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data not found: {p}")
    if p.is_dir():
        return load_folder(p)
    if p.name.endswith((".csv", ".csv.gz")):
        return load_csv(p, cache_dir=cache_dir)
    raise DataError(f"{p} is neither a FER2013 CSV (.csv, .csv.gz) nor a folder of images")


def _default_cache_dir() -> Path:
    return Path(os.environ.get("CLASSROOM_CACHE", Path.home() / ".cache" / "classroom"))


def load_csv(path: Path, cache_dir: str | os.PathLike | None = None) -> FerData:
    """Parse the challenge CSV; the parsed arrays are cached (keyed by file hash) since
    parsing 35k rows of 2304 numbers takes longer than training one batch epoch."""
    cache = Path(cache_dir) if cache_dir else _default_cache_dir()
    digest = _file_digest(path)
    cached = cache / f"fer-{digest}.npz"
    if cached.exists():
        try:
            z = np.load(cached, allow_pickle=False)
            return FerData(z["images"], z["labels"], z["usage"].astype(str), int(z["skipped"]), str(path))
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)  # a broken cache is rebuilt, never trusted
    data = _parse_csv(path)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, images=data.images, labels=data.labels, usage=data.usage, skipped=data.skipped)
        os.replace(tmp, cached)
    except OSError:
        pass  # caching is an optimisation; a read-only home must not stop training
    return data


def _file_digest(path: Path) -> str:
    st = path.stat()
    h = hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _parse_csv(path: Path) -> FerData:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            header = [c.strip().lower() for c in fh.readline().strip().split(",")]
            need = {"emotion", "pixels"}
            if not need <= set(header):
                raise DataError(
                    f"{path}: expected columns emotion,pixels[,Usage]; found {','.join(header) or 'nothing'}"
                )
            i_emo, i_pix = header.index("emotion"), header.index("pixels")
            i_use = header.index("usage") if "usage" in header else None
            images, labels, usage = [], [], []
            skipped = 0
            for line in fh:
                parts = line.rstrip("\n").split(",")
                if len(parts) < len(header):
                    skipped += 1
                    continue
                try:
                    label = int(parts[i_emo])
                    pix = np.array(parts[i_pix].split(), dtype=np.uint8)
                except ValueError:
                    skipped += 1
                    continue
                if pix.size != INPUT_SIZE * INPUT_SIZE or not 0 <= label < NUM_CLASSES:
                    skipped += 1
                    continue
                images.append(pix.reshape(INPUT_SIZE, INPUT_SIZE))
                labels.append(label)
                usage.append(parts[i_use].strip() if i_use is not None else "Training")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if not images:
        raise DataError(f"{path} holds no usable rows (skipped {skipped})")
    return FerData(np.stack(images), np.array(labels, np.int64), np.array(usage), skipped, str(path))


def load_folder(root: Path) -> FerData:
    """``root/<split>/<label>/*.jpg`` (split folders: train/test/val/...) or ``root/<label>/*``.

    Colour or non-48x48 images are converted; unreadable ones are skipped and counted;
    label folders we do not recognise are reported, not guessed.
    """
    split_dirs = {d: _SPLIT_FOLDERS[d.name.lower()] for d in root.iterdir() if d.is_dir() and d.name.lower() in _SPLIT_FOLDERS}
    if not split_dirs:
        split_dirs = {root: "Training"}
    images, labels, usage, notes = [], [], [], []
    skipped = 0
    for split_dir, split in sorted(split_dirs.items()):
        for label_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
            idx = label_index(label_dir.name)
            if idx is None:
                notes.append(f"ignored folder {label_dir} (not an emotion label; expected one of {', '.join(EMOTIONS)})")
                continue
            for f in sorted(label_dir.iterdir()):
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
                if img is None or img.size == 0:
                    skipped += 1
                    continue
                images.append(to_grey48(img))
                labels.append(idx)
                # The folder editions keep the challenge split in the file name.
                stem = f.name.split("_")[0]
                usage.append(stem if stem in SPLITS else split)
    if not images:
        msg = f"no labelled images under {root}"
        if notes:
            msg += "; " + "; ".join(notes[:3])
        raise DataError(msg)
    return FerData(np.stack(images), np.array(labels, np.int64), np.array(usage), skipped, str(root), notes)
