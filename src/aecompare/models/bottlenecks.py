"""Bottlenecks: the one part that makes an autoencoder classical, variational or adversarial."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aecompare.models.backbones import _mlp


@dataclass
class BottleneckOutput:
    """What a bottleneck gives the decoder and the losses; all tensors are (B, latent_dim)."""

    z: torch.Tensor  # the code the decoder sees
    mu: torch.Tensor  # the deterministic code (the posterior mean for a VAE)
    logvar: torch.Tensor | None = None  # the posterior log-variance (VAE only)


class DeterministicBottleneck(nn.Module):
    """A linear projection to the code (AE); with ``latent_dim`` 0 none: the encoder's features are the code."""

    kind = "deterministic"

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, latent_dim) if latent_dim else nn.Identity()

    def forward(self, h: torch.Tensor, sample: bool | None = None) -> BottleneckOutput:
        z = self.proj(h)
        return BottleneckOutput(z=z, mu=z)


class GaussianBottleneck(nn.Module):
    """q(z|x) = N(mu, diag(exp(logvar))), sampled by reparameterisation (Kingma & Welling, 2014, eq. 10).

    Samples while training, or when ``sample=True``; otherwise z is the posterior mean, so evaluation and
    scoring are deterministic.
    """

    kind = "gaussian"

    def __init__(self, in_features: int, latent_dim: int, logvar_clamp: tuple[float, float]) -> None:
        super().__init__()
        self.mu = nn.Linear(in_features, latent_dim)
        self.logvar = nn.Linear(in_features, latent_dim)
        self.logvar_clamp = logvar_clamp

    def forward(
        self, h: torch.Tensor, sample: bool | None = None, noise: torch.Tensor | None = None
    ) -> BottleneckOutput:
        """``noise`` (B, latent): the standard normal draws to use instead of fresh ones (data-parallel
        training draws a global batch's noise on every process and gives each its rows)."""
        mu = self.mu(h)
        logvar = self.logvar(h).clamp(*self.logvar_clamp)
        if self.training if sample is None else sample:
            z = mu + torch.exp(0.5 * logvar) * (torch.randn_like(mu) if noise is None else noise)
        else:
            z = mu
        return BottleneckOutput(z=z, mu=mu, logvar=logvar)


class Critic(nn.Module):
    """A Wasserstein critic on codes: (B, latent_dim) -> (B,) unbounded scores (Arjovsky et al., 2017)."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _mlp([latent_dim, *hidden], activation, last_activation=True),
            nn.Linear(hidden[-1] if hidden else latent_dim, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


class AdversarialBottleneck(DeterministicBottleneck):
    """A deterministic code pushed towards N(0, I) by a critic (AAE, Makhzani et al., 2016)."""

    kind = "adversarial"

    def __init__(self, in_features: int, latent_dim: int, critic_hidden: tuple[int, ...], activation: str) -> None:
        super().__init__(in_features, latent_dim)
        self.critic = Critic(latent_dim, critic_hidden, activation)
