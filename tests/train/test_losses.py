"""Losses: the decoder variance term, the Gaussian likelihood, clipping on extreme inputs."""

from __future__ import annotations

import torch

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
    fit(model, x, None, TrainConfig(epochs=40, batch_size=128, lr=3e-3, lr_patience=0, early_stopping_patience=0),
        progress=False)
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
