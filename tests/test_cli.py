"""The CLI end to end through ``main(argv)``, at tiny sizes in a temporary folder."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aecompare import __version__
from aecompare.cli import main
from conftest import run_cli

TINY = [
    "--set",
    "train.epochs=2",
    "--set",
    "datasets.0.normal=[0, 1]",
    "--set",
    "datasets.1.params.n_train=64",
    "--set",
    "datasets.1.params.size=12",
    "--set",
    "model.channels=[8]",
    "--seeds",
    "2",
    "--workers",
    "1",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("cli")
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(["run", "--output", str(out), *TINY])
    assert code == 0
    return out / "quick", buffer.getvalue().splitlines()


def test_run_defaults_to_quick_and_prints_the_report_path_last(quick_run) -> None:
    folder, lines = quick_run
    assert Path(lines[-1]) == folder / "report.html"
    assert Path(lines[-1]).exists()
    assert (folder / "report.md").exists()


def test_results_csv_has_the_long_form_columns(quick_run) -> None:
    folder, _ = quick_run
    with open(folder / "results.csv") as f:
        rows = list(csv.DictReader(f))
    for column in ("experiment", "dataset", "model", "normal", "seed", "group", "auroc", "auprc", "train_seconds"):
        assert column in rows[0]
    expected = {(d, m) for d in ("digits", "lines") for m in ("ae", "vae", "aae")}
    assert {(r["dataset"], r["model"]) for r in rows} == expected
    assert {r["seed"] for r in rows} == {"0", "1"}
    assert {r["group"] for r in rows if r["dataset"] == "lines"} == {"defect", "offcentre", "all"}


def test_report_has_tables_figures_and_is_self_contained(quick_run) -> None:
    folder, _ = quick_run
    markdown = (folder / "report.md").read_text()
    assert "## Dataset: digits" in markdown
    assert "## Dataset: lines" in markdown
    # The digits AUROC table: a row per normal class and the mean row, mean ± std per model.
    assert re.search(r"\| 0 \| \**\d\.\d{3} ± \d\.\d{3}", markdown)
    assert "| **mean** |" in markdown
    assert "AUROC by anomaly group (normal: line)" in markdown
    html = (folder / "report.html").read_text()
    images = re.findall(r"<img [^>]*src='([^']*)'", html)
    # ROC, histograms, reconstructions, training curves, mean-rank diagrams x 2 datasets, and PR curves per anomaly
    # group for lines (one normal class, two groups); no anomaly maps at 12 pixels
    assert len(images) == 11
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_the_report_opens_with_the_verdict_and_keeps_the_models_notes_for_the_end(quick_run) -> None:
    folder, lines = quick_run
    markdown = (folder / "report.md").read_text()
    sections = re.findall(r"^#+ (.+)$", markdown, re.M)
    assert sections[:2] == ["aecompare report: quick", "Verdict"]  # results first
    verdict = markdown.split("### Verdict")[1].split("\n\n")[1]
    assert [row.split(" | ")[0] for row in verdict.splitlines()[2:]] == ["| digits", "| lines", "| all datasets"]
    assert re.search(r"\| \*\*(\w+ wins|\w+ leads \(.*\)|no significant difference)\*\* \|", verdict)
    # quick runs generic models: their notes are not called the paper's, and come after every dataset
    assert sections[-1] == "Notes on the models"
    assert "Choices where the paper is ambiguous" not in markdown
    assert sum(line.startswith("verdict: digits: ") for line in lines) == 1  # one line on the terminal


def test_report_command_rewrites_from_run_folders(quick_run, capsys) -> None:
    folder, _ = quick_run
    (folder / "report.html").unlink()
    assert main(["report", str(folder)]) == 0
    assert Path(capsys.readouterr().out.strip()) == folder / "report.html"
    assert (folder / "report.html").exists()


def test_rerun_resumes_without_training(quick_run, capsys) -> None:
    folder, _ = quick_run
    before = (folder / "digits" / "ae" / "normal-0" / "seed-0" / "metrics.json").stat().st_mtime_ns
    assert main(["run", "--output", str(folder.parent), *TINY]) == 0
    assert "18 runs, 18 already finished" in capsys.readouterr().err
    assert (folder / "digits" / "ae" / "normal-0" / "seed-0" / "metrics.json").stat().st_mtime_ns == before


def test_version_and_list(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"aecompare {__version__}"
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  quick +Classical \(AE\), variational", out, re.M)
    assert re.search(r"^\s+aae\s+adversarial autoencoder", out, re.M)
    assert re.search(r"^  mnist +MNIST from the four original IDX .gz files", out, re.M)
    assert re.search(r"^  schneider-mnist +Schneider et al\. \(2022\) on MNIST", out, re.M)  # "et al." ends nothing
    columns = {line.index(line.split()[1]) for line in out.splitlines() if line.startswith("  ")}
    assert len(columns) == 1  # every description starts in one column, however long the name


def test_a_bare_command_shows_usage_and_fails(capsys) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: aecompare")
    assert "name a command" in err


def test_images_resolves_a_relative_folder_under_the_data_directory(tmp_path: Path) -> None:
    code, _, err = run_cli(["images", "--images", "nowhere/bottle", "--data-dir", str(tmp_path), "-q"])
    assert code == 2
    assert str(tmp_path / "nowhere" / "bottle") in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "quik"], "unknown experiment 'quik'; choose one of: "),
        (["run", "--set", "train.epochs"], "--set expects key=value"),
        (["run", "--set", "train.epocs=3"], "unknown key 'epocs'"),
        (["run", "--set", "models=[ae, vea]"], "unknown model 'vea'"),
        (["run", "--seeds", "0"], "--seeds must be an integer of at least 1"),
        (["report", "/nonexistent/folder"], "is not a folder"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_data_file_says_where_it_looked(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "mnist.yaml"
    spec.write_text("name: m\nmodels: [ae]\ndatasets: [{name: mnist, normal: [1]}]\n")
    assert main(["run", str(spec), "--output", str(tmp_path), "--data-dir", str(tmp_path / "empty"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"not found in {tmp_path / 'empty' / 'mnist'}" in err


def test_report_of_an_empty_folder_explains_what_to_do(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "is not an experiment folder" in capsys.readouterr().err


def test_nan_training_is_reported_with_the_epoch(tmp_path: Path, capsys) -> None:
    argv = ["run", "--output", str(tmp_path), *TINY, "--set", "train.lr=1e12", "-q"]
    assert main(argv) == 2
    assert re.search(r"became nan at epoch 1 of 2; try a lower learning rate", capsys.readouterr().err)


def test_images_command_rejects_bad_counts(tmp_path: Path) -> None:
    code, _, err = run_cli(["images", "--images", str(tmp_path), "--workers", "0", "-q"])
    assert code == 2
    assert "--workers must be an integer of at least 1" in err


def test_tables_compares_the_families_on_a_users_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.normal(size=(120, 4)), 3 + rng.normal(size=(12, 4))])
    lines = [
        "a,b,c,d,is_fraud",
        *(",".join([*(f"{v:.4f}" for v in r), str(int(i >= 120))]) for i, r in enumerate(rows)),
    ]
    (tmp_path / "fraud.csv").write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(
        [
            "tables",
            "--table",
            "fraud.csv",
            "--data-dir",
            str(tmp_path),
            "--label",
            "is_fraud",
            "--output",
            str(tmp_path / "out"),
            "--seeds",
            "1",
            "--set",
            "train.epochs=2",
            "--workers",
            "1",
        ]
    )
    assert code == 0, err
    folder = tmp_path / "out" / "tables" / "fraud"  # one folder per input table
    assert Path(out.strip().splitlines()[-1]) == folder / "report.html"
    with open(folder / "results.csv") as f:
        pooled = [r for r in csv.DictReader(f) if r["group"] == "all"]
    assert [r["model"] for r in pooled] == ["AAE", "AE", "AE-error", "VAE"]
    spec = json.loads((folder / "experiment.json").read_text())
    assert spec["evaluation"]["scorer"] == "latent_knn"  # the tuned default; AE-error alone says mse
    assert [m.get("scorer") for m in spec["models"]] == [None, None, None, "mse"]
    assert {r["dataset"] for r in pooled} == {"fraud"}
    assert re.search(r"fraud +VAE  mean AUROC", out)
    assert re.search(r"^verdict: fraud: ", out, re.M)  # one summary line for the comparison


def test_tables_on_two_inputs_keep_a_report_each(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for name in ("first table", "second"):
        rows = np.concatenate([rng.normal(size=(60, 3)), 3 + rng.normal(size=(6, 3))])
        lines = ["a,b,c,label", *(f"{r[0]:.3f},{r[1]:.3f},{r[2]:.3f},{int(i >= 60)}" for i, r in enumerate(rows))]
        (tmp_path / f"{name}.csv").write_text("\n".join(lines) + "\n")
        code, _, err = run_cli(
            ["tables", "--table", str(tmp_path / f"{name}.csv"), "--output", str(tmp_path / "out"), "--seeds", "1"]
            + ["--set", "train.epochs=1", "--workers", "1", "-q"]
        )
        assert code == 0, err
    # a name with a space goes through the one safe-name function
    assert sorted(p.name for p in (tmp_path / "out" / "tables").iterdir()) == ["first_table", "second"]
    for folder in (tmp_path / "out" / "tables").iterdir():
        assert (folder / "report.html").exists()
        assert f"aecompare report: {folder.name}" in (folder / "report.md").read_text()


def test_select_recommends_a_model_without_labels_and_says_how_it_ranks(tmp_path: Path) -> None:
    code, out, _ = run_cli(["run", "--output", str(tmp_path), *TINY, "--select"])
    assert code == 0
    assert "recommended without labels for digits:" in out
    assert "rank on the real anomalies" in out
    code, _, err = run_cli(["run", "patuzzo-convergence", "--output", str(tmp_path), "--select"])
    assert code == 2
    assert "--select ranks the models of a comparison" in err


def test_import_and_version_need_no_torch() -> None:
    # `import aecompare` and `aecompare --version` are instant: torch loads on first use of what needs it
    code = (
        "import sys, aecompare, aecompare.cli\n"
        "try:\n    aecompare.cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'scipy' not in sys.modules, 'imported eagerly'\n"
        "assert aecompare.Detector.__name__ == 'Detector' and 'torch' in sys.modules  # lazily, on use\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"aecompare {__version__}"
