"""Losses: the decoder variance term, the Gaussian likelihood, clipping on extreme inputs."""

from __future__ import annotations

import pytest
import torch

from aecompare.errors import ConfigError
from aecompare.models import build_model
from aecompare.train.loop import TrainConfig, fit
from aecompare.train.losses import autoencoder_loss


def test_decoder_variance_is_learned_even_under_an_rmse_loss() -> None:
    # two copies of a 1-d signal the code can carry, and independent noise of std 1 that it cannot
    g = torch.Generator().manual_seed(0)
    signal = torch.randn(2048, 1, generator=g)
    x = torch.cat([signal, signal, torch.randn(2048, 1, generator=g)], dim=1)
    torch.manual_seed(0)
    model = build_model("fiorino-vae", (3,), latent_dim=1)
    fit(
        model,
        x,
        None,
        TrainConfig(epochs=40, batch_size=128, lr=3e-3, lr_patience=0, early_stopping_patience=0),
        progress=False,
    )
    variance = model(x).recon_logvar.exp().mean(0)
    assert 0.5 < variance[2] < 2.0  # the noise's variance, 1
    assert variance[2] > 4 * variance[:2].max()


def test_cvae_clipping_keeps_the_loss_finite_on_extreme_inputs() -> None:
    torch.manual_seed(0)
    model = build_model("klimkevicius-cvae", (3, 16, 16))
    with torch.no_grad():
        model.bottleneck.logvar.bias.fill_(1e4)  # exp(1e4) would be inf without the clip
    x = torch.rand(4, 3, 16, 16) * 1e3
    out = model(x)
    assert out.logvar.max() == 10.0
    loss = autoencoder_loss(model, x, out)["total"]
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_training_loss_is_the_models_loss_unless_warm_up_or_free_bits_are_asked_for() -> None:
    from aecompare.train.losses import autoencoder_loss, training_loss

    x = torch.rand(16, 6, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    plain = build_model("mlp-vae", (6,), hidden=(8,), latent_dim=3, beta=2.0, free_bits=0.0).eval()
    out = plain(x)
    assert training_loss(plain, x, out, epoch=1)["total"] == autoencoder_loss(plain, x, out)["total"]

    torch.manual_seed(0)
    warm = build_model("mlp-vae", (6,), hidden=(8,), latent_dim=3, beta=2.0, kl_warmup_epochs=4, free_bits=0.0).eval()
    terms = autoencoder_loss(warm, x, out)
    for epoch, share in ((1, 0.25), (2, 0.5), (4, 1.0), (9, 1.0)):  # beta rises linearly, then stays
        expected = terms["reconstruction"] + 2.0 * share * terms["kl"]
        torch.testing.assert_close(training_loss(warm, x, out, epoch)["total"], expected)

    torch.manual_seed(0)
    floored = build_model("mlp-vae", (6,), hidden=(8,), latent_dim=3, free_bits=5.0).eval()
    per_dim = 0.5 * (out.mu.pow(2) + out.logvar.exp() - 1.0 - out.logvar).mean(0)
    assert (per_dim < 5.0).all()  # every dimension is below the floor, so each counts 5 nats
    torch.testing.assert_close(
        training_loss(floored, x, out, 1)["total"],
        autoencoder_loss(floored, x, out)["reconstruction"] + torch.tensor(15.0),
    )


def test_generic_vaes_default_to_free_bits_and_the_papers_models_keep_their_settings() -> None:
    from aecompare.models import MODELS, model_config

    assert {model_config(n).free_bits for n in ("vae", "mlp-vae", "conv-vae")} == {0.5}
    assert any("free bits" in note for note in MODELS["vae"].notes)  # the choice is stated where reports show it
    for paper_vae in ("patuzzo-a2", "schneider-mnist-vae", "schneider-cifar10-vae", "fiorino-vae", "klimkevicius-cvae"):
        assert model_config(paper_vae).free_bits == 0.0


def test_warm_up_and_free_bits_change_training_and_bad_values_are_refused() -> None:
    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=3, batch_size=16, early_stopping_patience=0, lr_patience=0)
    histories = []
    for extra in ({}, {"kl_warmup_epochs": 3}):
        torch.manual_seed(0)
        histories.append(
            fit(
                build_model("mlp-vae", (6,), hidden=(8,), latent_dim=2, **extra), x, None, config, progress=False
            ).history
        )
    assert histories[1][0]["train_loss"] < histories[0][0]["train_loss"]  # a third of the KL in epoch 1
    with pytest.raises(ConfigError, match="kl_warmup_epochs and free_bits must be 0"):
        build_model("mlp-vae", (6,), free_bits=-1.0)
