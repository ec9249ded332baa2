"""The one configuration that builds every autoencoder: backbone x bottleneck x sizes x loss weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Backbone = Literal["auto", "mlp", "conv", "vgg16"]
BottleneckKind = Literal["deterministic", "gaussian", "adversarial"]
Activation = Literal["relu", "leaky_relu", "elu", "tanh"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model from JSON; shapes come from this and the input's shape."""

    bottleneck: BottleneckKind = "deterministic"
    backbone: Backbone = "auto"  # auto: conv for images (C, H, W), MLP for tables (D,); vgg16: frozen VGG16 blocks
    # 0: no dense code; the encoder's feature map is the code (Klimkevicius's CAE: 64 x 64 x 64 at 256 input).
    latent_dim: int = 16
    hidden: tuple[int, ...] = (128, 64)  # MLP widths from the input towards the bottleneck
    channels: tuple[int, ...] = (32, 64)  # conv channels, one conv per entry
    strides: tuple[int, ...] = ()  # one per conv; empty: 2 for every conv (each halves height and width)
    pool: tuple[int, ...] = ()  # max-pooling factor after each conv (1: none); empty: no pooling
    vgg_blocks: int = 2  # vgg16 backbone: VGG16's blocks kept (2: up to block2_pool, 128 channels at 1/4 size)
    pretrained: bool = False  # vgg16 backbone: ImageNet weights from torchvision (an optional extra)
    kernel_size: int = 3
    fc: tuple[int, ...] = ()  # dense widths between the flattened conv features and the bottleneck
    activation: Activation = "leaky_relu"
    # Regularisers active in training only (early stopping, checkpoints and scores use the deterministic net):
    # dropout after each hidden dense layer (Yong & Brintrup's no-bottleneck AEs), batch normalisation after
    # each hidden dense or conv layer, and Gaussian noise of this std added to the inputs while the loss
    # compares with the clean ones (a denoising AE).
    dropout: float = 0.0
    batch_norm: bool = False
    input_noise: float = 0.0
    # "kaiming" suits deep stacks: with PyTorch's default, Schneider's 9-layer MNIST net passes almost no
    # signal (codes vary by ~2e-4 over a batch) and trains to the mean image. The default stays PyTorch's:
    # on the small `quick` models Kaiming lowered the VAE (digits) and the AAE (lines); benchmarks/RESULTS.md.
    # "glorot": Keras's Dense default (Glorot-uniform weights, zero biases), which Patuzzo's analysis of
    # stuck training assumes.
    weight_init: Literal["pytorch", "kaiming", "glorot"] = "pytorch"
    output_activation: Literal["auto", "sigmoid", "identity"] = "auto"  # auto: sigmoid for images
    # "gaussian": the decoder also gives a log-variance per feature, p(x|z) = N(mean, exp(logvar)), which the
    # reconstruction probability (An & Cho, 2015) needs. "mean": the decoder gives the reconstruction only.
    decoder_output: Literal["mean", "gaussian"] = "mean"
    # Training loss: mse, bce, rmse (root of the mean squared error per sample, Fiorino's), or gaussian_nll
    # (-log N(x | mean, exp(logvar)), the ELBO's term; needs decoder_output: gaussian).
    reconstruction: Literal["mse", "bce", "rmse", "gaussian_nll"] = "mse"
    reconstruction_weight: float = 1.0  # multiplies the reconstruction term (Fiorino's "hyperparameter-weight")
    # sum: reconstruction summed over features and KL over latent dimensions (the ELBO). mean: each averaged
    # instead, Keras's mse plus a mean KL (Patuzzo's eq. 1); losses are then per pixel, so levels like 1/16 read.
    loss_reduction: Literal["sum", "mean"] = "sum"
    beta: float = 1.0  # KL weight (VAE); both terms are summed over features, averaged over the batch
    # KL warm-up (Bowman et al., 2016): in training, beta rises linearly from 0 to its value over the first N
    # epochs; 0: off. Early stopping, scores and thresholds always use the full objective.
    kl_warmup_epochs: int = 0
    # Free bits (Kingma et al., 2016): in training, each latent dimension's KL, averaged over the batch, counts
    # as at least this many nats, so no dimension gains by collapsing onto the prior; 0: off.
    free_bits: float = 0.0
    logvar_clamp: tuple[float, float] = (-10.0, 10.0)  # keeps exp(logvar) finite early in training
    critic_hidden: tuple[int, ...] = (64, 64)  # AAE critic widths
    critic_clip: float = 0.01  # WGAN weight clipping box keeps the critic Lipschitz
    critic_steps: int = 1  # critic updates per batch in the regularisation phase
    adversarial_weight: float = 1.0  # weight of the encoder's "fool the critic" loss

    def resolved_backbone(self, input_shape: tuple[int, ...]) -> Literal["mlp", "conv"]:
        """The concrete backbone for an input of this shape."""
        if self.backbone != "auto":
            return self.backbone
        return "conv" if len(input_shape) == 3 else "mlp"

    @property
    def regularised(self) -> bool:
        """Whether dropout, batch normalisation or input noise act in training: their random draws and batch
        statistics belong to one model, so such models train one at a time, never stacked or batched."""
        return bool(self.dropout or self.batch_norm or self.input_noise)

    def resolved_strides(self) -> tuple[int, ...]:
        """One stride per conv layer."""
        return self.strides or (2,) * len(self.channels)

    def resolved_pool(self) -> tuple[int, ...]:
        """One max-pooling factor per conv layer (1: none)."""
        return self.pool or (1,) * len(self.channels)

    def resolved_output_activation(self, input_shape: tuple[int, ...]) -> Literal["sigmoid", "identity"]:
        """Sigmoid for images (pixels in [0, 1]); identity for standardised tables."""
        if self.output_activation != "auto":
            return self.output_activation
        return "sigmoid" if len(input_shape) == 3 else "identity"
