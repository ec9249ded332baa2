"""Tables: CSV (Kaggle's quoting), NPZ (ADBench) and MAT (ODDS) files, the tabular, table and creditcard sources."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from aecompare.data import load_dataset
from aecompare.data.sources import CREDITCARD_COLUMNS, read_table
from aecompare.errors import DataError, DataNotFoundError
from formats import ODDS, write_creditcard


def test_creditcard_csv_in_the_kaggle_quoting_loads_with_all_30_features(tmp_path: Path) -> None:
    write_creditcard(tmp_path / "creditcard.csv", n_normal=100, n_fraud=5)
    x, y, names = read_table(tmp_path / "creditcard.csv", "Class")
    assert x.shape == (105, 30)
    assert x.dtype == np.float32
    assert names == CREDITCARD_COLUMNS[:-1]
    assert y.sum() == 5
    data = load_dataset("creditcard", tmp_path, test_fraction=0.3, seed=1)
    assert data.x_train.shape == (70, 30)
    assert (data.y_train == 0).all()
    assert data.y_test.sum() == 5
    assert len(data.y_test) == 35
    # no row is in both partitions
    assert not set(map(bytes, data.x_train)) & set(map(bytes, data.x_test))


def test_creditcard_also_found_in_its_own_folder_and_schema_is_checked(tmp_path: Path) -> None:
    write_creditcard(tmp_path / "creditcard" / "creditcard.csv", n_normal=20, n_fraud=2)
    assert load_dataset("creditcard", tmp_path).x_train.shape[1] == 30
    (tmp_path / "creditcard" / "creditcard.csv").write_text("Time,V1,Class\n0,1,0\n")
    with pytest.raises(DataError, match="credit-card schema"):
        load_dataset("creditcard", tmp_path)


def test_missing_creditcard_says_where_it_looked_and_what_to_get(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("creditcard", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "creditcard.csv") in message
    assert "kaggle.com/mlg-ulb/creditcardfraud" in message
    assert "Time, V1..V28, Amount, Class" in message


def test_npz_mat_and_csv_tables_read_alike(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = (rng.random(40) < 0.2).astype(int)
    np.savez(tmp_path / "t.npz", X=x, y=y)
    savemat(tmp_path / "t.mat", {"X": x.astype(np.float64), "y": y[:, None].astype(np.float64)})  # ODDS: y is (N, 1)
    with open(tmp_path / "t.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "is_anomaly", "b", "c", "d", "e"])
        for row, label in zip(x, y):
            writer.writerow([row[0], label, *row[1:]])
    for name, label in (("t.npz", "label"), ("t.mat", "label"), ("t.csv", "is_anomaly")):
        got_x, got_y, _ = read_table(tmp_path / name, label)
        np.testing.assert_allclose(got_x, x, rtol=1e-6)
        np.testing.assert_array_equal(got_y, y)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,0\n", "no label column 'label'; the columns are: a, b"),
        ("a,label\n1,2\n", r"labels must be 0 \(normal\) or 1 \(anomaly\), found \[2.0\]"),
        ("a,label\nx,0\n", "every value must be a number"),
    ],
)
def test_bad_csv_tables_are_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        read_table(tmp_path / "bad.csv")


def test_npz_without_y_and_unknown_formats_are_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "t.npz", X=np.zeros((3, 2)))
    with pytest.raises(DataError, match="no array 'y'"):
        read_table(tmp_path / "t.npz")
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="unknown table format '.parquet'"):
        read_table(tmp_path / "t.parquet")


def test_tabular_finds_adbench_names_and_lists_the_tables_there(tmp_path: Path) -> None:
    (tmp_path / "tabular").mkdir()
    np.savez(tmp_path / "tabular" / "6_cardio.npz", X=np.arange(40.0).reshape(20, 2), y=[0] * 16 + [1] * 4)
    data = load_dataset("tabular", tmp_path, table="cardio", test_fraction=0.25)
    assert data.name == "cardio"
    assert len(data.x_train) == 12
    assert data.y_test.sum() == 4
    with pytest.raises(DataNotFoundError, match="no table 'cardo'.*tables there: cardio"):
        load_dataset("tabular", tmp_path, table="cardo")


@pytest.mark.parametrize("table", sorted(ODDS))
def test_real_odds_tables(real_data_dir: Path, table: str) -> None:
    rows, features, anomalies = ODDS[table]
    if not (real_data_dir / "tabular").is_dir():
        pytest.skip(f"no tabular/ folder in {real_data_dir}")
    data = load_dataset("tabular", real_data_dir, table=table)
    assert data.x_train.shape[1] == features
    assert len(data.x_train) + len(data.x_test) == rows
    assert data.y_test.sum() == anomalies


def test_table_source_reads_any_file(tmp_path: Path) -> None:
    (tmp_path / "mine.csv").write_text("f1,f2,bad\n" + "".join(f"{i},{i * 2},{int(i >= 18)}\n" for i in range(20)))
    data = load_dataset("table", tmp_path, path="mine.csv", label="bad")  # relative to the data directory
    assert data.x_train.shape[1] == 2
    assert data.y_test.sum() == 2
