"""Floors on AUROC for small end-to-end runs: these fail if a model, loss or score silently breaks."""

from __future__ import annotations

import pytest

from aecompare.studies.grid.results import collect_results
from aecompare.studies.grid.run import run_experiment
from aecompare.studies.grid.spec import parse_spec


@pytest.mark.slow
def test_small_runs_separate_anomalies(tmp_path) -> None:
    spec = parse_spec(
        {
            "name": "floors",
            "seeds": 1,
            "models": ["ae", "vae", "aae"],
            "train": {"epochs": 15, "batch_size": 32, "lr": 0.002},
            "datasets": [
                {"name": "digits", "normal": [0, 6]},
                {
                    "name": "lines",
                    "normal": ["line"],
                    "params": {"n_train": 300, "size": 16},
                    "model": {"backbone": "mlp", "hidden": [64], "latent_dim": 2},
                },
            ],
        },
        "floors.yaml",
    )
    folder = run_experiment(spec, tmp_path, progress=False, workers=1)
    pooled = {(r.dataset, r.model, r.normal): r.auroc for r in collect_results(folder) if r.group == "all"}
    assert len(pooled) == 9
    for key, auroc in pooled.items():
        assert auroc > 0.9, f"{key}: AUROC {auroc:.3f}"
