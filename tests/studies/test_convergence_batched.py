"""The convergence study's batched networks compute the training loop's own loss, settings included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecompare.core.runtime import seed_everything
from aecompare.data import load_dataset
from aecompare.errors import ConfigError
from aecompare.models import build_model, model_config
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
from aecompare.train.loop import TrainConfig, fit
from aecompare.train.losses import per_sample_loss


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"beta": 4.0},
        {"beta": 0.25, "loss_reduction": "sum"},
        {"reconstruction": "bce"},
        {"reconstruction_weight": 3.0},
    ],
)
def test_batched_loss_equals_each_models_own_loss(overrides: dict) -> None:
    x = torch.from_numpy(load_dataset("squares").x_train)
    net = build_seeds("patuzzo-a2", tuple(x.shape[1:]), [0, 1], **overrides)
    batched_loss, _ = net.loss(x.reshape(len(x), -1), None)  # (S,), z = the posterior mean
    for i, seed in enumerate((0, 1)):
        seed_everything(seed)
        model = build_model("patuzzo-a2", tuple(x.shape[1:]), **overrides).eval()
        with torch.no_grad():
            own = per_sample_loss(model, x, model(x))["total"].mean()
        assert float(batched_loss[i]) == pytest.approx(float(own), rel=1e-5)


def test_beta_reaches_the_batched_network() -> None:
    x = torch.from_numpy(load_dataset("squares").x_train).reshape(4, -1)
    one = build_seeds("patuzzo-a2", (4,), [0])
    four = build_seeds("patuzzo-a2", (4,), [0], beta=4.0)
    assert float(four.loss(x, None)[0]) > float(one.loss(x, None)[0])  # the same weights, a heavier KL


def test_settings_it_cannot_honour_are_refused() -> None:
    with pytest.raises(ConfigError, match="Gaussian decoder"):
        build_seeds("patuzzo-a2", (4,), [0], decoder_output="gaussian")
    for regulariser in ({"dropout": 0.1}, {"batch_norm": True}, {"input_noise": 0.1}):
        with pytest.raises(ConfigError, match="no dropout, batch normalisation or input noise"):
            build_seeds("patuzzo-a1", (4,), [0], **regulariser)


SQUARES = torch.from_numpy(load_dataset("squares").x_train)


def _hand_built(w1: list[list[float]], w2: list[float], w3: list[float]) -> BatchedMLP:
    """One A1 (4-2-1-2-4) with the given L1 (4x2), L2 (2) and L3 (2) weights, zero biases, L4 of ones."""
    weights = [torch.tensor([w1]), torch.tensor([[[v] for v in w2]]), torch.tensor([[w3]]), torch.ones(1, 2, 4)]
    biases = [torch.zeros(1, 2), torch.zeros(1, 1), torch.zeros(1, 2), torch.zeros(1, 4)]
    return BatchedMLP(weights, biases, n_encoder=1, config=model_config("patuzzo-a1"))


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


def test_diagnosis_of_hand_built_initial_weights():
    healthy_l1 = [[1.0, -1.0], [-1.0, 1.0], [0.5, 0.2], [0.3, 0.6]]
    cases = {
        "every input kills L1": _hand_built([[-1.0, -1.0]] * 4, [1.0, 1.0], [1.0, 1.0]),
        "L2 and L3 weights of opposite signs": _hand_built(healthy_l1, [1.0, 0.5], [-1.0, -2.0]),
        # L1 rows are pixels: 0011 gives (-1, -0.5) and 1010 (-4, -4), both killed; 1100 and 0101 live.
        "two inputs share their L1 activations": _hand_built(
            [[-2.0, -2.0], [3.0, 1.0], [-2.0, -2.0], [1.0, 1.5]], [1.0, -1.0], [1.0, -1.0]
        ),
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
