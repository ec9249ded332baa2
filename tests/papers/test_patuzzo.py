"""Patuzzo (2020): the lines and 2x2 sets, A1/A2, Heaviside post-processing and the batched convergence study."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecompare.cli import main
from aecompare.core.runtime import seed_everything
from aecompare.data import load_dataset
from aecompare.errors import ConfigError
from aecompare.inspection import bottleneck_sweep, decoder_linears, output_logit
from aecompare.models import build_model, model_config
from aecompare.scoring import heaviside, reconstruct
from aecompare.studies.convergence.batched import (
    CAUSES,
    BatchedMLP,
    build_seeds,
    classify_outcomes,
    diagnose_initial,
    killed_pair,
    opposite_signs,
    train_batched,
    wilson_interval,
)
from aecompare.studies.convergence.run import read_study
from aecompare.train.loop import TrainConfig, fit
from aecompare.train.losses import autoencoder_loss
from formats import write_mnist_folder

SQUARES = torch.from_numpy(load_dataset("squares").x_train)


def test_squares_are_the_four_images_in_pixel_order():
    data = load_dataset("squares")
    flat = data.x_train.reshape(4, 4)  # upper-left, upper-right, lower-left, lower-right
    assert ["".join(str(int(v)) for v in row) for row in flat] == ["0011", "1010", "1100", "0101"]
    assert data.x_train.shape == (4, 1, 2, 2)
    assert data.x_train[0, 0, 1].tolist() == [1.0, 1.0]  # 0011: bottom row
    test = {"".join(str(int(v)) for v in row) for row in data.x_test.reshape(-1, 4)}
    assert len(test) == 16
    assert data.y_test.sum() == 12  # every binary 2x2 image once; twelve are anomalies
    assert load_dataset("squares", copies=3).x_train.shape[0] == 12


def test_lines_are_balanced_and_pass_through_the_centre():
    x = load_dataset("lines", n_train=200).x_train[:, 0]
    assert set(np.unique(x)) == {0.0, 1.0}
    # A line through the centre: each pixel and its point reflection lie on opposite sides.
    np.testing.assert_array_equal(x + x[:, ::-1, ::-1], np.ones_like(x))
    white = x.mean((1, 2))
    assert np.all(white == 0.5)  # follows from the reflection; 32x32 has no pixel on the centre


def test_mnist_binarize_thresholds_at_half(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    grey = load_dataset("mnist", tmp_path)
    bw = load_dataset("mnist", tmp_path, binarize=True)
    assert set(np.unique(bw.x_train)) <= {0.0, 1.0}
    np.testing.assert_array_equal(bw.x_train, (grey.x_train >= 0.5).astype(np.float32))
    with pytest.raises(ConfigError, match="binarize"):
        load_dataset("mnist", tmp_path, binarize="yes")


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
    expected = (out.recon - x).pow(2).flatten(1).mean(1) * 4 - 0.5 * (1 + b - a ** 2 - b.exp()).sum(1)
    assert torch.allclose(autoencoder_loss(a2, x, out)["total"], expected.mean())


def test_heaviside_steps_known_logits():
    logits = torch.tensor([-5.0, -0.1, 0.0, 0.1, 3.0])
    assert heaviside(torch.sigmoid(logits)).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    model = build_model("patuzzo-a1", (1, 2, 2))
    post = reconstruct(model, SQUARES, postprocess="heaviside")
    np.testing.assert_array_equal(post.numpy(), (reconstruct(model, SQUARES) > 0.5).float().numpy())
    with pytest.raises(ConfigError, match="postprocess"):
        reconstruct(model, SQUARES, postprocess="step")
    with pytest.raises(ConfigError, match="sigmoid"):
        reconstruct(build_model("mlp-ae", (6,)), torch.rand(2, 6), postprocess="heaviside")


def test_batched_training_matches_training_each_seed_alone():
    seeds, epochs, lr = [0, 1, 2], 40, 0.01
    net = build_seeds("patuzzo-a1", (1, 2, 2), seeds)
    batched = train_batched(net, SQUARES, epochs=epochs, lr=lr)
    for i, seed in enumerate(seeds):
        seed_everything(seed)  # as the runner initialises a single run
        model = build_model("patuzzo-a1", (1, 2, 2))
        config = TrainConfig(epochs=epochs, batch_size=4, lr=lr, early_stopping_patience=0, lr_patience=0)
        history = fit(model, SQUARES, None, config, seed=seed, progress=False).history
        alone = np.array([row["train_loss"] for row in history])
        np.testing.assert_allclose(batched.history[:, i], alone, rtol=1e-4, atol=1e-6)
    assert not np.allclose(batched.history[:, 0], batched.history[:, 1])  # the seeds really differ


def test_outcome_classifier_levels():
    mse = np.array([0.001, 1 / 16 + 0.003, 1 / 12, 0.124, 0.2499, 0.17, 0.04])
    assert classify_outcomes(mse).tolist() == ["0", "1/16", "1/12", "1/8", "1/4", "other", "other"]


def _hand_built(w1: list[list[float]], w2: list[float], w3: list[float]) -> BatchedMLP:
    """One A1 (4-2-1-2-4) with the given L1 (4x2), L2 (2) and L3 (2) weights, zero biases, L4 of ones."""
    weights = [torch.tensor([w1]), torch.tensor([[[v] for v in w2]]), torch.tensor([[w3]]), torch.ones(1, 2, 4)]
    biases = [torch.zeros(1, 2), torch.zeros(1, 1), torch.zeros(1, 2), torch.zeros(1, 4)]
    return BatchedMLP(weights, biases, n_encoder=1, config=model_config("patuzzo-a1"))


def test_diagnosis_of_hand_built_initial_weights():
    healthy_l1 = [[1.0, -1.0], [-1.0, 1.0], [0.5, 0.2], [0.3, 0.6]]
    cases = {
        "every input kills L1": _hand_built([[-1.0, -1.0]] * 4, [1.0, 1.0], [1.0, 1.0]),
        "L2 and L3 weights of opposite signs": _hand_built(healthy_l1, [1.0, 0.5], [-1.0, -2.0]),
        # L1 rows are pixels: 0011 gives (-1, -0.5) and 1010 (-4, -4), both killed; 1100 and 0101 live.
        "two inputs share their L1 activations": _hand_built(
            [[-2.0, -2.0], [3.0, 1.0], [-2.0, -2.0], [1.0, 1.5]], [1.0, -1.0], [1.0, -1.0]),
        "none at initialisation": _hand_built(healthy_l1, [1.0, -1.0], [1.0, -1.0]),
    }
    for expected, net in cases.items():
        assert diagnose_initial(net, SQUARES).tolist() == [expected], expected
    pair = cases["two inputs share their L1 activations"]
    assert killed_pair(pair, SQUARES).tolist() == [True]
    assert killed_pair(cases["none at initialisation"], SQUARES).tolist() == [False]  # only 1100 is killed
    assert opposite_signs(cases["L2 and L3 weights of opposite signs"]).tolist() == [True]
    assert set(CAUSES) >= set(cases)


def test_wilson_interval():
    lo, hi = wilson_interval(125, 1000)
    assert lo < 0.125 < hi
    assert hi - lo < 0.05
    assert wilson_interval(0, 100)[0] == 0.0
    assert wilson_interval(0, 100)[1] > 0


def test_convergence_study_runs_and_reports(tmp_path, capsys):
    argv = ["run", "patuzzo-convergence", "--output", str(tmp_path), "--seeds", "30", "-q",
            "--set", "train.epochs=60", "--set", "lines.seeds=2", "--set", "lines.epochs=1"]
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
    argv = ["run", "patuzzo-squares", "--output", str(tmp_path), "--seeds", "1", "-q", "--workers", "1",
            "--set", "train.epochs=30", "--set", "evaluation.postprocess=heaviside"]
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


def test_lines_with_white_below_form_one_image_per_slope():
    x = load_dataset("lines", n_train=300, white="below").x_train[:, 0]
    np.testing.assert_array_equal(x + x[:, ::-1, ::-1], np.ones_like(x))  # still through the centre
    assert np.all(x[:, -1, :].mean(1) >= 0.5)  # the bottom row is mostly white
    assert np.all(x[:, 0, :].mean(1) <= 0.5)  # the top row mostly black
    with pytest.raises(ConfigError, match="random, below|below, random"):
        load_dataset("lines", white="left")


def test_sweep_finds_where_each_output_flips():
    model = build_model("patuzzo-a1", (1, 2, 2))
    with torch.no_grad():  # L3 = relu(z), relu(-z); output d's logit = a_d relu(z) + c_d relu(-z) + b_d
        l3, l4 = decoder_linears(model)
        l3.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        l3.bias.zero_()
        l4.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [2.0, 2.0]]))
        l4.bias.copy_(torch.tensor([-1.0, -2.0, 0.5, -1.0]))
    sweep = bottleneck_sweep(model, -4.0, 4.0, steps=801)
    # output 1 flips at z = 1, output 2 at z = -2, output 3 at z = 0.5, output 4 at z = -0.5 and 0.5
    expected = [[1.0], [-2.0], [0.5], [-0.5, 0.5]]
    for found, want in zip(sweep.flips, expected):
        np.testing.assert_allclose(found, want, atol=1e-2)
    np.testing.assert_allclose(output_logit(model, np.array([2.0]), 0), [1.0], atol=1e-6)
    with pytest.raises(ConfigError, match="unit"):
        bottleneck_sweep(model, -1.0, 1.0, unit=1)


def test_inspect_command_writes_the_views(tmp_path, capsys):
    argv = ["run", "patuzzo-squares", "--output", str(tmp_path), "--seeds", "1", "-q", "--workers", "1",
            "--set", "train.epochs=20"]
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


@pytest.mark.parametrize(("setting", "message"), [
    ("train.epochs=0", "train.epochs must be an integer of at least 1"),
    ("variants.0.name=nope", "model registry"),
    ("dataset.name=nope", "unknown dataset 'nope'"),
    ("colour=red", "unknown key 'colour'"),
])
def test_convergence_study_rejects_bad_settings(tmp_path, capsys, setting, message):
    assert main(["run", "patuzzo-convergence", "--output", str(tmp_path), "--set", setting]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "patuzzo-convergence").exists()  # nothing trained or written
