"""Input scaling fitted on normal training data only, and saved as plain JSON values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScalingKind = Literal["standard", "minmax", "gcn-minmax", "none"]
SCALINGS = ("standard", "minmax", "gcn-minmax", "none")


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
    """``standard`` (per column, for tables), ``minmax`` (one range for all pixels), ``gcn-minmax`` (global
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
