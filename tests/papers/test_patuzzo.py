"""Patuzzo (2020): A1/A2 as in the paper, the convergence study, the squares experiment and the views inside
(the datasets, Heaviside and the batched networks are tested beside their modules)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecompare.cli import main
from aecompare.models import build_model
from aecompare.studies.convergence.batched import (
    CAUSES,
)
from aecompare.studies.convergence.run import read_study
from aecompare.train.losses import autoencoder_loss


@pytest.mark.parametrize("shape", [(1, 32, 32), (1, 2, 2)])
def test_a1_is_the_paper_mlp_with_keras_initialisation(shape):
    model = build_model("patuzzo-a1", shape)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    d = int(np.prod(shape))
    assert [(m.in_features, m.out_features) for m in linears] == [(d, 2), (2, 1), (1, 2), (2, d)]
    assert all(float(m.bias.detach().abs().max()) == 0 for m in linears)  # Keras: zero biases
    out = model(torch.rand(3, *shape))
    assert out.recon.shape == (3, *shape)
    assert float(out.recon.detach().min()) >= 0
    assert float(out.recon.detach().max()) <= 1
    wide = build_model("patuzzo-a1", shape, hidden=(5,), latent_dim=2)
    assert [m.out_features for m in wide.modules() if isinstance(m, torch.nn.Linear)] == [5, 2, 5, d]


def test_a1_loss_is_mse_per_pixel_and_a2_loss_is_the_keras_elbo():
    x = torch.rand(5, 1, 2, 2)
    a1 = build_model("patuzzo-a1", (1, 2, 2)).eval()
    out = a1(x)
    assert torch.allclose(autoencoder_loss(a1, x, out)["total"], (out.recon - x).pow(2).mean())
    a2 = build_model("patuzzo-a2", (1, 2, 2)).eval()
    out = a2(x)
    a, b = out.mu, out.logvar  # b: log-variance
    expected = (out.recon - x).pow(2).flatten(1).mean(1) * 4 - 0.5 * (1 + b - a**2 - b.exp()).sum(1)
    assert torch.allclose(autoencoder_loss(a2, x, out)["total"], expected.mean())


def test_convergence_study_runs_and_reports(tmp_path, capsys):
    argv = [
        "run",
        "patuzzo-convergence",
        "--output",
        str(tmp_path),
        "--seeds",
        "30",
        "-q",
        "--set",
        "train.epochs=60",
        "--set",
        "lines.seeds=2",
        "--set",
        "lines.epochs=1",
    ]
    assert main(argv) == 0
    folder = tmp_path / "patuzzo-convergence"
    study = read_study(folder)
    assert list(study) == ["A1_2-1-2", "A1_5-2-5", "A2_2-1-2", "lines-check"]
    summary, arrays = study["A1_2-1-2"]
    assert summary["seeds"] == 30
    assert len(arrays["outcome"]) == 30
    assert set(arrays["cause"]) <= set(CAUSES)
    # Runs whose initial weights kill every L1 unit, or every L3 unit through opposite signs, can only end
    # all gray.
    doomed = np.isin(arrays["cause"], CAUSES[:2])
    assert doomed.sum() >= 1  # seeds 0-29 include such runs, so the check below is not vacuous
    assert np.all(arrays["outcome"][doomed] == "1/4")
    report = (folder / "report.md").read_text()
    assert "## Outcomes" in report
    assert "L2 and L3 weights of opposite signs" in report
    assert "posterior spread" in report
    before = (folder / "A1_2-1-2" / "outcomes.npz").stat().st_mtime_ns
    assert main(argv) == 0  # finished variants are kept, not retrained
    assert (folder / "A1_2-1-2" / "outcomes.npz").stat().st_mtime_ns == before


def test_squares_experiment_reports_error_before_and_after_post_processing(tmp_path):
    argv = [
        "run",
        "patuzzo-squares",
        "--output",
        str(tmp_path),
        "--seeds",
        "1",
        "-q",
        "--workers",
        "1",
        "--set",
        "train.epochs=30",
        "--set",
        "evaluation.postprocess=heaviside",
    ]
    assert main(argv) == 0
    folder = tmp_path / "patuzzo-squares"
    metrics = (folder / "squares" / "A1" / "normal-line" / "seed-0" / "metrics.json").read_text()
    assert '"heaviside"' in metrics
    assert '"none"' in metrics
    assert "recon_heaviside" in np.load(folder / "squares" / "A1" / "normal-line" / "seed-0" / "examples.npz")
    report = (folder / "report.md").read_text()
    assert "before and after post-processing" in report
    assert "MSE after Heaviside" in report
    assert main(["run", "patuzzo-squares", "--output", str(tmp_path), "--set", "evaluation.postprocess=step"]) == 2


def test_inspect_command_writes_the_views(tmp_path, capsys):
    argv = [
        "run",
        "patuzzo-squares",
        "--output",
        str(tmp_path),
        "--seeds",
        "1",
        "-q",
        "--workers",
        "1",
        "--set",
        "train.epochs=20",
    ]
    assert main(argv) == 0
    run = tmp_path / "patuzzo-squares" / "squares" / "A2" / "normal-line" / "seed-0"
    codes = np.load(run / "latent.npz")
    assert codes["mu"].shape == (4, 1)
    assert codes["std"].shape == (4, 1)
    capsys.readouterr()
    assert main(["inspect", str(run), "--output", str(tmp_path / "views")]) == 0
    printed = capsys.readouterr().out
    for name in ("sweep.png", "weights.png", "codes.png"):
        assert (tmp_path / "views" / name).stat().st_size > 1000
        assert name in printed
    assert "Views inside" in (tmp_path / "patuzzo-squares" / "report.md").read_text()
    assert main(["inspect", str(tmp_path)]) == 2  # not a run folder: a clear error


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.epochs=0", "train.epochs must be an integer of at least 1"),
        ("variants.0.name=nope", "model registry"),
        ("dataset.name=nope", "unknown dataset 'nope'"),
        ("colour=red", "unknown key 'colour'"),
    ],
)
def test_convergence_study_rejects_bad_settings(tmp_path, capsys, setting, message):
    assert main(["run", "patuzzo-convergence", "--output", str(tmp_path), "--set", setting]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "patuzzo-convergence").exists()  # nothing trained or written
