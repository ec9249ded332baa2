"""``aecompare score``: new images and table rows scored by a finished run, one CSV row per input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aecompare import Detector
from aecompare.data import load_dataset
from aecompare.data.sources import read_idx
from aecompare.runs import folder as run_folder
from conftest import run_cli
from formats import write_mnist_folder, write_mvtec

MODEL = {"hidden": [16], "latent_dim": 2, "backbone": "mlp"}


def _run(tmp_path: Path, dataset: dict) -> Path:
    spec = {"name": "s", "seeds": 1, "models": ["ae"], "model": MODEL, "train": {"epochs": 2}, "datasets": [dataset]}
    (tmp_path / "s.yaml").write_text(json.dumps(spec))
    code, _, err = run_cli(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out"), "-q", "--workers", "1"])
    assert code == 0, err
    return next((tmp_path / "out" / "s").glob("*/ae/normal-*/seed-0"))


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_score_images_with_a_finished_run(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, {"name": "digits", "normal": [0]})
    digits = load_dataset("digits").x_test[:6]  # (6, 1, 8, 8) in [0, 1]
    pixels = np.rint(digits * 255).astype(np.uint8)
    folder = tmp_path / "new" / "nested"
    folder.mkdir(parents=True)
    for i, image in enumerate(pixels):
        Image.fromarray(image[0], mode="L").save(folder / f"digit-{i}.png")

    code, out, err = run_cli(["score", str(run_dir), "--images", str(tmp_path / "new"), "-o", str(tmp_path / "s.csv")])
    assert code == 0, err
    rows = _rows((tmp_path / "s.csv").read_text())
    assert [Path(r["input"]).name for r in rows] == [f"digit-{i}.png" for i in range(6)]
    detector = Detector.load(run_dir)
    expected = detector.decision_function(pixels)  # the files' bytes, through the run's own scaling
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, rtol=1e-6)
    assert [int(r["anomaly"]) for r in rows] == (expected > detector.threshold_).astype(int).tolist()


@pytest.fixture
def table_run(tmp_path: Path, table_data) -> tuple[Path, Path, np.ndarray]:
    """A finished run on a labelled CSV: (run folder, the CSV, its features)."""
    normal, anomalous = table_data
    x = np.concatenate([normal, anomalous])
    header = ",".join([*(f"f{i}" for i in range(6)), "label"])
    lines = [",".join([*map(repr, row.tolist()), str(int(i >= len(normal)))]) for i, row in enumerate(x)]
    (tmp_path / "t.csv").write_text("\n".join([header, *lines]) + "\n")
    return (
        _run(tmp_path, {"name": "table", "normal": ["normal"], "params": {"path": str(tmp_path / "t.csv")}}),
        tmp_path / "t.csv",
        x,
    )


def test_score_a_table_with_a_finished_run(tmp_path: Path, table_run) -> None:
    run_dir, labelled, x = table_run
    lines = labelled.read_text().splitlines()
    unlabelled = tmp_path / "new.csv"
    unlabelled.write_text("\n".join([lines[0].rsplit(",", 1)[0], *(line.rsplit(",", 1)[0] for line in lines[-5:])]))
    code, out, err = run_cli(["score", str(run_dir), "--table", str(unlabelled)])
    assert code == 0, err
    rows = _rows(out)
    assert [r["input"] for r in rows] == ["0", "1", "2", "3", "4"]
    expected = Detector.load(run_dir).decision_function(x[-5:])
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, rtol=1e-5)
    code, out, _ = run_cli(["score", str(run_dir), "--table", str(labelled)])  # the label column is left out
    assert code == 0
    assert len(_rows(out)) == len(x)


def test_inputs_of_the_wrong_kind_or_shape_are_refused(tmp_path: Path, table_run) -> None:
    run_dir = table_run[0]
    (tmp_path / "bad.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "img").mkdir()
    image_run = _run(tmp_path / "img", {"name": "digits", "normal": [0]})
    for argv, message in (
        (
            ["score", str(run_dir), "--table", str(tmp_path / "bad.csv")],
            "its columns do not match the run's: it lacks f0, f1, f2, f3, f4, f5; it has a, b, c",
        ),
        (["score", str(run_dir), "--images", str(tmp_path)], "was trained on tables of 6 features"),
        (["score", str(image_run), "--table", str(tmp_path / "bad.csv")], "was trained on images of shape (1, 8, 8)"),
    ):
        code, _, err = run_cli(argv)
        assert code == 2
        assert message in err
        assert "Traceback" not in err


def test_a_folder_that_is_not_a_run_says_what_to_pass(tmp_path: Path) -> None:
    code, _, err = run_cli(["score", str(tmp_path), "--table", "x.csv"])
    assert code == 2
    assert "no saved detector" in err
    assert "Detector.save" in err


def _pooled_auroc(run_dir: Path) -> float:
    return next(r["auroc"] for r in run_folder.read_metrics(run_dir)["rows"] if r["group"] == "all")


def test_columns_are_matched_by_name_and_a_mismatch_names_the_columns(tmp_path: Path, table_run) -> None:
    run_dir, labelled, x = table_run
    header, *lines = labelled.read_text().splitlines()
    names = header.split(",")
    order = [6, 3, 0, 5, 1, 4, 2]  # label first, the features shuffled
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join(",".join(row.split(",")[i] for i in order) for row in [header, *lines]) + "\n")
    code, out, err = run_cli(["score", str(run_dir), "--table", str(shuffled)])
    assert code == 0, err
    expected = Detector.load(run_dir).decision_function(x)
    np.testing.assert_allclose([float(r["score"]) for r in _rows(out)], expected, rtol=1e-5)

    swapped = tmp_path / "swapped.csv"  # f5 missing, g added: the same count of columns
    swapped.write_text("\n".join([",".join([*names[:5], "g", "label"]), *lines]) + "\n")
    code, out, err = run_cli(["score", str(run_dir), "--table", str(swapped), "-o", str(tmp_path / "s.csv")])
    assert code == 2
    assert "swapped.csv: its columns do not match the run's: it lacks f5; it has g, which the run" in err
    assert err.count("\n") == 1
    assert out == ""
    assert not (tmp_path / "s.csv").exists()


def test_a_table_run_scores_its_own_csv_rows_as_the_run_did(table_run) -> None:
    run_dir = table_run[0]
    stored = run_folder.read_scores(run_dir)
    code, out, err = run_cli(["score", str(run_dir), "--table", str(table_run[1])])
    assert code == 0, err
    scores = np.array([float(r["score"]) for r in _rows(out)])
    # the run's test rows are the file's rows it did not train on: each stored score is one of the file's
    nearest = np.abs(stored["test_scores"][:, None] - scores[None, :]).min(axis=1)
    assert (nearest <= 1e-5 * np.abs(stored["test_scores"])).all()


def test_a_digits_run_scores_raw_digits_as_the_run_did_and_warns_about_scaled_ones(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from aecompare.errors import DataWarning

    bunch = load_digits()  # raw intensities 0-16, split as the digits source splits them
    _, x_test, _, y_test = train_test_split(
        bunch.images, bunch.target, test_size=0.3, stratify=bunch.target, random_state=0
    )
    run_dir = _run(tmp_path, {"name": "digits", "normal": [0]})
    detector = Detector.load(run_dir)
    scores = detector.decision_function(x_test)
    assert roc_auc_score(y_test != 0, scores) == pytest.approx(_pooled_auroc(run_dir), abs=1e-9)
    with pytest.warns(DataWarning, match="were they scaled already"):
        detector.decision_function(x_test / 16)


def test_an_mnist_run_scores_raw_idx_bytes_as_the_run_did(tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    data = tmp_path / "data"
    write_mnist_folder(data / "mnist", n_train=60, n_test=40)
    spec = {
        "name": "m",
        "seeds": 1,
        "models": ["ae"],
        "model": MODEL,
        "train": {"epochs": 2},
        "datasets": [{"name": "mnist", "normal": [3], "params": {"binarize": True}}],
    }
    (tmp_path / "m.yaml").write_text(json.dumps(spec))
    code, _, err = run_cli(
        ["run", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"), "-q", "--workers", "1", "--data-dir", str(data)]
    )
    assert code == 0, err
    run_dir = tmp_path / "out" / "m" / "mnist" / "ae" / "normal-3" / "seed-0"
    raw = read_idx(data / "mnist" / "t10k-images-idx3-ubyte.gz")  # (40, 28, 28) uint8, as the file holds them
    labels = read_idx(data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    scores = Detector.load(run_dir).decision_function(raw)  # divided by 255 and binarised by the detector
    np.testing.assert_allclose(scores, run_folder.read_scores(run_dir)["test_scores"], rtol=1e-6)
    assert roc_auc_score(labels != 3, scores) == pytest.approx(_pooled_auroc(run_dir), abs=1e-9)


def test_an_image_folder_run_scores_its_test_files_as_the_run_did(tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    root = write_mvtec(tmp_path / "bottle")
    run_dir = _run(tmp_path, {"name": "image-folder", "normal": "train", "params": {"path": str(root), "size": 16}})
    code, out, err = run_cli(["score", str(run_dir), "--images", str(root / "test")])
    assert code == 0, err
    rows = _rows(out)
    labels = ["/crack/" in r["input"] for r in rows]
    scores = [float(r["score"]) for r in rows]
    assert roc_auc_score(labels, scores) == pytest.approx(_pooled_auroc(run_dir), abs=1e-9)
