"""Fiorino: the fraud and tabular experiments end to end (the tables, the reconstruction probability and the
Gaussian decoder are tested beside their modules)."""

from __future__ import annotations

import csv
from pathlib import Path

from aecompare.studies.grid.spec import load_spec
from conftest import run_cli
from formats import ODDS, write_creditcard


def test_fiorino_fraud_without_the_file_fails_clearly(tmp_path: Path) -> None:
    code, _, err = run_cli(["run", "fiorino-fraud", "--data-dir", str(tmp_path), "-o", str(tmp_path / "runs"), "-q"])
    assert code == 2
    assert "creditcard.csv not found" in err
    assert "Traceback" not in err


def test_fiorino_fraud_runs_on_a_file_of_the_real_schema(tmp_path: Path) -> None:
    write_creditcard(tmp_path / "data" / "creditcard.csv")
    code, out, _ = run_cli(
        [
            "run",
            "fiorino-fraud",
            "--data-dir",
            str(tmp_path / "data"),
            "-o",
            str(tmp_path / "runs"),
            "--set",
            "train.epochs=3",
            "--set",
            "evaluation.n_samples=10",
            "--workers",
            "1",
            "-q",
        ]
    )
    assert code == 0
    folder = tmp_path / "runs" / "fiorino-fraud"
    with open(folder / "results.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["group"] == "all"]
    assert {r["model"] for r in rows} == {"AE", "VAE-error", "VAE-recprob"}
    for r in rows:
        assert int(r["tp"]) + int(r["fn"]) == 12
        assert int(r["tp"]) + int(r["fp"]) + int(r["tn"]) + int(r["fn"]) == 102
    # the frauds are off the normal subspace: every scoring finds them
    assert min(float(r["auroc"]) for r in rows) > 0.9
    report = (folder / "report.md").read_text()
    assert "99th percentile" in report
    assert "| TP | FP | TN | FN |" in report
    assert (folder / "figures" / "creditcard-scores.png").exists()


def test_tabular_spec_compares_three_scorings_on_six_tables() -> None:
    spec = load_spec("tabular")
    assert [(m.label, spec.scorer_of(m)) for m in spec.models][:3] == [
        ("AE", "mse"),
        ("VAE-error", "mse"),
        ("VAE-recprob", "reconstruction_probability"),
    ]
    assert {m.ensemble for m in spec.models[3:]} == {1, 5}  # issue 15's candidates: combinations, ensembles
    assert spec.evaluation.select == "synthetic"
    assert sorted(d.key for d in spec.datasets) == sorted(ODDS)
    assert spec.seeds == (0, 1, 2)
