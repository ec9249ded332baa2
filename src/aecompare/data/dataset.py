"""The labelled dataset every source returns, and where file-based sources look for their files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "AECOMPARE_DATA"


@dataclass
class Dataset:
    """A labelled dataset with a train and a test partition.

    Images are float32 (N, C, H, W) in [0, 1], or uint8 0-255 (image folders: decoded once and cached as bytes;
    :class:`~aecompare.data.Scaler` turns them into [0, 1] floats per run). Tables are float32 (N, D), unscaled
    (float64 where float32 would lose a column's spread). ``masks_test`` (image folders in the MVTec layout)
    holds each test image's defect mask (N, H, W) in {0, 1}, NaN where none is known.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray  # (N,) index into class_names
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    masks_test: np.ndarray | None = None

    @property
    def kind(self) -> str:
        """``"image"`` for (N, C, H, W) data, ``"table"`` for (N, D)."""
        return "image" if self.x_train.ndim == 4 else "table"


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
