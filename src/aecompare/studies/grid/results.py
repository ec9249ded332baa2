"""An experiment's results: one long-form row per finished run and anomaly group, written as results.csv."""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aecompare.core.io import atomic_write_text
from aecompare.errors import DataError, unknown_name
from aecompare.runs import folder as run_folder


@dataclass(frozen=True)
class RunSummary:
    """One row of results.csv: a finished run's metrics for one anomaly group (``all``: every anomaly pooled).
    The report, the terminal summary and the label-free recommendation read these, not string keys."""

    experiment: str
    dataset: str
    model: str
    normal: str  # the normal classes joined by "+"
    seed: int
    group: str
    auroc: float
    auprc: float
    precision: float
    recall: float
    f1: float
    tp: float  # counts at the threshold (NaN for a diverged run)
    fp: float
    tn: float
    fn: float
    threshold: float
    n_normal: int
    n_anomalous: int
    train_seconds: float
    best_epoch: int | None  # None for a seed ensemble
    epochs_run: float
    collapsed: bool | None
    diverged: bool
    synthetic_auroc: float | None  # None without evaluation.select: synthetic
    settings_hash: str = ""

    def value(self, metric: str) -> float:
        """A metric by the name a user gives (``--metric auprc``), as a float."""
        if metric not in METRIC_COLUMNS:
            raise unknown_name("metric", metric, METRIC_COLUMNS)
        return float(getattr(self, metric))

    @classmethod
    def from_csv(cls, row: dict[str, str]) -> RunSummary:
        """A row of a results.csv file, its text turned back into the fields' types."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            text = row.get(f.name, "")
            if f.name in ("experiment", "dataset", "model", "normal", "group", "settings_hash"):
                values[f.name] = text
            elif f.name in ("collapsed", "diverged"):
                values[f.name] = None if text == "" and f.name == "collapsed" else text == "True"
            elif f.name in ("seed", "n_normal", "n_anomalous", "best_epoch"):
                values[f.name] = None if text in ("", "None") else int(float(text))
            else:
                values[f.name] = None if text in ("", "None") else float(text)
        return cls(**values)


RESULT_COLUMNS = tuple(f.name for f in dataclasses.fields(RunSummary))
METRIC_COLUMNS = ("auroc", "auprc", "precision", "recall", "f1")


def collect_results(folder: Path) -> list[RunSummary]:
    """The long-form result rows (one per run and group) of the experiment's finished runs."""
    rows = []
    for run_dir, config, metrics in run_folder.finished_runs(folder):
        settings = run_folder.read_settings(run_dir)
        for r in metrics["rows"]:
            rows.append(
                RunSummary(
                    **{
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
                        **{k: v for k, v in r.items() if k in RESULT_COLUMNS},  # a row of metrics_by_group
                    }
                )
            )
    return rows


def read_results(path: str | Path) -> list[RunSummary]:
    """The rows of a results.csv file written by :func:`write_results`.

    Raises:
        DataError: for a file whose header or values are not those of a results.csv (names the line).
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = sorted(set(RESULT_COLUMNS) - set(reader.fieldnames or ()))
        if missing:
            raise DataError(f"{path} is not a results.csv of aecompare: it lacks the columns {', '.join(missing)}")
        rows = []
        for row in reader:
            try:
                rows.append(RunSummary.from_csv(row))
            except ValueError as e:
                raise DataError(
                    f"{path}, line {reader.line_num}: {e}; write it again with `aecompare report`"
                ) from None
        return rows


def write_results(folder: Path) -> Path:
    """Write ``results.csv`` (long form, one row per run and anomaly group) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(dataclasses.asdict(r) for r in collect_results(folder))
    path = folder / "results.csv"
    atomic_write_text(path, buffer.getvalue())
    return path
