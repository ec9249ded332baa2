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


def _mlp(
    widths: list[int], activation: str, last_activation: bool, batch_norm: bool = False, dropout: float = 0.0
) -> nn.Sequential:
    """Dense layers; each hidden one (one with an activation) is Linear [-> BatchNorm] -> activation [-> Dropout]."""
    layers: list[nn.Module] = []
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(w_in, w_out))
        if last_activation or i < len(widths) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(w_out))
            layers.append(ACTIVATIONS[activation]())
            if dropout:  # no module at 0, so models without it keep their weights' names
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flatten, then dense layers: (B, *input_shape) -> (B, hidden[-1])."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        hidden: tuple[int, ...],
        activation: str,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.net = _mlp([math.prod(input_shape), *hidden], activation, True, batch_norm, dropout)
        self.out_features = hidden[-1] if hidden else math.prod(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """The encoder's mirror: (B, latent) -> (B, *output_shape)."""

    def __init__(
        self,
        latent_dim: int,
        output_shape: tuple[int, ...],
        hidden: tuple[int, ...],
        activation: str,
        output: str,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.output_shape = output_shape
        widths = [latent_dim, *reversed(hidden), math.prod(output_shape)]
        self.net = _mlp(widths, activation, False, batch_norm, dropout)
        self.output = OUTPUT_ACTIVATIONS[output]()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.output(self.net(z)).view(-1, *self.output_shape)


class ConvEncoder(nn.Module):
    """Convolutions ("same" padding, the given strides), each optionally followed by max-pooling, then optional
    dense layers: (B, C, H, W) -> (B, F)."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        channels: tuple[int, ...],
        strides: tuple[int, ...],
        kernel_size: int,
        fc: tuple[int, ...],
        activation: str,
        pool: tuple[int, ...] = (),
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        block_ends = []  # index of each conv block's last layer, where its output size is read
        for c_out, stride, factor in zip(channels, strides, pool or (1,) * len(channels)):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(ACTIVATIONS[activation]())
            if factor > 1:  # no module for factor 1, so models without pooling keep their weights' names
                layers.append(nn.MaxPool2d(factor, ceil_mode=True))
            block_ends.append(len(layers) - 1)
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        # Record every block's output size so the decoder can invert them exactly (odd sizes too).
        sizes = [tuple(input_shape[1:])]
        with torch.no_grad():
            h = torch.zeros(1, *input_shape)
            for i, layer in enumerate(self.convs):
                if not isinstance(layer, nn.BatchNorm2d):  # keeps its shape; in training mode it would learn zeros
                    h = layer(h)
                if i in block_ends:
                    sizes.append(tuple(h.shape[2:]))
        self.spatial_sizes: list[tuple[int, int]] = sizes  # [(H, W), (H/2, W/2), ...]
        self.conv_shape = (c_in, *sizes[-1])  # (C_last, h, w)
        flat = math.prod(self.conv_shape)
        self.fc = _mlp([flat, *fc], activation, True, batch_norm)
        self.out_features = fc[-1] if fc else flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x).flatten(1))


# VGG16's convolutional blocks (Simonyan & Zisserman, 2015): output channels of each 3x3 conv, by block.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class VGG16Encoder(nn.Module):
    """VGG16's first ``blocks`` blocks, frozen: (B, 3, H, W) in [0, 1] -> (B, F), F = C x H/2^blocks x W/2^blocks.

    Built here, without torchvision; ``features`` numbers its layers as torchvision's ``vgg16().features``
    does, so ImageNet weights load by name (:func:`load_imagenet_vgg16`). Inputs are normalised with
    ImageNet's channel statistics first, as the weights expect.
    """

    def __init__(self, input_shape: tuple[int, int, int], blocks: int = 2) -> None:
        super().__init__()
        if input_shape[0] != 3:
            raise ValueError(f"a VGG16 encoder takes RGB images (3 channels), got {input_shape[0]}")
        layers: list[nn.Module] = []
        c_in = 3
        for widths in VGG16_BLOCKS[:blocks]:
            for c_out in widths:
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        for p in self.features.parameters():
            p.requires_grad_(False)  # frozen: only the decoder (and a VAE's dense layers) learn
        h, w = input_shape[1:]
        self.spatial_sizes = [(h, w)]
        for _ in range(blocks):
            h, w = h // 2, w // 2
            self.spatial_sizes.append((h, w))
        self.block_channels = tuple(widths[-1] for widths in VGG16_BLOCKS[:blocks])
        self.conv_shape = (c_in, h, w)
        self.out_features = math.prod(self.conv_shape)

    def train(self, mode: bool = True) -> VGG16Encoder:
        super().train(mode)
        self.features.eval()  # frozen layers stay in inference mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std).flatten(1)


NO_TORCHVISION = (
    "pretrained: true loads VGG16's ImageNet weights from torchvision, which is not installed; "
    "install it (pip install 'aecompare[vgg]') or set pretrained: false to train with a randomly "
    "initialised frozen VGG16 encoder"
)


def check_pretrained_available(config: ModelConfig) -> None:
    """Raise the error :func:`load_imagenet_vgg16` would, before any training starts."""
    import importlib.util

    from aecompare.errors import ConfigError

    if config.backbone == "vgg16" and config.pretrained and importlib.util.find_spec("torchvision") is None:
        raise ConfigError(NO_TORCHVISION)


def load_imagenet_vgg16(encoder: VGG16Encoder) -> None:
    """Copy torchvision's ImageNet VGG16 weights into ``encoder``.

    Raises:
        ConfigError: when torchvision or the weights are not available, saying what to do.
    """
    from aecompare.errors import ConfigError

    try:
        from torchvision.models import VGG16_Weights, vgg16
    except ImportError:
        raise ConfigError(NO_TORCHVISION) from None
    try:
        state = vgg16(weights=VGG16_Weights.IMAGENET1K_V1).features.state_dict()
    except Exception as e:  # noqa: BLE001 - a download error can be any of several types
        raise ConfigError(
            f"could not get VGG16's ImageNet weights through torchvision ({e}); put them in "
            "torchvision's cache (TORCH_HOME) or set pretrained: false"
        ) from None
    mine = encoder.features.state_dict()
    encoder.features.load_state_dict({k: state[k] for k in mine})


class ConvDecoder(nn.Module):
    """Mirror of a conv encoder: (B, latent) -> (B, C, H, W) through transposed convolutions, one per encoder
    block, each upsampling by that block's stride x pooling factor. ``latent_dim`` 0: the code is the encoder's
    feature map itself, reshaped."""

    def __init__(
        self,
        encoder: ConvEncoder | VGG16Encoder,
        latent_dim: int,
        channels: tuple[int, ...],
        strides: tuple[int, ...],
        kernel_size: int,
        fc: tuple[int, ...],
        out_channels: int,
        activation: str,
        output: str,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.conv_shape = encoder.conv_shape
        self.fc = (
            nn.Identity()
            if latent_dim == 0
            else _mlp([latent_dim, *reversed(fc), math.prod(self.conv_shape)], activation, True, batch_norm)
        )
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
            layers.append(
                nn.ConvTranspose2d(c_in, c_out, kernel_size, stride=stride, padding=pad, output_padding=output_padding)
            )
            if i < len(c_outs) - 1:
                if batch_norm:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(ACTIVATIONS[activation]())
            c_in, size = c_out, target
        self.deconvs = nn.Sequential(*layers)
        self.output = OUTPUT_ACTIVATIONS[output]()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, *self.conv_shape)  # (B, C_last, h, w)
        return self.output(self.deconvs(h))


def build_backbone(
    config: ModelConfig, input_shape: tuple[int, ...], pretrained_weights: bool = True
) -> tuple[nn.Module, nn.Module, int]:
    """The encoder, the decoder and the encoder's feature width for ``input_shape``.

    A Gaussian decoder (``decoder_output: gaussian``) gives twice the channels (or features), the mean's and
    the log-variance's, without an output activation; :class:`~aecompare.models.Autoencoder` splits them.
    ``pretrained_weights=False`` skips fetching a VGG16's ImageNet weights (when saved weights follow).
    """
    gaussian = config.decoder_output == "gaussian"
    output = "identity" if gaussian else config.resolved_output_activation(input_shape)
    output_shape = (input_shape[0] * (2 if gaussian else 1), *input_shape[1:])
    backbone = config.resolved_backbone(input_shape)
    if backbone == "mlp":
        regularise = {"batch_norm": config.batch_norm, "dropout": config.dropout}
        encoder = MLPEncoder(input_shape, config.hidden, config.activation, **regularise)
        decoder = MLPDecoder(config.latent_dim, output_shape, config.hidden, config.activation, output, **regularise)
        return encoder, decoder, encoder.out_features
    if backbone == "vgg16":
        encoder = VGG16Encoder(input_shape, config.vgg_blocks)
        if config.pretrained and pretrained_weights:
            load_imagenet_vgg16(encoder)
        channels, strides = encoder.block_channels, (2,) * config.vgg_blocks
        tail = (config.kernel_size, config.fc, output_shape[0], config.activation, output, config.batch_norm)
        return encoder, ConvDecoder(encoder, config.latent_dim, channels, strides, *tail), encoder.out_features
    # each block shrinks by its stride times its pooling factor; the decoder undoes both in one step
    strides = tuple(s * p for s, p in zip(config.resolved_strides(), config.resolved_pool()))
    encoder = ConvEncoder(
        input_shape,
        config.channels,
        config.resolved_strides(),
        config.kernel_size,
        config.fc,
        config.activation,
        config.pool,
        config.batch_norm,
    )
    decoder = ConvDecoder(
        encoder,
        config.latent_dim,
        config.channels,
        strides,
        config.kernel_size,
        config.fc,
        output_shape[0],
        config.activation,
        output,
        config.batch_norm,
    )
    return encoder, decoder, encoder.out_features
