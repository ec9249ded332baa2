"""Sources, the one-class split and scaling."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from aecompare.data import Scaler, available_datasets, load_dataset, one_class_split, resolve_data_dir
from aecompare.data.preprocessing import global_contrast_normalise
from aecompare.data.sources import MNIST_FILES, read_idx
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from formats import write_mnist_folder


def test_lines_are_binary_halves_split_through_the_centre() -> None:
    d = load_dataset("lines", n_train=50, n_test=10, n_anomalies=5, size=16, seed=1)
    assert d.x_train.shape == (50, 1, 16, 16)
    assert d.x_test.shape == (20, 1, 16, 16)
    assert set(np.unique(d.x_train)) == {0.0, 1.0}
    # A line through the centre splits the image in halves: point reflection through the centre swaps
    # white and black (except on the line itself), so each image is about half white.
    assert np.abs(d.x_train.mean(axis=(1, 2, 3)) - 0.5).max() < 0.07
    flipped = d.x_train[:, :, ::-1, ::-1]
    assert ((d.x_train + flipped) == 1).mean() > 0.9
    assert d.class_names[d.y_test[-1]] == "offcentre"
    offcentre = d.x_test[d.y_test == 2]
    assert np.abs(offcentre.mean(axis=(1, 2, 3)) - 0.5).min() > 0.1  # off-centre lines cut unequal parts


def test_lines_are_seeded() -> None:
    a, b, c = (load_dataset("lines", n_train=5, seed=s).x_train for s in (0, 0, 1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_defects_flip_a_square_patch() -> None:
    d = load_dataset("lines", n_train=5, n_test=5, n_anomalies=20, size=24, seed=0)
    defects = d.x_test[d.y_test == 1][:, 0]
    # A line image is symmetric under point reflection up to inversion; a flipped patch breaks that.
    asymmetry = (defects + defects[:, ::-1, ::-1] != 1).sum(axis=(1, 2))
    assert (asymmetry >= 4).mean() > 0.8


def test_digits_embedded_and_scaled() -> None:
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8)
    assert len(d.x_train) + len(d.x_test) == 1797
    assert d.x_train.min() >= 0.0
    assert d.x_train.max() <= 1.0
    assert d.class_names == tuple("0123456789")


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A data folder with four small IDX files in MNIST's real format."""
    write_mnist_folder(tmp_path / "mnist")
    return tmp_path


def test_mnist_loader_reads_idx_files(tiny_mnist: Path) -> None:
    d = load_dataset("mnist", tiny_mnist)
    assert d.x_train.shape == (30, 1, 28, 28)
    assert d.x_test.shape == (20, 1, 28, 28)
    assert d.x_train.dtype == np.float32
    assert d.x_train.min() >= 0.0
    assert d.x_train.max() <= 1.0
    assert list(d.y_test[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_data_dir_comes_from_the_environment(tiny_mnist: Path, monkeypatch) -> None:
    monkeypatch.setenv("AECOMPARE_DATA", str(tiny_mnist))
    assert resolve_data_dir() == tiny_mnist
    assert len(load_dataset("mnist").x_train) == 30


def test_real_mnist(real_data_dir: Path) -> None:
    if not (real_data_dir / "mnist" / MNIST_FILES["x_train"]).exists():
        pytest.skip(f"MNIST not found in {real_data_dir / 'mnist'}")
    d = load_dataset("mnist", real_data_dir)
    assert d.x_train.shape == (60000, 1, 28, 28)
    assert d.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(d.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_missing_mnist_says_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"train-images-idx3-ubyte.gz not found in .*mnist.*AECOMPARE_DATA"):
        load_dataset("mnist", tmp_path)


def test_truncated_idx_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 2]) + struct.pack(">II", 5, 5) + b"\x00" * 7)
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_unknown_dataset_and_parameter_list_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown dataset 'mnsit'; choose one of: casting, cifar10, creditcard, digits"
    ):
        load_dataset("mnsit")
    with pytest.raises(ConfigError, match="unknown parameter 'n'; valid parameters are: n_train"):
        load_dataset("lines", n=3)
    assert set(available_datasets()) >= {"digits", "lines", "mnist"}


def test_split_keeps_anomalies_out_of_training_and_validation() -> None:
    d = load_dataset("digits")
    s = one_class_split(d, ["3", "5"], val_fraction=0.25, seed=2)
    n_normal_train = int(np.isin(d.y_train, [3, 5]).sum())
    assert len(s.x_train) + len(s.x_val) == n_normal_train
    assert len(s.x_val) == round(0.25 * n_normal_train)
    assert set(s.group_test[s.y_test == 0]) == {"3", "5"}
    assert set(s.group_test[s.y_test == 1]) == set("01246789")
    # No training or validation image is an anomaly's image.
    anomalies = d.x_train[~np.isin(d.y_train, [3, 5])].reshape(-1, 64)
    pool = {row.tobytes() for row in np.concatenate([s.x_train, s.x_val]).reshape(-1, 64)}
    assert not any(row.tobytes() in pool for row in anomalies)


def test_validation_draw_is_seeded() -> None:
    d = load_dataset("digits")
    a, b, c = (one_class_split(d, ["1"], seed=s).x_val for s in (4, 4, 5))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_split_errors() -> None:
    d = load_dataset("lines", n_train=10, n_test=5, n_anomalies=5)
    with pytest.raises(ConfigError, match="unknown class 'circle'; classes are: line, defect, offcentre"):
        one_class_split(d, ["circle"])
    with pytest.raises(DataError, match="have no training samples"):
        one_class_split(d, ["defect"])
    with pytest.raises(ConfigError, match="at least one normal class"):
        one_class_split(d, [])


def test_nan_in_a_dataset_is_a_clear_error() -> None:
    d = load_dataset("lines", n_train=10, n_test=5, n_anomalies=5, size=8)
    d.x_train[3, 0, 2, 2] = np.nan
    with pytest.raises(DataError, match=r"lines: the training data has 1 NaN or infinite values \(first in sample 3\)"):
        one_class_split(d, ["line"])


def test_standard_scaler_leaves_constant_columns_unscaled() -> None:
    train = np.array([[1.0, 5.0], [3.0, 5.0]])
    scaler = Scaler.fit(train, "standard")
    out = scaler.transform(np.array([[2.0, 6.0]]))
    assert out[0, 0] == pytest.approx(0.0)
    assert out[0, 1] == pytest.approx(1.0)  # the raw deviation, not 1 / 1e-8
    restored = Scaler.from_dict(scaler.to_dict())
    assert np.array_equal(restored.transform(train), scaler.transform(train))


def test_robust_scaler_centres_on_the_median_and_divides_by_the_interquartile_range() -> None:
    train = np.array([[1.0, 7.0, 2.0], [2.0, 7.0, 2.0], [3.0, 7.0, 2.0], [4.0, 7.0, 2.0], [1000.0, 7.0, 6.0]])
    scaler = Scaler.fit(train, "robust")
    out = scaler.transform(np.array([[3.0, 8.0, 4.0]]))
    assert out[0, 0] == pytest.approx((3.0 - 3.0) / (4.0 - 2.0))  # the outlier row moves neither statistic
    assert out[0, 1] == pytest.approx(1.0)  # a constant column: the raw deviation
    assert out[0, 2] == pytest.approx((4.0 - 2.0) / 1.6)  # IQR 0: its standard deviation (1.6) instead
    restored = Scaler.from_dict(scaler.to_dict())
    assert restored.kind == "robust"
    assert np.array_equal(restored.transform(train), scaler.transform(train))


def test_minmax_scaler_maps_training_range_to_unit_interval() -> None:
    x = np.array([[[0.0, 255.0]], [[51.0, 102.0]]])
    out = Scaler.fit(x, "minmax").transform(x)
    assert out.min() == 0.0
    assert out.max() == 1.0


def test_global_contrast_normalisation_per_image() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 3, 4, 4)) * rng.uniform(0.1, 3.0, size=(5, 1, 1, 1))  # different contrasts
    x[4] = 0.7  # a flat image
    out = global_contrast_normalise(x)
    assert np.allclose(out[:4].mean(axis=(1, 2, 3)), 0.0)
    assert np.allclose(np.abs(out[:4]).mean(axis=(1, 2, 3)), 1.0)
    assert np.allclose(out[4], 0.0, atol=1e-12)  # a flat image stays flat, not +-1 from rounding error


def test_gcn_minmax_scaler_uses_training_statistics_only() -> None:
    rng = np.random.default_rng(1)
    train, test = rng.uniform(size=(20, 1, 4, 4)), rng.uniform(size=(3, 1, 4, 4)) * 5.0
    scaler = Scaler.fit(train, "gcn-minmax")
    out = scaler.transform(train)
    assert out.min() == pytest.approx(0.0)
    assert out.max() == pytest.approx(1.0)
    # Contrast is removed per image, so scaling an image's pixels leaves its transform unchanged.
    assert np.allclose(scaler.transform(test[:1]), scaler.transform(test[:1] * 7.0), atol=1e-6)
    restored = Scaler.from_dict(scaler.to_dict())
    assert np.array_equal(restored.transform(test), scaler.transform(test))


def test_uint8_images_scale_to_unit_floats() -> None:
    x = np.array([[[[0, 128, 255]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    for kind in ("none", "minmax"):
        scaler = Scaler.fit(x, kind)
        out = scaler.transform(x)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.ravel(), [0.0, 128 / 255, 1.0], rtol=1e-6)


def test_squares_are_the_four_images_in_pixel_order():
    data = load_dataset("squares")
    flat = data.x_train.reshape(4, 4)  # upper-left, upper-right, lower-left, lower-right
    assert ["".join(str(int(v)) for v in row) for row in flat] == ["0011", "1010", "1100", "0101"]
    assert data.x_train.shape == (4, 1, 2, 2)
    assert data.x_train[0, 0, 1].tolist() == [1.0, 1.0]  # 0011: bottom row
    test = {"".join(str(int(v)) for v in row) for row in data.x_test.reshape(-1, 4)}
    assert len(test) == 16
    assert data.y_test.sum() == 12  # every binary 2x2 image once; twelve are anomalies
    assert load_dataset("squares", copies=3).x_train.shape[0] == 12


def test_lines_are_balanced_and_pass_through_the_centre():
    x = load_dataset("lines", n_train=200).x_train[:, 0]
    assert set(np.unique(x)) == {0.0, 1.0}
    # A line through the centre: each pixel and its point reflection lie on opposite sides.
    np.testing.assert_array_equal(x + x[:, ::-1, ::-1], np.ones_like(x))
    white = x.mean((1, 2))
    assert np.all(white == 0.5)  # follows from the reflection; 32x32 has no pixel on the centre


def test_mnist_binarize_thresholds_at_half(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    grey = load_dataset("mnist", tmp_path)
    bw = load_dataset("mnist", tmp_path, binarize=True)
    assert set(np.unique(bw.x_train)) <= {0.0, 1.0}
    np.testing.assert_array_equal(bw.x_train, (grey.x_train >= 0.5).astype(np.float32))
    with pytest.raises(ConfigError, match="binarize"):
        load_dataset("mnist", tmp_path, binarize="yes")


def test_lines_with_white_below_form_one_image_per_slope():
    x = load_dataset("lines", n_train=300, white="below").x_train[:, 0]
    np.testing.assert_array_equal(x + x[:, ::-1, ::-1], np.ones_like(x))  # still through the centre
    assert np.all(x[:, -1, :].mean(1) >= 0.5)  # the bottom row is mostly white
    assert np.all(x[:, 0, :].mean(1) <= 0.5)  # the top row mostly black
    with pytest.raises(ConfigError, match="random, below|below, random"):
        load_dataset("lines", white="left")
