"""Encoder -> bottleneck -> decoder: one module for every autoencoder type."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from aecompare.models.backbones import OUTPUT_ACTIVATIONS, build_backbone
from aecompare.models.bottlenecks import (
    AdversarialBottleneck,
    BottleneckOutput,
    DeterministicBottleneck,
    GaussianBottleneck,
)
from aecompare.models.config import ModelConfig


@dataclass
class AutoencoderOutput:
    """A forward pass: reconstruction (B, *input_shape) and codes (B, latent_dim)."""

    recon: torch.Tensor  # the decoder's mean
    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None = None  # the posterior's log-variance (VAE)
    recon_logvar: torch.Tensor | None = None  # (B, *input_shape): the decoder's log-variance (Gaussian decoder)


class Autoencoder(nn.Module):
    """An autoencoder whose type is set by its bottleneck (Schneider et al., Sec. 3.1.1).

    Args:
        config: the architecture and loss weights.
        input_shape: one sample's shape, ``(D,)`` for tables or ``(C, H, W)`` for images.
    """

    def __init__(self, config: ModelConfig, input_shape: tuple[int, ...], pretrained_weights: bool = True) -> None:
        super().__init__()
        self.config = config
        self.input_shape = tuple(input_shape)
        encoder, decoder, features = build_backbone(config, self.input_shape, pretrained_weights)
        self.encoder = encoder
        if config.bottleneck == "gaussian":
            self.bottleneck = GaussianBottleneck(features, config.latent_dim, config.logvar_clamp)
        elif config.bottleneck == "adversarial":
            self.bottleneck = AdversarialBottleneck(
                features, config.latent_dim, config.critic_hidden, config.activation
            )
        else:
            self.bottleneck = DeterministicBottleneck(features, config.latent_dim)
        self.decoder = decoder  # registered last so modules() and print() follow the data's path
        # A Gaussian decoder's raw output holds the mean's and the log-variance's channels; the mean gets the
        # output activation here (the backbone leaves its output linear so the log-variance stays unbounded).
        self.mean_activation = OUTPUT_ACTIVATIONS[config.resolved_output_activation(self.input_shape)]()
        if config.weight_init != "pytorch":
            self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """Kaiming: He et al. (2015) for the configured activation, which keeps deep stacks' signal alive.
        Glorot: Glorot & Bengio (2010) uniform, Keras's default. Both with zero biases."""
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            if not module.weight.requires_grad:  # a frozen (pretrained) encoder keeps its weights
                return
            if self.config.weight_init == "glorot":
                nn.init.xavier_uniform_(module.weight)
            else:
                kind = self.config.activation
                nonlinearity = {"elu": "relu"}.get(kind, kind)  # torch has no ELU gain; ReLU's is close
                nn.init.kaiming_normal_(module.weight, a=0.01, nonlinearity=nonlinearity)
            nn.init.zeros_(module.bias)

    @property
    def gaussian_decoder(self) -> bool:
        """True when the decoder also gives a log-variance per feature (``decoder_output: gaussian``)."""
        return self.config.decoder_output == "gaussian"

    @property
    def critic(self) -> nn.Module | None:
        """The AAE's critic, or None for the other types."""
        return getattr(self.bottleneck, "critic", None)

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """Encoder, bottleneck and decoder parameters: everything but the critic."""
        return self._without_critic(self.parameters())

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters that produce z (the AAE's generator in the regularisation phase)."""
        return self._without_critic([*self.encoder.parameters(), *self.bottleneck.parameters()])

    def _without_critic(self, params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
        critic = {id(p) for p in self.critic.parameters()} if self.critic is not None else set()
        return [p for p in params if id(p) not in critic]

    def encode(
        self, x: torch.Tensor, sample: bool | None = None, noise: torch.Tensor | None = None
    ) -> BottleneckOutput:
        """(B, *input_shape) -> codes; a VAE samples only while training or when ``sample`` is True, from
        ``noise`` (B, latent) when given."""
        if noise is not None:
            return self.bottleneck(self.encoder(x), sample=sample, noise=noise)
        return self.bottleneck(self.encoder(x), sample=sample)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> the reconstruction (B, *input_shape) (a Gaussian decoder's mean)."""
        return self.decode_distribution(z)[0]

    def decode_distribution(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, latent_dim) -> the decoder's mean (B, *input_shape) and, for a Gaussian decoder, its
        log-variance (B, *input_shape), clamped like the posterior's; None otherwise."""
        return self.split_decoder_output(self.decoder(z))

    def split_decoder_output(self, out: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The decoder's raw output -> its mean and (Gaussian decoder) clamped log-variance; ``dim`` is the channel
        (or feature) axis: 1 for (B, C, ...), 2 for K stacked members' (K, B, C, ...)."""
        if not self.gaussian_decoder:
            return out, None
        mean, logvar = out.chunk(2, dim=dim)  # channels (or features) [0, C) the mean, [C, 2C) the log-variance
        return self.mean_activation(mean), logvar.clamp(*self.config.logvar_clamp)

    def forward(
        self, x: torch.Tensor, sample: bool | None = None, noise: torch.Tensor | None = None
    ) -> AutoencoderOutput:
        if self.training and self.config.input_noise:  # a denoising AE: the loss still compares with clean x
            x = x + self.config.input_noise * torch.randn_like(x)
        code = self.encode(x, sample=sample, noise=noise)
        recon, recon_logvar = self.decode_distribution(code.z)
        return AutoencoderOutput(recon=recon, z=code.z, mu=code.mu, logvar=code.logvar, recon_logvar=recon_logvar)
