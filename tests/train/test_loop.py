"""The training loop: reproducibility, early stopping, checkpoints, NaN handling."""

from __future__ import annotations

import pytest
import torch

from aecompare.core.runtime import seed_everything
from aecompare.errors import ConfigError, TrainingError
from aecompare.models import build_model
from aecompare.train.loop import TrainConfig, fit, validation_loss
from conftest import TINY_MODEL


def _train(split, name: str = "ae", seed: int = 0, **train) -> tuple[torch.nn.Module, object]:
    seed_everything(seed)
    model = build_model(name, split.input_shape, **TINY_MODEL)
    config = TrainConfig(**{"epochs": 3, "batch_size": 32, "device": "cpu", **train})
    result = fit(
        model, torch.from_numpy(split.x_train), torch.from_numpy(split.x_val), config, seed=seed, progress=False
    )
    return model, result


@pytest.mark.parametrize("name", ["ae", "vae", "aae"])
def test_same_seed_gives_the_same_numbers(digits_split, name: str) -> None:
    model_a, result_a = _train(digits_split, name, seed=3)
    model_b, result_b = _train(digits_split, name, seed=3)
    assert result_a.history == result_b.history
    for (ka, va), (kb, vb) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert ka == kb
        assert torch.equal(va, vb)


def test_different_seeds_give_different_models(digits_split) -> None:
    _, a = _train(digits_split, seed=0)
    _, b = _train(digits_split, seed=1)
    assert a.history[-1]["train_loss"] != b.history[-1]["train_loss"]


def test_training_lowers_the_validation_loss(digits_split) -> None:
    _, result = _train(digits_split, epochs=10, lr=5e-3)
    assert result.history[-1]["val_loss"] < 0.7 * result.history[0]["val_loss"]


def test_the_best_validation_checkpoint_is_restored(digits_split) -> None:
    model, result = _train(digits_split, epochs=6, lr=0.05, early_stopping_patience=0, lr_patience=0)
    best = min(h["val_loss"] for h in result.history)
    assert result.best_val_loss == best
    assert result.history[result.best_epoch - 1]["val_loss"] == best
    recomputed = validation_loss(model, torch.from_numpy(digits_split.x_val), 32)
    assert recomputed == pytest.approx(best, rel=1e-5)


def test_early_stopping_stops_after_patience_epochs_without_improvement(digits_split) -> None:
    # lr = 0 keeps the weights fixed, so the validation loss never improves after epoch 1.
    _, result = _train(digits_split, epochs=50, lr=1e-12, early_stopping_patience=3, lr_patience=0)
    assert result.stopped_early
    assert len(result.history) <= 1 + 3 + 1
    assert result.best_epoch <= 2


def test_bf16_on_the_cpu_trains_and_changes_only_the_last_digits(digits_split) -> None:
    fp32_model, fp32 = _train(digits_split, epochs=2)
    bf16_model, bf16 = _train(digits_split, epochs=2, precision="bf16")
    assert fp32.history[-1]["val_loss"] != bf16.history[-1]["val_loss"]  # autocast was on: the numbers moved
    assert bf16.history[-1]["val_loss"] == pytest.approx(fp32.history[-1]["val_loss"], rel=0.05)
    assert all(p.dtype == torch.float32 for p in bf16_model.parameters())  # weights stay fp32


def test_nan_loss_stops_training_with_the_epoch_and_a_hint(digits_split) -> None:
    with pytest.raises(TrainingError, match=r"became nan at epoch 1 of 5; try a lower learning rate"):
        _train(digits_split, epochs=5, lr=1e12)


def test_train_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="train.epochs must be 1 to 100,000, got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="train.lr must be a positive, finite number"):
        TrainConfig(lr=-1.0)


def test_partial_last_batch_is_kept(digits_split) -> None:
    # 7 rows and batch 4 -> steps of 4 and 3; every row is trained on (tiny sets keep all their data).
    x = torch.from_numpy(digits_split.x_train[:7])
    model = build_model("ae", digits_split.input_shape, **TINY_MODEL)
    before = [p.detach().clone() for p in model.parameters()]
    steps = []
    original = torch.optim.Adam.step

    def counting_step(self, *args, **kwargs):
        steps.append(1)
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = counting_step
    try:
        fit(model, x, None, TrainConfig(epochs=1, batch_size=4, device="cpu"), progress=False)
    finally:
        torch.optim.Adam.step = original
    assert len(steps) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_collapsed_model_is_flagged_with_a_hint(digits_split, caplog) -> None:
    # Zero weights into the code make every input decode to the same image: the "learned the mean" failure.
    model = build_model("ae", digits_split.input_shape, **TINY_MODEL)
    with torch.no_grad():
        model.bottleneck.proj.weight.zero_()
    config = TrainConfig(epochs=1, lr=1e-12, device="cpu")
    result = fit(
        model, torch.from_numpy(digits_split.x_train), torch.from_numpy(digits_split.x_val), config, progress=False
    )
    assert result.collapsed
    assert "learned the mean" in caplog.text
    assert "weight_init: kaiming" in caplog.text


def test_a_trained_model_is_not_flagged(digits_split) -> None:
    _, result = _train(digits_split, epochs=20, lr=5e-3)
    assert not result.collapsed
    assert result.output_spread > 0.05


@pytest.mark.parametrize("optimizer", [torch.optim.Adam, torch.optim.NAdam])
def test_one_flat_buffer_steps_like_per_parameter_updates(optimizer) -> None:
    from aecompare.train.losses import autoencoder_loss
    from aecompare.train.steps import FlatParameters, standard_step

    torch.manual_seed(0)
    flat_model = build_model("fiorino-vae", (7,))
    plain_model = build_model("fiorino-vae", (7,))
    plain_model.load_state_dict(flat_model.state_dict())
    initial = {k: v.clone() for k, v in flat_model.state_dict().items()}
    flat = FlatParameters(list(flat_model.parameters()))
    flat_opt, plain_opt = optimizer([flat.flat], lr=1e-2), optimizer(plain_model.parameters(), lr=1e-2)
    for step in range(5):
        x = torch.randn(16, 7, generator=torch.Generator().manual_seed(step))
        torch.manual_seed(step)  # the same reparameterisation noise for both
        standard_step(flat_model, x, flat_opt, flat)
        torch.manual_seed(step)
        plain_opt.zero_grad()
        autoencoder_loss(plain_model, x, plain_model(x))["total"].backward()
        plain_opt.step()
    for (name, a), b in zip(flat_model.state_dict().items(), plain_model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert all(not torch.equal(initial[k], v) for k, v in flat_model.state_dict().items())  # every tensor moved
