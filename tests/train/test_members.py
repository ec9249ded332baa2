"""Members trained as one program equal the same members trained one by one (stated tolerances), each with its
own initialisation, batch order, data, schedule, early stopping and best checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from aecompare.core.runtime import seed_everything
from aecompare.errors import TrainingError
from aecompare.models import build_model
from aecompare.train import TrainConfig, fit
from aecompare.train.members import StackedOptimizer, fit_members

SEEDS = [3, 4, 5]
SMALL_MLP = {"hidden": (32,), "latent_dim": 4}
SMALL_CONV = {"channels": (4, 8), "strides": (2, 2), "pool": (), "fc": (), "latent_dim": 4}


def digits(images: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits in [0, 1]: 600 training and 200 validation samples (tables or 1x8x8 images)."""
    x = torch.from_numpy(load_digits().data.astype(np.float32) / 16.0)
    if images:
        x = x.view(-1, 1, 8, 8)
    return x[:600], x[600:800]


def models(name: str, shape: tuple[int, ...], params: dict, seeds: list[int] = SEEDS) -> list:
    out = []
    for seed in seeds:
        seed_everything(seed)  # as fitting.train_together builds each member
        out.append(build_model(name, shape, **params))
    return out


def separately(name, shape, params, x, v, config, seeds=SEEDS):
    trained = []
    for model, seed in zip(models(name, shape, params, seeds), seeds):
        trained.append((model, fit(model, x, v, config, seed=seed, progress=False)))
    return trained


def max_weight_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(float((p - q).abs().max()) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@torch.no_grad()
def output_difference(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> float:
    """The largest difference of two models' reconstructions of ``x``. Weights can differ more: where a
    coordinate's gradient is ~0, Adam's step (m / sqrt(v)) turns float reordering into a full-size step."""
    a.eval(), b.eval()
    return float((a(x).recon - b(x).recon).abs().max())


@pytest.mark.parametrize("optimizer", ["adam", "nadam"])
def test_stacked_mlp_members_equal_separate_training(optimizer: str) -> None:
    x, v = digits()
    config = TrainConfig(epochs=6, batch_size=32, lr=3e-3, optimizer=optimizer, weight_decay=1e-4, lr_patience=1)
    alone = separately("ae", (64,), SMALL_MLP, x, v, config)
    together = models("ae", (64,), SMALL_MLP)
    results = fit_members(together, x, v, config, seeds=SEEDS, progress=False)
    for (model, result), stacked, stacked_result in zip(alone, together, results):
        assert output_difference(model, stacked, v) < 1e-4  # float reordering only: seen ~1e-6
        assert stacked_result.best_epoch == result.best_epoch
        assert stacked_result.best_val_loss == pytest.approx(result.best_val_loss, rel=1e-5)
        assert [r["lr"] for r in stacked_result.history] == [r["lr"] for r in result.history]
        assert stacked_result.initial_loss == pytest.approx(result.initial_loss, rel=1e-6)
    assert max_weight_difference(together[0], together[1]) > 1e-2  # each member its own initialisation


def test_stacked_conv_members_equal_separate_training() -> None:
    x, v = digits(images=True)
    config = TrainConfig(epochs=3, batch_size=64, lr=1e-3)
    alone = separately("conv-ae", (1, 8, 8), SMALL_CONV, x, v, config)
    together = models("conv-ae", (1, 8, 8), SMALL_CONV)
    results = fit_members(together, x, v, config, seeds=SEEDS, progress=False)
    for (model, result), stacked, stacked_result in zip(alone, together, results):
        assert stacked_result.best_val_loss == pytest.approx(result.best_val_loss, rel=1e-3)
        assert output_difference(model, stacked, v) < 1e-3


def test_each_member_stops_early_at_its_own_epoch_and_keeps_its_best_weights() -> None:
    x, v = digits()
    config = TrainConfig(epochs=40, batch_size=600, lr=0.1, early_stopping_patience=2, lr_patience=0)
    seeds = [0, 1, 2, 3]
    alone = separately("ae", (64,), SMALL_MLP, x, v, config, seeds)
    together = models("ae", (64,), SMALL_MLP, seeds)
    results = fit_members(together, x, v, config, seeds=seeds, progress=False)
    lengths = [len(r.history) for _, r in alone]  # 3 and 6 epochs; best epochs 1 and 4
    assert len(set(lengths)) > 1, "members must stop at different epochs"
    assert all(n < 40 for n in lengths), "members must stop early"
    assert all(r.best_epoch < len(r.history) for _, r in alone), "the best checkpoint must not be the last step"
    for (model, result), stacked, stacked_result in zip(alone, together, results):
        assert len(stacked_result.history) == len(result.history)
        assert stacked_result.stopped_early == result.stopped_early
        assert stacked_result.best_epoch == result.best_epoch
        assert output_difference(model, stacked, v) < 1e-3  # each member's best checkpoint, not the last step


def test_members_on_their_own_splits_equal_training_each_on_its_split() -> None:
    x, v = digits()
    parts = [x[:300], x[300:600]]
    config = TrainConfig(epochs=3, batch_size=32)
    together = models("ae", (64,), SMALL_MLP, [7, 8])
    fit_members(together, parts, [v[:100], v[100:]], config, seeds=[7, 8], progress=False)
    for model, seed, part, val in zip(together, [7, 8], parts, [v[:100], v[100:]]):
        ((alone, _),) = separately("ae", (64,), SMALL_MLP, part, val, config, [seed])
        assert output_difference(alone, model, val) < 1e-4


@pytest.mark.parametrize("name", ["vae", "aae"])
def test_stochastic_members_draw_what_they_would_alone(name: str) -> None:
    """Each member's VAE noise and AAE prior samples come from its own generator, seeded as a training alone
    seeds the global one, so stochastic models equal separate training up to float rounding too."""
    x, v = digits()
    config = TrainConfig(epochs=4, batch_size=32, lr=2e-3)
    alone = separately(name, (64,), SMALL_MLP, x, v, config)
    together = models(name, (64,), SMALL_MLP)
    results = fit_members(together, x, v, config, seeds=SEEDS, progress=False)
    for (model, result), stacked, stacked_result in zip(alone, together, results):
        assert output_difference(model, stacked, v) < 1e-4
        assert stacked_result.best_val_loss == pytest.approx(result.best_val_loss, rel=1e-5)
        assert set(stacked_result.history[0]) == set(result.history[0])  # the same terms (critic, adversarial, kl)


def test_a_member_trains_the_same_whichever_members_train_beside_it() -> None:
    """So a grid that resumes with fewer seeds left reproduces its numbers exactly (on the CPU)."""
    x, v = digits()
    config = TrainConfig(epochs=2, batch_size=32)
    a, b = models("vae", (64,), SMALL_MLP, [0, 1, 2]), models("vae", (64,), SMALL_MLP, [0, 7])
    fit_members(a, x, v, config, seeds=[0, 1, 2], progress=False)
    fit_members(b, x, v, config, seeds=[0, 7], progress=False)
    assert max_weight_difference(a[0], b[0]) == 0.0


def test_a_member_whose_loss_is_not_finite_stops_training_naming_it() -> None:
    x, v = digits()
    together = models("ae", (64,), SMALL_MLP, [0, 1])
    with pytest.raises(TrainingError, match=r"member 0 \(seed 0\).*epoch 1 of 3.*lower learning rate"):
        fit_members(together, x * 1e30, v, TrainConfig(epochs=3, lr=1e12), seeds=[0, 1], progress=False)


def test_stacked_optimizer_masks_the_update_of_a_stopped_member() -> None:
    params = [torch.ones(2, 3)]
    optimizer = StackedOptimizer(params, lr=0.1)
    optimizer.step([torch.ones(2, 3)], torch.tensor([True, False]))
    assert torch.all(params[0][0] < 1)
    assert torch.all(params[0][1] == 1)
    assert math.isclose(float(params[0][0, 0]), 0.9, rel_tol=1e-6)  # Adam's first step moves by lr
