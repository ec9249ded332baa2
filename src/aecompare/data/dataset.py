"""The labelled dataset every source returns, and where file-based sources look for their files."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.data.preprocessing import LoaderTransform

DATA_ENV = "AECOMPARE_DATA"


@dataclass
class Dataset:
    """A labelled dataset with a train and a test partition.

    Images are float32 (N, C, H, W) in [0, 1], or uint8 0-255 (image folders: decoded once and cached as bytes;
    :class:`~aecompare.data.Scaler` turns them into [0, 1] floats per run). Tables are float32 (N, D), unscaled
    (float64 where float32 would lose a column's spread). ``masks_test`` (image folders in the MVTec layout)
    holds each test image's defect mask (N, H, W) in {0, 1}, NaN where none is known. ``transform`` is what the
    loader did to the values as the files hold them (a detector applies it to new data in that format);
    ``feature_names`` are a table's column names where its file has them (a CSV header); ``files`` are the files
    the loader read, which :meth:`fingerprint` names.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray  # (N,) index into class_names
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    masks_test: np.ndarray | None = None
    transform: LoaderTransform = field(default_factory=LoaderTransform)
    feature_names: tuple[str, ...] | None = None
    files: tuple[Path, ...] = ()
    _fingerprint: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this data in a run's settings, so a run on changed data is not resumed as finished:
        ``content``, 16 hex digits of SHA-256 over every array the loader gave (values, labels, masks, class
        names), and, where the loader read at most :data:`NAMED_FILES` files, ``files``: 12 hex digits of
        SHA-256 of each file's bytes by name, so the message names the file that changed. Computed once."""
        if self._fingerprint is None:
            content = hashlib.sha256(repr((self.class_names, self.transform)).encode("utf-8"))
            for array in (self.x_train, self.y_train, self.x_test, self.y_test, self.masks_test):
                if array is not None:
                    content.update(f"{array.dtype.str}{array.shape}".encode("ascii"))
                    content.update(np.ascontiguousarray(array).data)
            self._fingerprint = {"content": content.hexdigest()[:16]}
            if 0 < len(self.files) <= NAMED_FILES:
                self._fingerprint["files"] = {p.name: _file_digest(p) for p in self.files}
        return self._fingerprint

    @property
    def kind(self) -> str:
        """``"image"`` for (N, C, H, W) data, ``"table"`` for (N, D)."""
        return "image" if self.x_train.ndim == 4 else "table"


NAMED_FILES = 16  # beyond this (an image folder) only the content hash is kept


def _file_digest(path: Path) -> str:
    """12 hex digits of SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder file-based sources read: ``path``, else ``$AECOMPARE_DATA``, else ``~/.aecompare/data``."""
    if path:
        return Path(path).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path.home() / ".aecompare" / "data"


def locate(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A user's file or folder: ``path`` as given when it exists (or is absolute), else the same path under
    the data directory (see :func:`resolve_data_dir`). The caller says what is missing if neither exists."""
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    return resolve_data_dir(data_dir) / path
