"""The run as one object: settings-aware resume, --force, safe names, one writer, every run folder a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import aecompare.studies.grid.train as grid_train
from aecompare import Detector
from aecompare.core.io import OutputLock
from aecompare.data import Dataset, load_dataset, one_class_split
from aecompare.errors import ConfigError, DataError
from aecompare.runs import folder as run_folder
from aecompare.runs.folder import read_scores, settings_diff, settings_hash
from aecompare.studies.grid.plan import expand_runs
from aecompare.studies.grid.run import run_experiment
from aecompare.studies.grid.spec import parse_spec
from conftest import run_cli

SPEC = {
    "name": "small",
    "seeds": 1,
    "models": [{"name": "ae", "label": "ae"}, {"name": "vae", "label": "vae"}],
    "model": {"hidden": [16], "latent_dim": 2},
    "train": {"epochs": 2, "batch_size": 64},
    "datasets": [{"name": "digits", "normal": [0], "model": {"backbone": "mlp"}}],
}


def _write(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """``small`` run once: the experiment folder."""
    root = tmp_path_factory.mktemp("small")
    code, _, err = run_cli(["run", str(_write(root, SPEC)), "-o", str(root / "out"), "-q", "--workers", "1"])
    assert code == 0, err
    return root / "out" / "small"


def test_settings_diff_and_hash_name_what_changed() -> None:
    old = {"train": {"epochs": 2, "lr": 0.001}, "seed": 0}
    new = {"train": {"epochs": 5, "lr": 0.001}, "seed": 0}
    assert settings_diff(old, new) == ["train.epochs: 2 → 5"]
    assert settings_diff(old, old) == []
    assert settings_hash(old) == settings_hash(json.loads(json.dumps(old))) != settings_hash(new)


def record_trained(monkeypatch) -> list:
    """The runs the grid trains from now on, in order (train_group still trains them)."""
    trained: list = []
    original = grid_train.train_group
    monkeypatch.setattr(
        grid_train,
        "train_group",
        lambda spec, groups, *a: trained.extend(r for g in groups for r in g) or original(spec, groups, *a),
    )
    return trained


def test_changed_settings_are_refused_naming_the_difference(tmp_path: Path, monkeypatch) -> None:
    spec_path = _write(tmp_path, SPEC)
    out = tmp_path / "out"
    assert run_cli(["run", str(spec_path), "-o", str(out), "-q", "--workers", "1"])[0] == 0
    stamps = {p: p.stat().st_mtime_ns for p in (out / "small").glob("*/*/*/*/metrics.json")}
    trained = record_trained(monkeypatch)

    code, _, err = run_cli(
        [
            "run",
            str(spec_path),
            "-o",
            str(out),
            "-q",
            "--workers",
            "1",
            "--set",
            "train.epochs=3",
            "--set",
            "model.latent_dim=3",
        ]
    )
    assert code == 2
    assert "2 of 2 finished runs were made with other settings" in err
    assert "model.latent_dim: 2 → 3; train.epochs: 2 → 3" in err
    assert "--force" in err
    assert "--output" in err
    assert trained == []  # refused before any training
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # one model's setting changes: --force retrains that model's run only, the other is kept as it was
    spec_path = _write(
        tmp_path, {**SPEC, "models": [{"name": "ae", "label": "ae"}, {"name": "vae", "label": "vae", "beta": 2.0}]}
    )
    code, _, err = run_cli(["run", str(spec_path), "-o", str(out), "-q", "--workers", "1", "--force"])
    assert code == 0, err
    assert [r.model.label for r in trained] == ["vae"]
    ae_metrics = out / "small" / "digits" / "ae" / "normal-0" / "seed-0" / "metrics.json"
    assert ae_metrics.stat().st_mtime_ns == stamps[ae_metrics]
    vae_config = json.loads((out / "small" / "digits" / "vae" / "normal-0" / "seed-0" / "config.json").read_text())
    assert vae_config["settings"]["model"]["beta"] == 2.0

    # the same settings again: nothing to train
    trained.clear()
    assert run_cli(["run", str(spec_path), "-o", str(out), "-q", "--workers", "1"])[0] == 0
    assert trained == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": [{"name": "ae", "label": "../../../../victim"}]}, "contains a path separator"),
        ({"models": [{"name": "ae", "label": ".."}]}, "contains '..'"),
        ({"models": [{"name": "ae", "label": "a/b"}]}, "contains a path separator"),
        ({"datasets": [{"name": "digits", "label": "/abs/path", "normal": [0]}]}, "contains a path separator"),
        ({"models": [{"name": "ae", "label": "a b"}, {"name": "vae", "label": "a_b"}]}, "both become the folder"),
    ],
)
def test_label_escapes_write_and_delete_nothing(tmp_path: Path, change: dict, message: str) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    out = tmp_path / "deep" / "er" / "out"
    spec_path = _write(tmp_path, {**SPEC, **change}, "evil.yaml")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    code, _, err = run_cli(["run", str(spec_path), "-o", str(out), "-q"])
    assert code == 2
    assert message in err
    assert (victim / "precious.txt").read_text() == "keep me"
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not Path("/abs/path").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="device auto means cuda here, which does change the numbers")
def test_settings_that_cannot_change_a_number_do_not_retrain(tmp_path: Path, monkeypatch) -> None:
    spec_path, out = _write(tmp_path, SPEC), tmp_path / "out"
    assert run_cli(["run", str(spec_path), "-o", str(out), "-q", "--workers", "1"])[0] == 0
    trained = record_trained(monkeypatch)
    # a default written out, device cpu for auto, and a GPU switch that no CPU run reads
    extra = ["datasets.0.params.test_fraction=0.3", "train.device=cpu", "train.channels_last=true"]
    argv = ["run", str(spec_path), "-o", str(out), "-q", "--workers", "1"]
    code, _, err = run_cli([*argv, *(f"--set={s}" for s in extra)])
    assert code == 0, err
    assert trained == []
    config = json.loads((out / "small" / "digits" / "ae" / "normal-0" / "seed-0" / "config.json").read_text())
    assert config["settings"]["train"]["device"] == "cpu"
    assert "channels_last" not in config["settings"]["train"]
    assert config["settings"]["dataset"]["params"] == {"test_fraction": 0.3, "seed": 0}
    assert len(config["settings"]["dataset"]["data"]["content"]) == 16


def test_normal_classes_that_share_a_folder_are_refused_before_training() -> None:
    rng = np.random.default_rng(0)
    data = Dataset(
        "odd",
        rng.random((20, 3), dtype=np.float32),
        np.repeat([0, 1], 10),
        rng.random((10, 3), dtype=np.float32),
        np.repeat([0, 1], 5),
        ("a b", "a_b"),
    )
    spec = parse_spec({**SPEC, "datasets": [{"name": "digits", "label": "odd"}]}, "odd.yaml")
    with pytest.raises(ConfigError, match="'a b'.*'a_b'.*both become the folder"):
        list(expand_runs(spec, {"odd": data}))


def test_a_busy_output_folder_is_refused(tmp_path: Path) -> None:
    with OutputLock(tmp_path / "out" / "small"):
        code, _, err = run_cli(["run", str(_write(tmp_path, SPEC)), "-o", str(tmp_path / "out"), "-q"])
    assert code == 2
    assert "being written by another aecompare process (lock " in err


def test_partial_folders_of_a_killed_process_are_cleaned(tmp_path: Path) -> None:
    spec = parse_spec(SPEC, "small.yaml")
    stale = tmp_path / "small" / "digits" / "ae" / "normal-0" / ".seed-0.partial-12345"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{")
    run_experiment(spec, tmp_path, progress=False, workers=1)
    assert not stale.exists()
    assert (tmp_path / "small" / "digits" / "ae" / "normal-0" / "seed-0" / "metrics.json").exists()


def test_results_list_only_the_runs_asked_for(tmp_path: Path) -> None:
    run_experiment(parse_spec({**SPEC, "seeds": 2}, "small.yaml"), tmp_path, progress=False, workers=1)
    folder = run_experiment(parse_spec(SPEC, "small.yaml"), tmp_path, progress=False, workers=1)
    seeds = {row.split(",")[4] for row in (folder / "results.csv").read_text().splitlines()[1:]}
    assert seeds == {"0"}  # seed 1's runs stay on disk but are not this experiment's results
    assert (folder / "digits" / "ae" / "normal-0" / "seed-1" / "metrics.json").exists()


def test_every_run_folder_loads_as_a_detector_that_scores_as_the_run_did(small_run: Path) -> None:
    split = one_class_split(load_dataset("digits"), ["0"], val_fraction=0.2, seed=0)
    for model in ("ae", "vae"):
        run_dir = small_run / "digits" / model / "normal-0" / "seed-0"
        detector = Detector.load(run_dir)
        stored = read_scores(run_dir)
        raw = split.x_test * 16  # the 0-16 intensities load_digits gives: the run divides by 16 itself
        np.testing.assert_allclose(detector.decision_function(raw), stored["test_scores"], rtol=1e-5)
        assert detector.threshold_ == pytest.approx(float(stored["threshold"]))
        assert detector.predict(raw).sum() == int((stored["test_scores"] > stored["threshold"]).sum())
        assert detector.model == model
        assert detector.random_state == 0


def test_report_and_results_are_readable_by_others(small_run: Path) -> None:
    for name in ("report.html", "report.md", "results.csv", "experiment.json"):
        assert (small_run / name).stat().st_mode & 0o044 == 0o044, name  # group and others may read


@pytest.mark.parametrize(
    "name",
    [
        "../metrics.json",
        "member-0/../../x",
        "other/model.json",
        "member-x/model.json",
        "member-0/.hidden",
        "member-0/deep/model.json",
        "/abs",
    ],
)
def test_files_sent_back_by_a_worker_stay_inside_their_run_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match="malformed run folder"):
        run_folder.write_files(tmp_path, Path("run"), {"metrics.json": b"{}", name: b"x"})
    assert not any(tmp_path.rglob("*x"))


def test_an_ensembles_member_files_arrive_in_their_member_folders(tmp_path: Path) -> None:
    run_dir = run_folder.write_files(tmp_path, Path("run"), {"metrics.json": b"{}", "member-1/metrics.json": b"[]"})
    assert (run_dir / "member-1" / "metrics.json").read_bytes() == b"[]"
    assert run_folder.is_finished(run_dir)
