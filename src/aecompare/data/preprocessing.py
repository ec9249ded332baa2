"""Input scaling fitted on normal training data only, and saved as plain JSON values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScalingKind = Literal["standard", "robust", "minmax", "gcn-minmax", "none"]
SCALINGS = ("standard", "robust", "minmax", "gcn-minmax", "none")


def global_contrast_normalise(x: np.ndarray) -> np.ndarray:
    """Per sample: subtract its mean, divide by its mean absolute deviation (L1 global contrast
    normalisation, as in Ruff et al., 2018). Needs no statistics, so it cannot leak. (N, ...) -> (N, ...)."""
    axes = tuple(range(1, x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    contrast = np.abs(centred).mean(axis=axes, keepdims=True)
    # A flat image has a contrast of rounding error (~1e-17); dividing by it would blow that up to +-1.
    return centred / np.where(contrast > 1e-8, contrast, 1.0)


def as_unit_float(x: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """``x`` as floats; uint8 images (0-255, as image folders are cached) become values in [0, 1]."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return (x / np.asarray(255.0, dtype=dtype)).astype(dtype, copy=False)
    return x.astype(dtype, copy=True)


def precise_dtype(x: np.ndarray) -> type:
    """float32 where it keeps a table's information, float64 where it would not: a column whose offset dwarfs
    its spread (int64 timestamps near 2^62 that differ by units) loses that spread in float32's 24-bit
    mantissa, so such tables stay float64 until scaling has removed the offset."""
    x = np.asarray(x)
    if x.dtype.kind not in "iuf" or x.ndim != 2 or x.size == 0 or x.dtype.itemsize < 8:
        return np.float32
    wide = x.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf: the caller's finiteness check names them
        spread, offset = wide.std(axis=0), np.abs(wide.mean(axis=0))
    return np.float64 if bool(((offset > 1e5 * spread) & (spread > 0)).any()) else np.float32


@dataclass
class Scaler:
    """``standard`` (per column, for tables), ``robust`` (per column: the median and the interquartile range, which
    a few extreme rows barely move), ``minmax`` (one range for all pixels), ``gcn-minmax`` (global
    contrast normalisation per image, then one range), or ``none``.

    A column that is constant in training keeps a scale of 1, so a test value that differs shows up as
    its raw deviation instead of being divided by ~0 (a 1e8 blow-up).
    """

    kind: ScalingKind = "none"
    offset: np.ndarray | float = 0.0
    scale: np.ndarray | float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray, kind: ScalingKind) -> Scaler:
        """Fit on normal training data ``x`` (N, ...); uint8 images count as values in [0, 1]."""
        if kind == "none":
            return cls("none")
        x = as_unit_float(x, np.float64)  # float64 statistics survive the JSON round trip exactly
        if kind == "gcn-minmax":
            x = global_contrast_normalise(x)
        if kind == "standard":
            std = x.std(axis=0)
            return cls(kind, x.mean(axis=0), np.where(std > 0, std, 1.0))
        if kind == "robust":  # a column with IQR 0 (mostly one value) falls back to its std, a constant one to 1
            q1, median, q3 = np.percentile(x, [25, 50, 75], axis=0)
            std = x.std(axis=0)
            return cls(kind, median, np.where(q3 > q1, q3 - q1, np.where(std > 0, std, 1.0)))
        if kind in ("minmax", "gcn-minmax"):
            lo, hi = float(x.min()), float(x.max())
            return cls(kind, lo, hi - lo if hi > lo else 1.0)
        return cls("none")

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``x`` (uint8 images are first divided by 255)."""
        x = as_unit_float(x, np.float32 if self.kind == "none" else np.float64)
        if self.kind == "none":
            return x
        if self.kind == "gcn-minmax":
            x = global_contrast_normalise(np.asarray(x, dtype=np.float64))
        return ((x - self.offset) / self.scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        as_list = lambda v: np.asarray(v).tolist()  # noqa: E731
        return {"kind": self.kind, "offset": as_list(self.offset), "scale": as_list(self.scale)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        """The inverse of :meth:`to_dict`."""
        return cls(d["kind"], np.asarray(d["offset"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64))


@dataclass(frozen=True)
class LoaderTransform:
    """What a dataset's loader does to the values as its files hold them, before any scaling: divide them by
    ``divide_by`` (scikit-learn's digits are 0-16, MNIST's and CIFAR-10's bytes 0-255), then, if
    ``binarize_at`` is set, set each value to 1 where it is at least that, else 0 (Patuzzo's black-and-white
    MNIST). A detector applies it to new inputs, so data in the dataset's own format scores as the run's did.
    The identity (the default) is what tables, image folders (kept as bytes) and user data get."""

    divide_by: float = 1.0
    binarize_at: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.divide_by) and self.divide_by > 0):
            raise ValueError(f"divide_by must be a positive, finite number, got {self.divide_by!r}")
        if self.binarize_at is not None and not math.isfinite(self.binarize_at):
            raise ValueError(f"binarize_at must be a finite number or None, got {self.binarize_at!r}")

    @property
    def is_identity(self) -> bool:
        """Whether inputs pass unchanged."""
        return self.divide_by == 1.0 and self.binarize_at is None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x`` as the loader would have made it (float32); the identity returns ``x`` itself.

        uint8 inputs are image bytes whatever the dataset (an image file holds 0-255 for [0, 1], also for a run
        on 0-16 digits): they become values in [0, 1] before binarising, instead of being divided by
        ``divide_by``."""
        if self.is_identity:
            return x
        x = np.asarray(x)
        out = as_unit_float(x) if x.dtype == np.uint8 else x.astype(np.float32) / np.float32(self.divide_by)
        return out if self.binarize_at is None else (out >= self.binarize_at).astype(np.float32)

    def describe(self) -> str:
        """In words, for messages: ``divides by 16``, ``divides by 255, then binarises at 0.5``."""
        parts = [f"divides by {self.divide_by:g}"] if self.divide_by != 1.0 else []
        parts += [f"binarises at {self.binarize_at:g}"] if self.binarize_at is not None else []
        return ", then ".join(parts) or "passes them unchanged"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"divide_by": self.divide_by, "binarize_at": self.binarize_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoaderTransform:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: for keys other than ``divide_by`` and ``binarize_at`` or values that are not numbers.
        """
        if not isinstance(d, dict) or set(d) - {"divide_by", "binarize_at"}:
            raise ValueError(f"expected a mapping with divide_by and binarize_at, got {d!r}")
        divide_by, binarize_at = d.get("divide_by", 1.0), d.get("binarize_at")
        for value in (divide_by, *([binarize_at] if binarize_at is not None else [])):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"divide_by and binarize_at must be numbers, got {value!r}")
        return cls(float(divide_by), None if binarize_at is None else float(binarize_at))


@dataclass(frozen=True)
class InputRange:
    """The range of a detector's training inputs after the loader's transform, in the scaler's units (bytes as
    values in [0, 1]): per column for tables (D,), one range for images. New inputs far outside it, or all
    squeezed into a small part of it, are warned about: the scores there mean little, or the inputs were
    scaled twice."""

    low: np.ndarray  # (D,) for tables, () for images
    high: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> InputRange:
        """The range of training inputs ``x`` (N, D) or (N, C, H, W)."""
        x = np.asarray(x)  # min and max first, then floats: no float64 copy of the whole training set
        low, high = (x.min(axis=0), x.max(axis=0)) if x.ndim == 2 else (x.min(), x.max())
        return cls(as_unit_float(np.asarray(low), np.float64), as_unit_float(np.asarray(high), np.float64))

    def problem(self, x: np.ndarray, names: Sequence[str] | None = None) -> str:
        """What is odd about new inputs ``x`` against this range ("" when nothing): most samples with a value
        beyond the training range by more than its width (a column constant in training counts a width of its
        size, at least 1), or (images, several samples) every value within a tenth of the range. Single
        anomalies may lie far out; a whole batch that does was scaled differently."""
        x = as_unit_float(x, np.float64) if np.asarray(x).dtype == np.uint8 else np.asarray(x, dtype=np.float64)
        spread = self.high - self.low
        width = np.where(spread > 0, spread, np.maximum(np.abs(self.high), 1.0))
        flat = x if x.ndim == 2 else x.reshape(len(x), -1)
        beyond = (flat < self.low - width) | (flat > self.high + width)  # (N, D), or (N, pixels) for images
        far_rows = beyond.any(axis=1)
        if far_rows.mean() > 0.5:
            if x.ndim == 2:
                column = int(np.argmax(beyond.sum(axis=0)))
                what = (
                    f"column {names[column] if names is not None else column!r} spans [{flat[:, column].min():.4g}, "
                    f"{flat[:, column].max():.4g}], the training data [{self.low[column]:.4g}, "
                    f"{self.high[column]:.4g}]"
                )
            else:
                what = (
                    f"they span [{flat.min():.4g}, {flat.max():.4g}], the training data "
                    f"[{float(self.low):.4g}, {float(self.high):.4g}]"
                )
            return (
                f"{int(far_rows.sum())} of {len(x)} inputs lie far outside the training range ({what}): were "
                "they scaled differently? Their scores extrapolate"
            )
        low, high = float(flat.min()), float(flat.max())
        if x.ndim != 2 and len(x) > 1 and float(spread) > 0 and high - low < 0.1 * float(spread):
            return (
                f"all inputs lie within [{low:.4g}, {high:.4g}], a tenth of the training data's range "
                f"[{float(self.low):.4g}, {float(self.high):.4g}]: were they scaled already? Pass values as "
                "the dataset stores them"
            )
        return ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputRange:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: for values that are not finite numbers of one shape with low <= high.
        """
        if not isinstance(d, dict) or set(d) != {"low", "high"}:
            raise ValueError(f"expected a mapping with low and high, got {d!r:.80}")
        low, high = np.asarray(d["low"], dtype=np.float64), np.asarray(d["high"], dtype=np.float64)
        if (
            low.shape != high.shape
            or low.ndim > 1
            or not (np.isfinite(low).all() and np.isfinite(high).all())
            or (low > high).any()
        ):
            raise ValueError("low and high must be finite numbers of one shape, low <= high")
        return cls(low, high)
