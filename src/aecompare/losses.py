"""Losses with named terms. By default every term is summed over features (or latent dimensions) per sample
and averaged over the batch, so reconstruction and KL share one reduction and ``beta`` means what it says.
``loss_reduction: mean`` averages both over features and latent dimensions instead (Keras, Patuzzo's eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aecompare.models import Autoencoder, AutoencoderOutput


def reconstruction_error(recon: torch.Tensor, x: torch.Tensor, kind: str = "mse", reduction: str = "sum"
                         ) -> torch.Tensor:
    """Per-sample reconstruction loss summed (or averaged) over features: (B, ...) -> (B,)."""
    if kind == "bce":
        per_element = F.binary_cross_entropy(recon, x, reduction="none")
    else:
        per_element = (recon - x).pow(2)
    per_element = per_element.flatten(1)
    return per_element.mean(1) if reduction == "mean" else per_element.sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, (B, L) -> (B,) (Kingma & Welling, 2014, App. B),
    summed (or averaged) over latent dimensions."""
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return per_dim.mean(1) if reduction == "mean" else per_dim.sum(1)


def autoencoder_loss(model: Autoencoder, x: torch.Tensor, out: AutoencoderOutput) -> dict[str, torch.Tensor]:
    """The reconstruction objective, plus ``beta`` x KL for a Gaussian bottleneck.

    Returns:
        ``{"total", "reconstruction"}`` and ``"kl"`` for a VAE; scalars averaged over the batch.
    """
    cfg = model.config
    recon = reconstruction_error(out.recon, x, cfg.reconstruction, cfg.loss_reduction).mean()
    terms = {"reconstruction": recon}
    if out.logvar is not None:
        terms["kl"] = gaussian_kl(out.mu, out.logvar, cfg.loss_reduction).mean()
        terms["total"] = recon + model.config.beta * terms["kl"]
    else:
        terms["total"] = recon
    return terms


def critic_loss(critic: torch.nn.Module, z_fake: torch.Tensor, z_prior: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss: minimising it widens D(prior) - D(encoded), the Wasserstein estimate."""
    return critic(z_fake).mean() - critic(z_prior).mean()


def encoder_adversarial_loss(critic: torch.nn.Module, z_fake: torch.Tensor) -> torch.Tensor:
    """The encoder's regularisation loss: make encoded codes score like prior samples."""
    return -critic(z_fake).mean()
