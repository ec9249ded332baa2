"""Synthetic defects: seeded, with the stated statistics, only where they say."""

from __future__ import annotations

import numpy as np
import pytest

from aecompare.data.defects import (
    apply_defect,
    gaussian_noise,
    pasted_objects,
    perturbed_rows,
    salt_and_pepper,
    synthetic_anomalies,
)
from aecompare.errors import DataError


def test_gaussian_noise_has_the_stated_mean_and_spread() -> None:
    gray = np.full((20, 3, 32, 32), 0.5, dtype=np.float32)
    noisy = gaussian_noise(gray, mean=0.005, std=0.05, seed=1)  # small enough that clipping never bites
    shift = noisy - gray
    assert abs(shift.mean() - 0.005) < 0.001
    assert abs(shift.std() - 0.05) < 0.001
    paper = gaussian_noise(gray, seed=1)  # the paper's std 0.5 leaves [0, 1] often: clipped
    assert paper.min() == 0.0
    assert paper.max() == 1.0
    assert np.array_equal(paper, gaussian_noise(gray, seed=1))
    assert (gray == 0.5).all()  # the input is untouched


@pytest.mark.parametrize("fraction", [0.02, 0.2])
def test_salt_and_pepper_changes_the_stated_fraction_of_pixels(fraction: float) -> None:
    gray = np.full((10, 3, 64, 64), 0.5, dtype=np.float32)
    out = salt_and_pepper(gray, fraction=fraction, seed=0)
    changed = (out != 0.5).any(1)  # (N, H, W): a pixel changes in all channels together
    assert abs(changed.mean() - fraction) < 0.1 * fraction
    assert ((out == 0.5).all(1) | (out == 0.0).all(1) | (out == 1.0).all(1)).all()
    assert abs((out == 1.0).all(1).mean() - fraction / 2) < 0.15 * fraction


def test_pasted_objects_change_pixels_only_inside_their_boxes() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((30, 3, 40, 40)).astype(np.float32)
    out, boxes = pasted_objects(images, seed=3, return_boxes=True)
    for img, new, mine in zip(images, out, boxes):
        inside = np.zeros((40, 40), dtype=bool)
        for x0, y0, x1, y1 in mine:
            inside[y0 : y1 + 1, x0 : x1 + 1] = True
        changed = (new != img).any(0)
        assert not (changed & ~inside).any()
        assert changed.any()
    assert np.array_equal(out, apply_defect("objects", images, seed=3))
    assert not np.array_equal(out, apply_defect("objects", images, seed=4))


def test_perturbed_rows_change_one_to_half_the_columns_with_resampled_values_or_noise() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(200, 8)) * np.arange(1, 9)
    rows = rng.normal(size=(100, 8)) * np.arange(1, 9)
    out = perturbed_rows(rows, reference, seed=3)
    changed = out != rows
    assert out.shape == rows.shape
    assert changed.any(1).all()
    assert (changed.sum(1) <= 4).all()
    first_half = changed[:50]
    for col in range(8):  # resampled cells hold values of the same reference column
        assert np.isin(out[:50][first_half[:, col], col], reference[:, col]).all()
    assert not np.isin(out[50:][changed[50:]], reference).any()  # the rest: Gaussian noise, new values
    np.testing.assert_array_equal(out, perturbed_rows(rows, reference, seed=3))
    assert not np.array_equal(out, perturbed_rows(rows, reference, seed=4))
    with pytest.raises(DataError, match="same columns"):
        perturbed_rows(rows, reference[:, :3])


def test_synthetic_anomalies_paste_objects_on_images_and_perturb_tables() -> None:
    images = np.full((4, 1, 16, 16), 128, dtype=np.uint8)
    fakes = synthetic_anomalies(images, images, seed=0)
    assert fakes.dtype == np.float32
    assert fakes.min() >= 0.0
    assert fakes.max() <= 1.0
    assert (np.abs(fakes - 128 / 255).reshape(4, -1).max(1) > 0.01).all()  # every image got a visible object
    table = np.random.default_rng(0).normal(size=(10, 4))
    assert (synthetic_anomalies(table, table, seed=0) != table).any(1).all()
