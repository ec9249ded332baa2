"""Encoders and decoders. An encoder maps inputs to flat features (B, F); a decoder maps z back to inputs.

Every size is derived from the configuration and the input's shape, never hard-coded.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aecompare.models.config import ModelConfig

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "tanh": nn.Tanh}
OUTPUT_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "identity": nn.Identity}


def _mlp(widths: list[int], activation: str, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(w_in, w_out))
        if last_activation or i < len(widths) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flatten, then dense layers: (B, *input_shape) -> (B, hidden[-1])."""

    def __init__(self, input_shape: tuple[int, ...], hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.net = _mlp([math.prod(input_shape), *hidden], activation, last_activation=True)
        self.out_features = hidden[-1] if hidden else math.prod(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """The encoder's mirror: (B, latent) -> (B, *output_shape)."""

    def __init__(
        self, latent_dim: int, output_shape: tuple[int, ...], hidden: tuple[int, ...], activation: str, output: str
    ) -> None:
        super().__init__()
        self.output_shape = output_shape
        self.net = _mlp([latent_dim, *reversed(hidden), math.prod(output_shape)], activation, last_activation=False)
        self.output = OUTPUT_ACTIVATIONS[output]()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.output(self.net(z)).view(-1, *self.output_shape)


class ConvEncoder(nn.Module):
    """Convolutions ("same" padding, the given strides), then optional dense layers: (B, C, H, W) -> (B, F)."""

    def __init__(
        self, input_shape: tuple[int, int, int], channels: tuple[int, ...], strides: tuple[int, ...],
        kernel_size: int, fc: tuple[int, ...], activation: str,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for c_out, stride in zip(channels, strides):
            layers += [nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2),
                       ACTIVATIONS[activation]()]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        # Record every intermediate spatial size so the decoder can invert them exactly (odd sizes too).
        sizes = [tuple(input_shape[1:])]
        with torch.no_grad():
            h = torch.zeros(1, *input_shape)
            for layer in self.convs:
                h = layer(h)
                if isinstance(layer, nn.Conv2d):
                    sizes.append(tuple(h.shape[2:]))
        self.spatial_sizes: list[tuple[int, int]] = sizes  # [(H, W), (H/2, W/2), ...]
        self.conv_shape = (c_in, *sizes[-1])  # (C_last, h, w)
        flat = math.prod(self.conv_shape)
        self.fc = _mlp([flat, *fc], activation, last_activation=True)
        self.out_features = fc[-1] if fc else flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: (B, latent) -> (B, C, H, W) through transposed convolutions."""

    def __init__(self, encoder: ConvEncoder, latent_dim: int, channels: tuple[int, ...], strides: tuple[int, ...],
                 kernel_size: int, fc: tuple[int, ...], out_channels: int, activation: str, output: str) -> None:
        super().__init__()
        self.conv_shape = encoder.conv_shape
        self.fc = _mlp([latent_dim, *reversed(fc), math.prod(self.conv_shape)], activation, last_activation=True)
        targets = list(reversed(encoder.spatial_sizes[:-1]))  # the sizes to restore, innermost first
        c_outs = [*reversed(channels[:-1]), out_channels]
        layers: list[nn.Module] = []
        c_in, size = channels[-1], encoder.spatial_sizes[-1]
        pad = kernel_size // 2
        for i, (c_out, target, stride) in enumerate(zip(c_outs, targets, reversed(strides))):
            # A transposed conv gives (in - 1) * stride - 2 * pad + k (+ output_padding < stride); pick the
            # output padding that lands on the encoder's size exactly.
            natural = [(s - 1) * stride - 2 * pad + kernel_size for s in size]
            output_padding = tuple(t - n for t, n in zip(target, natural))
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size, stride=stride, padding=pad,
                                             output_padding=output_padding))
            if i < len(c_outs) - 1:
                layers.append(ACTIVATIONS[activation]())
            c_in, size = c_out, target
        self.deconvs = nn.Sequential(*layers)
        self.output = OUTPUT_ACTIVATIONS[output]()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, *self.conv_shape)  # (B, C_last, h, w)
        return self.output(self.deconvs(h))


def build_backbone(config: ModelConfig, input_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module, int]:
    """The encoder, the decoder and the encoder's feature width for ``input_shape``.

    A Gaussian decoder (``decoder_output: gaussian``) gives twice the channels (or features), the mean's and
    the log-variance's, without an output activation; :class:`~aecompare.models.Autoencoder` splits them.
    """
    gaussian = config.decoder_output == "gaussian"
    output = "identity" if gaussian else config.resolved_output_activation(input_shape)
    output_shape = (input_shape[0] * (2 if gaussian else 1), *input_shape[1:])
    if config.resolved_backbone(input_shape) == "mlp":
        encoder = MLPEncoder(input_shape, config.hidden, config.activation)
        decoder = MLPDecoder(config.latent_dim, output_shape, config.hidden, config.activation, output)
        return encoder, decoder, encoder.out_features
    strides = config.resolved_strides()
    encoder = ConvEncoder(input_shape, config.channels, strides, config.kernel_size, config.fc, config.activation)
    decoder = ConvDecoder(encoder, config.latent_dim, config.channels, strides, config.kernel_size, config.fc,
                          output_shape[0], config.activation, output)
    return encoder, decoder, encoder.out_features
