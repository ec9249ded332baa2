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
from conftest import run_cli

MODEL = {"hidden": [16], "latent_dim": 2, "backbone": "mlp"}


def _run(tmp_path: Path, dataset: dict) -> Path:
    spec = {"name": "s", "seeds": 1, "models": ["ae"], "model": MODEL, "train": {"epochs": 2},
            "datasets": [dataset]}
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
    return _run(tmp_path, {"name": "table", "normal": ["normal"], "params": {"path": str(tmp_path / "t.csv")}}), \
        tmp_path / "t.csv", x


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
            (["score", str(run_dir), "--table", str(tmp_path / "bad.csv")],
             "has 3 feature columns but the run was trained on 6"),
            (["score", str(run_dir), "--images", str(tmp_path)], "was trained on tables of 6 features"),
            (["score", str(image_run), "--table", str(tmp_path / "bad.csv")],
             "was trained on images of shape (1, 8, 8)")):
        code, _, err = run_cli(argv)
        assert code == 2
        assert message in err
        assert "Traceback" not in err


def test_a_folder_that_is_not_a_run_says_what_to_pass(tmp_path: Path) -> None:
    code, _, err = run_cli(["score", str(tmp_path), "--table", "x.csv"])
    assert code == 2
    assert "no saved detector" in err
    assert "Detector.save" in err
