"""An experiment's results: one long-form row per finished run and anomaly group, written as results.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aecompare.core.io import atomic_write_text
from aecompare.runs import folder as run_folder

RESULT_COLUMNS = (
    "experiment",
    "dataset",
    "model",
    "normal",
    "seed",
    "group",
    "auroc",
    "auprc",
    "precision",
    "recall",
    "f1",
    "tp",
    "fp",
    "tn",
    "fn",
    "threshold",
    "n_normal",
    "n_anomalous",
    "train_seconds",
    "best_epoch",
    "epochs_run",
    "collapsed",
    "diverged",
    "synthetic_auroc",
    "settings_hash",
)


def collect_results(folder: Path) -> list[dict[str, Any]]:
    """The long-form result rows (one per run and group) of the experiment's finished runs."""
    rows = []
    for run_dir, config, metrics in run_folder.finished_runs(folder):
        settings = run_folder.read_settings(run_dir)
        for r in metrics["rows"]:
            rows.append(
                {
                    "experiment": config["experiment"],
                    "dataset": config["dataset"],
                    "model": config["model"],
                    "normal": "+".join(settings["dataset"]["normal"]),
                    "seed": settings["seed"],
                    "threshold": metrics["threshold"],
                    "train_seconds": metrics["train_seconds"],
                    "best_epoch": metrics["best_epoch"],
                    "epochs_run": metrics["epochs_run"],
                    "collapsed": metrics.get("collapsed"),
                    "diverged": bool(metrics.get("diverged")),
                    "synthetic_auroc": metrics.get("synthetic_auroc"),
                    "settings_hash": config.get("settings_hash", ""),
                    **r,
                }
            )
    return rows


def write_results(folder: Path) -> Path:
    """Write ``results.csv`` (long form, one row per run and anomaly group) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(collect_results(folder))
    path = folder / "results.csv"
    atomic_write_text(path, buffer.getvalue())
    return path
