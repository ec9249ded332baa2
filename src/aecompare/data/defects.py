"""Synthetic defects (Klimkevicius): seeded corruptions of any image batch (N, C, H, W) in [0, 1]; and
feature-wise perturbations of table rows, the label-free stand-ins for anomalies that choose a model.

Each function returns new float32 images and leaves its input untouched; the same seed gives the same
defects. They turn held-out good images into labelled anomalies of a known kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from aecompare.errors import ConfigError, DataError, unknown_name

SHAPES = ("ellipse", "rectangle", "line", "polygon")


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise DataError(f"defects apply to image batches (N, C, H, W), got shape {images.shape}")
    return images.astype(np.float32, copy=True)


def gaussian_noise(images: np.ndarray, *, mean: float = 0.005, std: float = 0.5, seed: int = 0) -> np.ndarray:
    """Add N(mean, std^2) noise to every pixel and channel, then clip to [0, 1] (the paper: mean 0.005, std 0.5)."""
    out = _check(images)
    if std < 0:
        raise ConfigError(f"gaussian_noise: std must be non-negative, got {std}")
    out += np.random.default_rng(seed).normal(mean, std, size=out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0, out=out)


def salt_and_pepper(images: np.ndarray, *, fraction: float = 0.05, seed: int = 0) -> np.ndarray:
    """Set a ``fraction`` of each image's pixels (all channels of a pixel together) to white or black, half
    each on average."""
    out = _check(images)
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"salt_and_pepper: fraction must be in [0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    n, _, h, w = out.shape
    hit = rng.random((n, 1, h, w)) < fraction  # (N, 1, H, W): the pixels that change
    white = rng.random((n, 1, h, w)) < 0.5
    out = np.where(hit & white, 1.0, out)
    return np.where(hit & ~white, 0.0, out).astype(np.float32)


def _draw_object(
    draw: Any, rng: np.random.Generator, size: tuple[float, float], h: int, w: int, c: int
) -> tuple[int, int, int, int]:
    """Draw one object of a random shape, colour, size and position; returns its box (x0, y0, x1, y1)."""
    bw, bh = (max(2, int(round(rng.uniform(*size) * side))) for side in (w, h))
    x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    x1, y1 = x0 + bw - 1, y0 + bh - 1
    colour = tuple(int(v) for v in rng.integers(0, 256, size=c))
    fill = colour[0] if c == 1 else colour
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    if shape == "ellipse":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "rectangle":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif shape == "line":  # inset by the half width, so the stroke stays inside the box
        width = max(1, min(bw, bh) // 4)
        inset = width // 2 + 1
        draw.line(
            (x0 + inset, y0 + inset, max(x0 + inset, x1 - inset), max(y0 + inset, y1 - inset)),
            fill=fill,
            width=width,
        )
    else:
        corners = rng.integers((x0, y0), (x1 + 1, y1 + 1), size=(int(rng.integers(3, 7)), 2))
        draw.polygon([tuple(int(v) for v in p) for p in corners], fill=fill)
    return x0, y0, x1, y1


def pasted_objects(
    images: np.ndarray,
    *,
    n_objects: tuple[int, int] = (1, 3),
    size: tuple[float, float] = (0.1, 0.3),
    seed: int = 0,
    return_boxes: bool = False,
) -> np.ndarray | tuple[np.ndarray, list]:
    """Draw random objects on each image with Pillow: ellipses, rectangles, lines and polygons of a random
    colour, size (``size`` as a fraction of the image side) and position; between ``n_objects[0]`` and
    ``n_objects[1]`` per image.

    Returns:
        The images, and with ``return_boxes`` each image's object boxes ``(x0, y0, x1, y1)`` in pixels
        (inclusive): nothing outside them changes.
    """
    from PIL import Image, ImageDraw

    out = _check(images)
    lo, hi = n_objects
    if not 1 <= lo <= hi:
        raise ConfigError(f"pasted_objects: n_objects must be (low, high) with 1 <= low <= high, got {n_objects}")
    if not 0.0 < size[0] <= size[1] <= 1.0:
        raise ConfigError(f"pasted_objects: size must be fractions 0 < low <= high <= 1, got {size}")
    rng = np.random.default_rng(seed)
    n, c, h, w = out.shape
    boxes: list[list[tuple[int, int, int, int]]] = []
    for i in range(n):
        canvas = Image.fromarray(
            (out[i].transpose(1, 2, 0) * 255).round().astype(np.uint8).squeeze(-1)
            if c == 1
            else (out[i].transpose(1, 2, 0) * 255).round().astype(np.uint8)
        )
        before = np.asarray(canvas).copy()
        draw = ImageDraw.Draw(canvas)
        mine = []
        for _ in range(int(rng.integers(lo, hi + 1))):
            mine.append(_draw_object(draw, rng, size, h, w, c))
        after = np.asarray(canvas)
        changed = (after != before).reshape(h, w, -1).any(-1)
        if changed.any():  # only the drawn pixels take new values: the rest keeps its float precision
            drawn = (after.reshape(h, w, -1).transpose(2, 0, 1) / 255.0).astype(np.float32)
            out[i][:, changed] = drawn[:, changed]
        boxes.append(mine)
    return (out, boxes) if return_boxes else out


DEFECTS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": gaussian_noise,
    "salt_pepper": salt_and_pepper,
    "objects": pasted_objects,
}


def apply_defect(kind: str, images: np.ndarray, seed: int = 0, **params) -> np.ndarray:
    """Corrupt ``images`` with the named defect, one of :data:`DEFECTS`."""
    if kind not in DEFECTS:
        raise unknown_name("synthetic defect", kind, DEFECTS)
    return DEFECTS[kind](images, seed=seed, **params)


def perturbed_rows(rows: np.ndarray, reference: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Feature-wise perturbations of table rows (N, D), a stand-in for anomalies that needs no labels. In each
    row a random subset of the columns (1 to half of them) changes: in the first half of the rows those
    columns take the values of other, randomly drawn ``reference`` rows (each column's distribution is kept,
    its relation to the others broken); in the second half they get Gaussian noise of one ``reference``
    standard deviation (a local shift). Returns float64 rows."""
    rows = np.asarray(rows, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if rows.ndim != 2 or reference.ndim != 2 or rows.shape[1] != reference.shape[1] or not len(reference):
        raise DataError(
            f"perturbed_rows needs tables (N, D) with the same columns, got {rows.shape} and {reference.shape}"
        )
    rng = np.random.default_rng(seed)
    n, d = rows.shape
    n_changed = rng.integers(1, max(1, d // 2) + 1, size=n)  # (N,) columns to change per row
    changed = np.argsort(rng.random((n, d)), axis=1) < n_changed[:, None]  # (N, D) a random subset per row
    resampled = reference[rng.integers(0, len(reference), size=(n, d)), np.arange(d)]  # (N, D)
    noisy = rows + rng.normal(size=(n, d)) * reference.std(axis=0)
    replacement = np.where((np.arange(n) < n // 2)[:, None], resampled, noisy)
    return np.where(changed, replacement, rows)


def synthetic_anomalies(normal: np.ndarray, reference: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """One synthetic anomaly per normal sample, for choosing a model without anomaly labels: images
    (N, C, H, W; uint8 or [0, 1]) get 1-3 pasted objects (:func:`pasted_objects`), tables (N, D) the
    feature-wise perturbations of :func:`perturbed_rows` against the normal ``reference`` rows. The result is
    in the input's units (images as floats in [0, 1]), ready for the same scaling as real data."""
    normal = np.asarray(normal)
    if normal.ndim == 4:
        unit = normal / 255.0 if normal.dtype == np.uint8 else np.clip(normal, 0.0, 1.0)
        return pasted_objects(unit, seed=seed)
    return perturbed_rows(normal, reference, seed=seed)
