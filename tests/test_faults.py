"""Every fault a clear error, nothing silent: the fault matrix of ``tests/fault_cases.py`` through the CLI, and
the faults that need the process itself changed (a full disk, an unwritable folder, a bug), divergence, bad
values given to the Detector, and determinism."""

from __future__ import annotations

import csv
import errno
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aecompare.core.io as core_io
from aecompare import Detector
from aecompare.data.sources import read_table
from aecompare.data.split import validation_split
from aecompare.errors import ConfigError, DataError
from aecompare.models import build_model
from aecompare.report.figures import write_roc_curves
from aecompare.train import TrainConfig, fit
from conftest import run_cli
from fault_cases import FAULTS, Fault, finished_table_run, snapshot
from formats import write_castings


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    """A finished-looking experiment beside the one a fault hits: it must come through untouched."""
    folder = tmp_path / "out" / "kept"
    folder.mkdir(parents=True)
    (folder / "results.csv").write_text("experiment,dataset\nkept,digits\n")
    return folder


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.kind != "untrusted"], ids=lambda f: f.name)
def test_each_fault_is_one_clear_line_that_names_it(fault: Fault, tmp_path: Path, kept: Path) -> None:
    argv, expected = fault.setup(tmp_path)
    before = snapshot(kept)
    code, out, err = run_cli(argv)
    assert code == 2, err
    assert expected in err
    assert err.startswith("aecompare: error: ")
    assert err.count("\n") == 1  # one line
    assert "Traceback" not in err
    assert out == ""  # in particular, a tampered model gives no scores
    assert snapshot(kept) == before
    if fault.kind not in ("model", "data", "column"):  # (these start from a finished run of their own)
        assert not list((tmp_path / "out").glob("fault/**/metrics.json"))  # nothing half-made counts as finished


def test_a_full_disk_is_a_clear_error_and_the_run_resumes_after(tmp_path: Path, monkeypatch) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "disk",
                "seeds": 1,
                "models": ["ae"],
                "train": {"epochs": 1},
                "datasets": [{"name": "digits", "normal": [0]}],
            }
        )
    )
    argv = ["run", str(spec), "--output", str(tmp_path / "out"), "--workers", "1", "-q"]

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(core_io.os, "fsync", full)
    code, _, err = run_cli(argv)
    assert code == 2
    assert "No space left on device" in err
    assert "the disk is full" in err
    assert "Traceback" not in err
    assert not list((tmp_path / "out").rglob("metrics.json"))
    monkeypatch.undo()
    assert run_cli(argv)[0] == 0  # freed space: the same command finishes the run
    assert len(list((tmp_path / "out").rglob("metrics.json"))) == 1


def test_report_on_an_unwritable_folder_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "ro",
                "seeds": 1,
                "models": ["ae"],
                "train": {"epochs": 1},
                "datasets": [{"name": "digits", "normal": [0]}],
            }
        )
    )
    assert run_cli(["run", str(spec), "--output", str(tmp_path / "out"), "--workers", "1", "-q"])[0] == 0

    def denied(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system", str(tmp_path / "out" / "ro"))

    monkeypatch.setattr(core_io.tempfile, "mkstemp", denied)
    code, _, err = run_cli(["report", str(tmp_path / "out" / "ro")])
    assert code == 2
    assert "Read-only file system" in err
    assert "pass another --output" in err


def test_a_bug_is_one_line_and_the_traceback_comes_with_debug(tmp_path: Path, monkeypatch, capsys) -> None:
    import aecompare.studies.registry as registry

    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(registry, "study_of_spec", broken)
    code, _, err = run_cli(["run", "quick", "--output", str(tmp_path)])
    assert code == 1
    assert err == (
        "aecompare: error: RuntimeError: something inside broke (a bug in aecompare; rerun with --debug "
        "for the traceback and report it)\n"
    )
    code, _, err = run_cli(["--debug", "run", "quick", "--output", str(tmp_path)])
    assert code == 1
    assert "Traceback (most recent call last)" in err


def test_a_diverged_run_is_flagged_named_and_left_out_of_the_means(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "t.npz",
        X=np.concatenate([rng.normal(size=(200, 6)), 3 + rng.normal(size=(20, 6))]),
        y=np.repeat([0, 1], [200, 20]),
    )
    spec = tmp_path / "s.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "lr10",
                "seeds": 1,
                "models": ["ae"],
                "train": {"lr": 10, "epochs": 5},
                "datasets": [{"name": "table", "normal": ["normal"], "params": {"path": str(tmp_path / "t.npz")}}],
            }
        )
    )
    code, out, err = run_cli(["run", str(spec), "--output", str(tmp_path / "out"), "--workers", "1"])
    assert code == 0
    # one line for the grid's failed runs, naming a few (the report says why: the loss grew from ... to ...)
    assert "warning: of 1 runs 1 diverged (left out): table / ae / normal / seed 0. See the report" in err
    with open(tmp_path / "out" / "lr10" / "results.csv") as f:
        pooled = [r for r in csv.DictReader(f) if r["group"] == "all"]
    assert [r["diverged"] for r in pooled] == ["True"]
    assert math.isnan(float(pooled[0]["auroc"]))  # a diverged run's AUROC is not a number, not 0.9
    report = (tmp_path / "out" / "lr10" / "report.md").read_text()
    assert "1 of 1 runs diverged and are left out of every table and mean below" in report
    assert "the training loss grew from" in report
    assert "1 diverged run(s) left out" in out
    run_dir = tmp_path / "out" / "lr10" / "table" / "ae" / "normal-normal" / "seed-0"
    code, out, err = run_cli(["score", str(run_dir), "--table", str(tmp_path / "t.npz")])
    assert code == 2  # its model is never used to score new data
    assert "diverged" in err
    assert out == ""


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"contamination": "0.1"}, "contamination must be a number in (0, 0.5], got '0.1' (a string"),
        ({"contamination": "auto"}, "contamination must be a number in (0, 0.5], got 'auto'"),
        ({"epochs": 2.5}, "epochs must be an integer of at least 1, got 2.5"),
        ({"random_state": -1}, "random_state must be None, a non-negative integer"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"device": "cuda"}, "no usable CUDA"),
        ({"lr": float("inf")}, "lr must be a positive, finite number, got inf"),
    ],
)
def test_bad_detector_values_are_clear_errors(params: dict, message: str, table_data) -> None:
    if params.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError) as caught:
        Detector(**{"model": "mlp-ae", "epochs": 1, **params}).fit(table_data[0])
    assert message in str(caught.value)


def test_a_random_state_object_is_accepted_and_reproducible(table_data) -> None:
    def scores(state: np.random.RandomState) -> np.ndarray:
        return Detector("mlp-ae", epochs=2, random_state=state).fit(table_data[0]).decision_scores_

    np.testing.assert_array_equal(scores(np.random.RandomState(3)), scores(np.random.RandomState(3)))


def test_a_csv_with_a_byte_order_mark_reads_its_first_column(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes("\ufefflabel,a,b\n0,1.0,2.0\n1,3.0,4.0\n".encode())
    x, y, names = read_table(tmp_path / "t.csv")
    assert names == ("a", "b")
    assert y.tolist() == [0, 1]


def test_values_that_float32_would_flatten_keep_their_spread(tmp_path: Path) -> None:
    steps = np.arange(50, dtype=np.int64) * 2**20
    x = np.stack([2**62 + steps, steps], axis=1)  # float32 spaces numbers near 2^62 by 2^39: all one value
    np.savez(tmp_path / "t.npz", X=x, y=np.zeros(50, dtype=int))
    features, _, _ = read_table(tmp_path / "t.npz")
    assert features.dtype == np.float64
    assert np.unique(features[:, 0]).size == 50
    det = Detector("mlp-ae", epochs=1, random_state=0).fit(x)
    assert np.isfinite(det.decision_scores_).all()
    train_idx, _ = validation_split(len(x), det.validation_fraction, 0)  # the scaler's rows
    assert det.scaler_.transform(x[train_idx])[:, 0].std() == pytest.approx(1.0, rel=1e-3)


def test_an_image_past_the_decompression_bomb_limit_is_named_or_skipped(tmp_path: Path, monkeypatch) -> None:
    root = write_castings(tmp_path / "data", n_train=4, n_ok=2, n_def=2) / "casting" / "casting_data"
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(root / "train" / "ok_front" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # 64 x 64 = 4096 > 2 x 1500: a bomb by Pillow's rule
    argv = [
        "images",
        "--images",
        str(root),
        "--output",
        str(tmp_path / "out"),
        "--workers",
        "1",
        "--set",
        "datasets.0.params.size=16",
        "--set",
        "train.epochs=1",
    ]
    code, _, err = run_cli([*argv, "-q"])
    assert code == 2
    assert "huge.png: cannot read this image (DecompressionBombError" in err
    code, _, err = run_cli([*argv, "--set", "datasets.0.params.on_error=skip"])
    assert code == 0, err
    assert "skipping unreadable image" in err
    assert "huge.png" in err


def test_class_names_are_drawn_literally_not_as_mathtext(tmp_path: Path) -> None:
    labels, scores = np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8])
    path = write_roc_curves({r"$\frac$": {r"model $x^": (labels, scores)}}, tmp_path / "roc.png")
    assert path.stat().st_size > 0  # '$\frac$' as mathtext would raise a ValueError


@pytest.mark.parametrize("damage", ["truncated state", "missing tensors", "truncated tensors"])
def test_a_damaged_training_checkpoint_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    x = torch.rand(40, 6, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=2, batch_size=16)
    torch.manual_seed(0)
    fit(
        build_model("mlp-ae", (6,), hidden=(4,), latent_dim=2), x, None, config, progress=False, checkpoint_dir=tmp_path
    )
    tensors = next(tmp_path.glob("epoch-*.checkpoint.safetensors"))
    if damage == "truncated state":
        (tmp_path / "checkpoint.json").write_text('{"fingerprint": ')
    elif damage == "missing tensors":
        tensors.unlink()
    else:
        tensors.write_bytes(tensors.read_bytes()[:50])
    torch.manual_seed(0)
    with pytest.raises(DataError, match="checkpoint|not valid JSON"):
        fit(
            build_model("mlp-ae", (6,), hidden=(4,), latent_dim=2),
            x,
            None,
            TrainConfig(epochs=3, batch_size=16),
            progress=False,
            checkpoint_dir=tmp_path,
        )


def test_two_runs_of_one_command_give_identical_results(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "twice",
                "seeds": 2,
                "models": ["ae", "vae", "aae"],
                "train": {"epochs": 2},
                "datasets": [{"name": "digits", "normal": [0, 1]}],
            }
        )
    )

    def results(out: str, workers: str) -> list[dict[str, str]]:
        assert run_cli(["run", str(spec), "--output", str(tmp_path / out), "--workers", workers, "-q"])[0] == 0
        with open(tmp_path / out / "twice" / "results.csv") as f:  # all but the wall time, bit for bit
            return [{k: v for k, v in r.items() if k != "train_seconds"} for r in csv.DictReader(f)]

    first = results("a", "1")
    assert first == results("b", "1")
    assert first == results("c", "2")  # one thread per run: the pool size changes nothing


def test_a_detector_from_a_tampered_run_never_scores(tmp_path: Path) -> None:
    run_dir = finished_table_run(tmp_path)
    meta = json.loads((run_dir / "detector.json").read_text())
    meta["scaler"]["scale"] = [-1.0] * 4
    (run_dir / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="positive, finite scales"):
        Detector.load(run_dir)
