"""The convergence study's batched networks compute the training loop's own loss, settings included."""

from __future__ import annotations

import pytest
import torch

from aecompare.core.runtime import seed_everything
from aecompare.data import load_dataset
from aecompare.errors import ConfigError
from aecompare.models import build_model
from aecompare.studies.convergence.batched import build_seeds
from aecompare.train.losses import per_sample_loss


@pytest.mark.parametrize("overrides", [{}, {"beta": 4.0}, {"beta": 0.25, "loss_reduction": "sum"},
                                       {"reconstruction": "bce"}, {"reconstruction_weight": 3.0}])
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
