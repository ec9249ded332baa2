"""Shared fixtures: tiny data and tiny model settings so the suite stays fast on 2 CPU cores."""

from __future__ import annotations

import dataclasses
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from aecompare.cli import main
from aecompare.data import OneClassSplit, load_dataset, one_class_split

# strides and fc reset what a paper's registry entry sets, so every model shrinks to the same tiny size.
TINY_MODEL = {
    "channels": (8, 16),
    "strides": (),
    "pool": (),
    "fc": (),
    "hidden": (32,),
    "latent_dim": 4,
    "critic_hidden": (16,),
    "pretrained": False,
}
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # tiny models: threads only add overhead, and results stay reproducible


@pytest.fixture
def real_data_dir() -> Path:
    """The folder of real datasets (``$AECOMPARE_DATA`` or ../shared/datasets); skips when absent."""
    folder = Path(os.environ.get("AECOMPARE_DATA", SHARED_DATA))
    if not folder.is_dir():
        pytest.skip(f"real datasets not found at {folder}; set AECOMPARE_DATA to run this test")
    return folder


@pytest.fixture(scope="session")
def digits_split() -> OneClassSplit:
    """Digit 0 normal, the rest anomalous."""
    return one_class_split(load_dataset("digits"), ["0"], val_fraction=0.2, seed=0)


@pytest.fixture
def table_data() -> tuple[np.ndarray, np.ndarray]:
    """Normal rows near a 2-d plane in 6-d, and anomalous rows off it."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 6))
    normal = rng.normal(size=(300, 2)) @ basis + 0.05 * rng.normal(size=(300, 6))
    anomalous = rng.normal(size=(30, 6)) * 2.0
    return normal.astype(np.float32), anomalous.astype(np.float32)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``aecompare ARGV`` in this process: exit status, standard output, standard error."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def result_row(**changes: Any) -> Any:
    """A row of results.csv (a finished run's pooled metrics) with ``changes``: hand-made tables for the report."""
    from aecompare.studies.grid.results import RunSummary

    row = RunSummary(
        experiment="e", dataset="d", model="ae", normal="0", seed=0, group="all", auroc=0.9, auprc=0.9,
        precision=1.0, recall=1.0, f1=1.0, tp=1.0, fp=0.0, tn=1.0, fn=0.0, threshold=0.1, n_normal=10,
        n_anomalous=10, train_seconds=1.0, best_epoch=1, epochs_run=1.0, collapsed=False, diverged=False,
        synthetic_auroc=None,
    )  # fmt: skip
    return dataclasses.replace(row, **changes)
