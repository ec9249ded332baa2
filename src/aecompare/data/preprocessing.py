"""Input scaling fitted on normal training data only, and saved as plain JSON values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass
class Scaler:
    """``standard`` (per column, for tables), ``minmax`` (one range for all pixels) or ``none``.

    A column that is constant in training keeps a scale of 1, so a test value that differs shows up as
    its raw deviation instead of being divided by ~0 (a 1e8 blow-up).
    """

    kind: Literal["standard", "minmax", "none"] = "none"
    offset: np.ndarray | float = 0.0
    scale: np.ndarray | float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray, kind: Literal["standard", "minmax", "none"]) -> Scaler:
        """Fit on normal training data ``x`` (N, ...)."""
        x = np.asarray(x, dtype=np.float64)  # float64 statistics survive the JSON round trip exactly
        if kind == "standard":
            std = x.std(axis=0)
            return cls(kind, x.mean(axis=0), np.where(std > 0, std, 1.0))
        if kind == "minmax":
            lo, hi = float(x.min()), float(x.max())
            return cls(kind, lo, hi - lo if hi > lo else 1.0)
        return cls("none")

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``x``."""
        return ((x - self.offset) / self.scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        as_list = lambda v: np.asarray(v).tolist()  # noqa: E731
        return {"kind": self.kind, "offset": as_list(self.offset), "scale": as_list(self.scale)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        """The inverse of :meth:`to_dict`."""
        return cls(d["kind"], np.asarray(d["offset"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64))
