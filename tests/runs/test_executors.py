"""Executors: a grid on a local Ray instance gives the local pool's results, and run folders come back whole."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from aecompare.errors import ConfigError
from aecompare.runs.executors import ExecutorOptions
from conftest import run_cli

SPEC = {
    "name": "ex",
    "seeds": 2,
    "models": ["ae", "vae"],
    "train": {"epochs": 2},
    "model": {"hidden": [16], "latent_dim": 2, "backbone": "mlp"},
    "datasets": [{"name": "digits", "normal": [0, 3]}],
}


def _results(folder: Path) -> list[dict[str, str]]:
    with open(folder / "ex" / "results.csv") as f:
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray instance with 2 CPUs, started by the test and shut down after."""
    ray = pytest.importorskip("ray", reason="Ray is not installed; pip install 'aecompare[ray]' to run this test")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_results_as_the_local_pool(tmp_path: Path, ray_instance) -> None:
    (tmp_path / "s.yaml").write_text(json.dumps(SPEC))
    base = ["run", str(tmp_path / "s.yaml"), "-q"]
    assert run_cli([*base, "--output", str(tmp_path / "local"), "--workers", "2"])[0] == 0
    code, _, err = run_cli([*base, "--output", str(tmp_path / "ray"), "--executor", "ray"])
    assert code == 0, err
    local, on_ray = _results(tmp_path / "local"), _results(tmp_path / "ray")
    assert len(local) == len(on_ray) > 0
    assert local == on_ray
    run_dir = tmp_path / "ray" / "ex" / "digits" / "vae" / "normal-3" / "seed-1"
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "ex" / "digits" / "vae" / "normal-3" / "seed-1").iterdir()
    )
    # resumed on Ray: nothing left to train, nothing redone
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    assert run_cli([*base, "--output", str(tmp_path / "ray"), "--executor", "ray"])[0] == 0
    assert (run_dir / "metrics.json").stat().st_mtime_ns == stamp


def test_bad_executor_settings_are_clear() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'slurm'; choose one of: local, ray"):
        ExecutorOptions(kind="slurm")
    with pytest.raises(ConfigError, match="--gpus-per-run"):
        ExecutorOptions(kind="ray", gpus_per_run=-1)
    with pytest.raises(ConfigError, match="--runs-per-gpu must be at least 1, got 0"):
        ExecutorOptions(runs_per_gpu=0)
