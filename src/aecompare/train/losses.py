"""Losses with named terms. By default every term is summed over features (or latent dimensions) per sample
and averaged over the batch, so reconstruction and KL share one reduction and ``beta`` means what it says.
``loss_reduction: mean`` averages both over features and latent dimensions instead (Keras, Patuzzo's eq. 1)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aecompare.models import Autoencoder, AutoencoderOutput, ModelConfig

LOG_2PI = math.log(2.0 * math.pi)


def reconstruction_error(
    recon: torch.Tensor,
    x: torch.Tensor,
    kind: str = "mse",
    reduction: str = "sum",
    recon_logvar: torch.Tensor | None = None,
    batch_dims: int = 1,
) -> torch.Tensor:
    """Per-sample reconstruction loss summed (or averaged) over features: (B, ...) -> (B,), or with
    ``batch_dims=2`` (S, B, ...) -> (S, B) for S models trained at once.

    ``rmse`` is the root of the mean squared error of each sample (already a mean, so ``reduction`` does not
    apply); ``gaussian_nll`` is -log N(x | recon, exp(recon_logvar)) and needs ``recon_logvar``.
    """
    if kind == "gaussian_nll":
        per_element = gaussian_nll(x, recon, recon_logvar)
    elif kind == "bce":
        per_element = F.binary_cross_entropy(recon, x, reduction="none")
    else:
        per_element = (recon - x).pow(2)
    per_element = per_element.flatten(batch_dims)
    if kind == "rmse":
        return (per_element.mean(-1) + 1e-12).sqrt()  # the epsilon keeps the gradient finite at a perfect fit
    return per_element.mean(-1) if reduction == "mean" else per_element.sum(-1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """-log N(x | mean, exp(logvar)) per element, any shape."""
    return 0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, (..., L) -> (...) (Kingma & Welling, 2014, App. B),
    summed (or averaged) over latent dimensions."""
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return per_dim.mean(-1) if reduction == "mean" else per_dim.sum(-1)


def per_sample_loss(
    model: Autoencoder, x: torch.Tensor, out: AutoencoderOutput, batch_dims: int = 1
) -> dict[str, torch.Tensor]:
    """The training objective's terms per sample, each (B,) (or (K, B) for K stacked models, ``batch_dims=2``):
    ``reconstruction`` (times its weight), ``kl`` (VAE, before ``beta``), ``decoder_variance`` and their weighted
    sum ``total`` (see :func:`objective_terms`)."""
    return objective_terms(model.config, x, out.recon, out.mu, out.logvar, out.recon_logvar, batch_dims)


def objective_terms(
    cfg: ModelConfig,
    x: torch.Tensor,
    recon: torch.Tensor,
    mu: torch.Tensor | None = None,
    logvar: torch.Tensor | None = None,
    recon_logvar: torch.Tensor | None = None,
    batch_dims: int = 1,
) -> dict[str, torch.Tensor]:
    """The objective of a model configured by ``cfg``, per sample: the one loss code of aecompare, used by the
    training loop, the scorers and the convergence study's batched networks (``batch_dims=2``: (S, B, ...)).

    ``decoder_variance``: a Gaussian decoder trained on a loss that ignores its variance (mse, rmse, bce) would
    never learn it, so its log-variance is fitted by maximum likelihood around the mean *held fixed*
    (detached): the mean follows the stated loss exactly, and the variance becomes the residual spread that the
    reconstruction probability needs.

    Args:
        cfg: the model's configuration (loss kind, reduction, weights, ``beta``).
        x: inputs (B, ...) or (S, B, ...).
        recon: the reconstruction, shaped like ``x``.
        mu, logvar: a VAE's posterior (..., L); None for other models.
        recon_logvar: a Gaussian decoder's log-variance, shaped like ``x``.
        batch_dims: leading dimensions that index samples (and models).

    Returns:
        ``{"reconstruction", "total"}`` and, where they apply, ``"decoder_variance"`` and ``"kl"``; each
        shaped like the batch dimensions.
    """
    error = reconstruction_error(recon, x, cfg.reconstruction, cfg.loss_reduction, recon_logvar, batch_dims)
    terms = {"reconstruction": error if cfg.reconstruction_weight == 1.0 else cfg.reconstruction_weight * error}
    total = terms["reconstruction"]
    if recon_logvar is not None and cfg.reconstruction != "gaussian_nll":
        terms["decoder_variance"] = reconstruction_error(
            recon.detach(), x, "gaussian_nll", cfg.loss_reduction, recon_logvar, batch_dims
        )
        total = total + terms["decoder_variance"]
    if logvar is not None:
        terms["kl"] = gaussian_kl(mu, logvar, cfg.loss_reduction)
        total = total + cfg.beta * terms["kl"]
    terms["total"] = total
    return terms


def autoencoder_loss(
    model: Autoencoder, x: torch.Tensor, out: AutoencoderOutput, batch_dims: int = 1
) -> dict[str, torch.Tensor]:
    """:func:`per_sample_loss` averaged over the batch: ``{"total", "reconstruction"}``, ``"kl"`` for a VAE,
    ``"decoder_variance"`` where it applies; scalars (or (K,), one per stacked model, with ``batch_dims=2``)."""
    return {k: v.mean(-1) for k, v in per_sample_loss(model, x, out, batch_dims).items()}


def training_loss(
    model: Autoencoder, x: torch.Tensor, out: AutoencoderOutput, epoch: int, batch_dims: int = 1
) -> dict[str, torch.Tensor]:
    """What the optimiser minimises at ``epoch`` (1-based): :func:`autoencoder_loss`, except that a VAE's KL
    weighs ``beta x min(1, epoch / kl_warmup_epochs)`` and, with ``free_bits``, each latent dimension's
    batch-mean KL counts at least ``free_bits`` nats. With both off (the default) it is autoencoder_loss.
    ``batch_dims=2``: K stacked models' inputs and outputs (K, B, ...), each term (K,)."""
    terms = autoencoder_loss(model, x, out, batch_dims)
    cfg = model.config
    if out.logvar is None or (cfg.kl_warmup_epochs == 0 and cfg.free_bits == 0):
        return terms
    weight = cfg.beta * min(1.0, epoch / cfg.kl_warmup_epochs) if cfg.kl_warmup_epochs else cfg.beta
    kl = terms["kl"]
    if cfg.free_bits > 0:
        per_dim = 0.5 * (out.mu.pow(2) + out.logvar.exp() - 1.0 - out.logvar).mean(-2)  # ([K,] L): batch-mean KL
        floored = per_dim.clamp(min=cfg.free_bits)
        kl = floored.mean(-1) if cfg.loss_reduction == "mean" else floored.sum(-1)
    terms["total"] = terms["total"] - cfg.beta * terms["kl"] + weight * kl
    return terms


def critic_loss(critic: torch.nn.Module, z_fake: torch.Tensor, z_prior: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss: minimising it widens D(prior) - D(encoded), the Wasserstein estimate."""
    return critic(z_fake).mean() - critic(z_prior).mean()


def encoder_adversarial_loss(critic: torch.nn.Module, z_fake: torch.Tensor) -> torch.Tensor:
    """The encoder's regularisation loss: make encoded codes score like prior samples."""
    return -critic(z_fake).mean()
