"""Score new data with a finished run (``aecompare score``): image files or table rows in, one CSV row out
per input with its score and its label at the run's threshold."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.core.io import atomic_write_text
from aecompare.data.dataset import locate
from aecompare.data.images import IMAGE_SUFFIXES, read_images
from aecompare.data.sources import read_features
from aecompare.detector import Detector
from aecompare.errors import DataError, DataNotFoundError

GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2 luma, as Pillow's "L" conversion


def score_new_data(
    run_dir: str | Path,
    *,
    images: str | None = None,
    table: str | None = None,
    label: str = "label",
    output: str | Path | None = None,
    data_dir: str | None = None,
    device: str | None = None,
) -> str:
    """Score the image files under ``images`` (or the rows of ``table``) with the run in ``run_dir``.

    Images are centre-cropped and resized to the run's input size, and made gray for a one-channel model;
    their bytes go through the run's own scaler (values in [0, 1]), as its training data did.

    Args:
        run_dir: a finished run folder (or a folder written by ``Detector.save``).
        images: a folder of image files, searched recursively.
        table: a CSV, NPZ or MAT file with the run's feature columns (``label`` is left out when present),
            matched by name when both it and the run's training file name them (any order), else by position.
        label: the table's label column.
        output: write the CSV here (atomically) as well as returning it.
        data_dir: where relative ``images``/``table`` paths are also looked for.
        device: where to score (default: the CPU).

    Returns:
        The CSV text: ``input`` (file path or row index), ``score``, ``anomaly`` (1 above the run's threshold).

    Raises:
        DataError: for inputs of the wrong kind or shape for the run.
    """
    detector = Detector.load(run_dir, device=device or "cpu")
    shape = detector.input_shape_
    if images is not None:
        if len(shape) != 3:
            raise DataError(
                f"the run in {run_dir} was trained on tables of {shape[0]} features; score a table with --table FILE"
            )
        ids, x = _read_image_inputs(locate(images, data_dir), shape)
    else:
        if len(shape) != 1:
            raise DataError(
                f"the run in {run_dir} was trained on images of shape {shape}; score a folder of "
                "images with --images DIR"
            )
        x, names = read_features(locate(table, data_dir), label)
        x = match_columns(x, names, getattr(detector, "feature_names_in_", None), shape[0], table, label)
        ids = [str(i) for i in range(len(x))]
    with warnings.catch_warnings():  # the columns were matched by name above; the array carries none
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        scores = detector.decision_function(x)
    text = _csv(ids, scores, (scores > detector.threshold_).astype(int))
    if output is not None:
        atomic_write_text(output, text)
    return text


def match_columns(
    x: np.ndarray, names: tuple[str, ...] | None, trained: Any, n_features: int, table: str, label: str
) -> np.ndarray:
    """The columns of a table to score, in the order of the run's training columns: by name where both the file
    and the run name them (a CSV after a CSV), else by position.

    Raises:
        DataError: for a column the run needs that the file lacks, one it has that the run does not know, a
            name given twice, or (by position) another number of columns.
    """
    hint = f"(the label column {label!r} is left out; --label names it)"
    if names is not None and trained is not None:
        trained = [str(n) for n in trained]
        repeated = sorted({n for n in names if names.count(n) > 1})
        missing = [n for n in trained if n not in names]
        extra = [n for n in names if n not in trained]
        if repeated or missing or extra:
            what = (
                ([f"names {', '.join(repeated)} more than once"] if repeated else [])
                + ([f"lacks {', '.join(missing[:10])}"] if missing else [])
                + ([f"has {', '.join(extra[:10])}, which the run was not trained on"] if extra else [])
            )
            raise DataError(f"{table}: its columns do not match the run's: it {'; it '.join(what)} {hint}")
        return x[:, [names.index(n) for n in trained]]
    if x.shape[1] != n_features:
        raise DataError(
            f"{table} has {x.shape[1]} feature columns but the run was trained on {n_features}; pass "
            f"a table with the training data's columns {hint}"
        )
    return x


def _read_image_inputs(folder: Path, shape: tuple[int, ...]) -> tuple[list[str], np.ndarray]:
    """The images under ``folder`` as uint8 (N, C, H, W) for a model of input ``shape`` (C, H, W)."""
    channels, height, width = shape
    if height != width:
        raise DataError(f"the run's images are {height}x{width}; only square inputs can be read from files")
    if channels not in (1, 3):
        raise DataError(f"the run's images have {channels} channels; files are read as RGB or gray")
    if not folder.is_dir():
        raise DataNotFoundError(f"image folder {folder} not found")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    pixels, kept = read_images(paths, height, on_error="raise")  # (N, 3, S, S)
    if channels == 1:
        gray = np.tensordot(GRAY_WEIGHTS, pixels.astype(np.float64), axes=([0], [1]))  # (N, S, S)
        pixels = np.clip(np.rint(gray), 0, 255).astype(np.uint8)[:, None]
    return [str(p) for p in kept], pixels


def _csv(ids: list[str], scores: np.ndarray, labels: np.ndarray) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["input", "score", "anomaly"])
    writer.writerows([i, repr(float(s)), int(a)] for i, s, a in zip(ids, scores, labels))
    return buffer.getvalue()
