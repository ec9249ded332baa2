"""The model registry: a name -> the configuration it builds. Papers' models are added here by name."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from aecompare.core.validation import from_dict
from aecompare.errors import ConfigError, unknown_name
from aecompare.models.autoencoder import Autoencoder
from aecompare.models.config import ModelConfig


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its description and the config values it sets."""

    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # choices made where a paper is ambiguous; shown in reports


_TYPES = {
    "ae": ("classical autoencoder", "deterministic"),
    "vae": ("variational autoencoder (Gaussian bottleneck, KL to N(0, I))", "gaussian"),
    "aae": ("adversarial autoencoder (Wasserstein critic on z against N(0, I))", "adversarial"),
}

# The generic VAEs train with free bits (issue 15). Chosen on normal validation data only: the rule, fixed
# before looking, is the fewest runs collapsed to the mean, then the lowest validation ELBO. On CIFAR-10 dog with
# GCN (3 seeds) no change and KL warm-up over 10 epochs each collapsed in 2 resp. 1 seed, free bits 0.5 and
# free bits with warm-up in none, free bits alone with the lower validation ELBO; on the quick comparison's
# digits (30 runs) free bits removed the one collapse. The papers' models keep their papers' settings.
GENERIC_VAE = {"free_bits": 0.5}
GENERIC_VAE_NOTES = (
    "VAE: free bits, 0.5 nats per latent dimension (Kingma et al., 2016): in training each dimension's batch-mean "
    "KL counts as at least 0.5, so no dimension gains by collapsing onto the prior. Chosen on normal validation "
    "data only (fewest collapsed runs, then the lowest validation ELBO); set free_bits: 0 for the plain ELBO.",
)

MODELS: dict[str, ModelEntry] = {}
for _name, (_what, _bottleneck) in _TYPES.items():
    _extra, _notes = (GENERIC_VAE, GENERIC_VAE_NOTES) if _name == "vae" else ({}, ())
    MODELS[_name] = ModelEntry(
        f"{_what}; convolutional for images, MLP for tables", {"bottleneck": _bottleneck, **_extra}, _notes
    )
    MODELS[f"mlp-{_name}"] = ModelEntry(
        f"{_what} with an MLP backbone", {"bottleneck": _bottleneck, "backbone": "mlp", **_extra}, _notes
    )
    MODELS[f"conv-{_name}"] = ModelEntry(
        f"{_what} with a convolutional backbone (images only)",
        {"bottleneck": _bottleneck, "backbone": "conv", **_extra},
        _notes,
    )

# Schneider et al. (2022), Tables 1-4: one encoder/decoder per dataset, three bottlenecks. Where the tables
# are ambiguous or inconsistent we chose as follows; the notes go into `aecompare list` and every report.
SCHNEIDER_NOTES = (
    "Strides: Table 1's MNIST resolutions W, W/2, W/4, W/7, W/7 (28, 14, 7, 4, 4 after conv1 at 28) come from "
    "strides (1, 2, 2, 2, 1) with 'same' padding; Table 2's CIFAR-10 resolutions W, W/2, W/4, W/4 (32, 16, 8, 8) "
    "from strides (1, 2, 2, 1). The decoder mirrors them with transposed convolutions.",
    "lin1: Table 3 lists it as 1024 wide, but lin2 takes r = 100 inputs, so lin1 maps the flattened conv output "
    "to r = 100. (1024 is CIFAR-10's flattened conv4 output, 8 x 8 x 16.) The flattened size is the actual "
    "conv output, MNIST 4 x 4 x 16 = 256 and CIFAR-10 1024, not Table 3's W/16 x H/16 x 16.",
    "CIFAR-10 deconv1: Table 2 lists 32 -> 32 channels, but lin4 reshapes to conv4's 16 channels, so it is 16 -> 32.",
    "Critic: lind1 n_z -> 10 with LeakyReLU, lind2 10 -> 1 without an activation (Table 4 lists a LeakyReLU, "
    "but a Wasserstein critic's score must be unbounded); weights clipped to [-0.01, 0.01] after each update.",
    "Initialisation: Kaiming (He) normal. With PyTorch's default the 9-layer MNIST stack trains to the mean "
    "image at every learning rate we tried.",
)
_SCHNEIDER = {
    "mnist": dict(channels=(16, 32, 64, 64, 16), strides=(1, 2, 2, 2, 1)),
    "cifar10": dict(channels=(8, 16, 32, 16), strides=(1, 2, 2, 1)),
}
for _data, _convs in _SCHNEIDER.items():
    for _short, _type in (("cae", "ae"), ("vae", "vae"), ("aae", "aae")):
        MODELS[f"schneider-{_data}-{_short}"] = ModelEntry(
            f"Schneider et al. (2022) {_short.upper()} for {_data}, Tables 1-4: convs {list(_convs['channels'])}, "
            f"strides {list(_convs['strides'])}, 3x3, LeakyReLU, sigmoid output; r = 100, n_z = 20",
            {
                "bottleneck": _TYPES[_type][1],
                "backbone": "conv",
                **_convs,
                "kernel_size": 3,
                "fc": (100,),
                "latent_dim": 20,
                "activation": "leaky_relu",
                "output_activation": "sigmoid",
                "critic_hidden": (10,),
                "weight_init": "kaiming",
            },
            SCHNEIDER_NOTES,
        )

# Patuzzo (2020): the one-neuron-bottleneck MLP 1024-2-1-2-1024 (A1) and its variational twin (A2). The input
# width comes from the data (4 for the 2x2 set); `hidden` and `latent_dim` give 5-2-5 or 64-8-64.
PATUZZO_NOTES = (
    "A2's b is the log of the variance, z = a + exp(b / 2) * eps, as in the Keras example (Chollet, 2019) that "
    "the technical report says the implementation follows; the April 2020 draft calls b the log of the "
    "standard deviation. Either way eq. (1)'s KL term, mean(1 + b - a^2 - e^b), is the KL for a log-variance.",
    "Loss: A1's is Keras's mse, the squared error averaged over pixels, so loss levels such as 1/16 read "
    "directly. A2's is eq. (1) as the cited Keras example computes it: the mse times the number of pixels, plus "
    "the KL summed over the bottleneck (the ELBO). Eq. (1) as printed (mse plus a mean KL) weighs the KL 1024 "
    "times more on lines and every A2 we trained collapsed to the prior (std 1, all-gray outputs); the "
    "size-dependent weight also explains the paper's std of 0.5 on 2x2 images against 0.01 on 32x32 lines.",
    "Initialisation: Keras's Dense defaults (Glorot-uniform weights, zero biases), which the paper's analysis of "
    "stuck training assumes (its footnote sets the biases to zero). The paper gives no optimiser settings; "
    "each experiment states the ones it uses.",
)
_PATUZZO = {
    "backbone": "mlp",
    "hidden": (2,),
    "latent_dim": 1,
    "activation": "relu",
    "output_activation": "sigmoid",
    "weight_init": "glorot",
    "loss_reduction": "mean",
}
MODELS["patuzzo-a1"] = ModelEntry(
    "Patuzzo (2020) A1: MLP 1024-2-1-2-1024 (relu, linear one-unit bottleneck, relu, "
    "sigmoid), input width from the data",
    {**_PATUZZO, "bottleneck": "deterministic"},
    PATUZZO_NOTES,
)
MODELS["patuzzo-a2"] = ModelEntry(
    "Patuzzo (2020) A2: A1's variational twin (a, b -> z), loss D * mse - 0.5 sum(1 + b - a^2 - e^b)",
    {**_PATUZZO, "bottleneck": "gaussian", "loss_reduction": "sum"},
    PATUZZO_NOTES,
)

# Fiorino: the dense VAE that scores card transactions (Sec. 3) and the convolutional face VAE (Sec. 2).
FIORINO_NOTES = (
    "Dense VAE: the report gives the widths (encoder 20-10-8, decoder 8-10-20) but no activation or latent "
    "size; we use LeakyReLU (as its face VAE; no dead units in 8-wide layers), Glorot init (Keras's default) "
    "and a 4-dimensional latent (half the last width).",
    "Loss: the report's weighted RMSE plus the KL (summed over the latent). The report gives no weight; we use "
    "100, the smallest of 1, 10 and 100 with which no run of the tabular experiment collapsed to the mean "
    "(with 1 and 10, 3 of 18 runs did; chosen on the collapse flag, which uses normal validation data only). "
    "The RMSE trains the decoder's mean only; its log-variance, which that loss leaves untouched, is fitted by "
    "maximum likelihood around the mean held fixed, so that the reconstruction probability uses a learned "
    "variance. For the pure ELBO set reconstruction: gaussian_nll.",
    "Face VAE: 3x3 kernels with stride 2 in every layer (128 -> 8 pixels), a 200-dimensional latent and a "
    "reconstruction weight of 1000 on the per-image RMSE; the report gives the filters only.",
)
_FIORINO_DENSE = {
    "backbone": "mlp",
    "hidden": (20, 10, 8),
    "latent_dim": 4,
    "activation": "leaky_relu",
    "weight_init": "glorot",
    "output_activation": "identity",
    "reconstruction": "rmse",
    "reconstruction_weight": 100.0,
}
MODELS["fiorino-vae"] = ModelEntry(
    "Fiorino's dense VAE for tables: encoder 20-10-8, Gaussian latent, decoder 8-10-20 with a Gaussian output "
    "(mean and log-variance per feature); weighted RMSE + KL",
    {**_FIORINO_DENSE, "bottleneck": "gaussian", "decoder_output": "gaussian"},
    FIORINO_NOTES,
)
MODELS["fiorino-ae"] = ModelEntry(
    "the plain dense AE of Fiorino's VAE's shape (20-10-8-z-8-10-20), RMSE loss",
    {**_FIORINO_DENSE, "bottleneck": "deterministic", "reconstruction_weight": 1.0},
    FIORINO_NOTES,
)
MODELS["fiorino-face-vae"] = ModelEntry(
    "Fiorino's face VAE: convs [32, 64, 64, 64] and transposed convs [64, 64, 32, 3], LeakyReLU, sigmoid "
    "output, 200-dimensional latent; weighted RMSE + KL (128x128x3 in the report, any size here)",
    {
        "bottleneck": "gaussian",
        "backbone": "conv",
        "channels": (32, 64, 64, 64),
        "strides": (2, 2, 2, 2),
        "kernel_size": 3,
        "latent_dim": 200,
        "activation": "leaky_relu",
        "output_activation": "sigmoid",
        "reconstruction": "rmse",
        "reconstruction_weight": 1000.0,
    },
    FIORINO_NOTES,
)

# Klimkevicius: CAE and CVAE on casting images (Sec. 4.1), and their VGG16 transfer versions (Sec. 4.2).
KLIMKEVICIUS_NOTES = (
    "Widths: the paper gives the CAE's code (64 x 64 x 64 at 256 input: 3 convs, 2 max-pools) and the CVAE's "
    "latent (32); we use 3x3 convs of 32, 64 and 64 channels with ReLU, 'same' padding and 2x2 max-pooling, "
    "and one stride-2 (stride-4 where a pool and a stride meet) 3x3 transposed conv per encoder block, sigmoid "
    "output; Glorot (Keras) initialisation.",
    "Losses: the CAE's per-image RMSE; the CVAE's 'MSE - 0.5 KLD' as the ELBO: the squared error summed over "
    "pixels plus KL(q(z|x) || N(0, I)) summed over the 32 latent dimensions (loss_reduction: sum), averaged "
    "over the batch. Read with both terms averaged instead (loss_reduction: mean) the KL weighs 384 times more "
    "at 64x64 and the CVAE collapsed to the mean image (benchmarks/RESULTS.md; chosen on the collapse flag, "
    "which uses validation data only). The log-variance is clipped to [-10, 10], the paper's fix for its NaN "
    "losses.",
    "Training as the paper's Keras callbacks: ReduceLROnPlateau with patience 2 and Keras's default factor "
    "0.1, the best checkpoint on validation loss, early stopping with patience 7.",
    "TCAE/TCVAE: VGG16's layers up to block2_pool (64 x 64 x 128 at 256 input), frozen, ImageNet weights "
    "from torchvision when pretrained: true; the decoder is two stride-2 transposed convs (128 -> 64 -> 3).",
)
_KLIMKEVICIUS = {
    "backbone": "conv",
    "channels": (32, 64, 64),
    "strides": (1, 1, 1),
    "kernel_size": 3,
    "activation": "relu",
    "output_activation": "sigmoid",
    "weight_init": "glorot",
}
MODELS["klimkevicius-cae"] = ModelEntry(
    "Klimkevicius's CAE: 3 convs with 2 max-pools, the last conv's 64-channel feature map as the code "
    "(64x64x64 at 256 input), transposed-conv decoder, RMSE loss",
    {**_KLIMKEVICIUS, "bottleneck": "deterministic", "pool": (2, 2, 1), "latent_dim": 0, "reconstruction": "rmse"},
    KLIMKEVICIUS_NOTES,
)
MODELS["klimkevicius-cvae"] = ModelEntry(
    "Klimkevicius's CVAE: the CAE's convs with a third max-pool, flatten, dense 32 mean and log-variance "
    "(clipped to [-10, 10]), dense back, reshape, transposed-conv upsampling; MSE - 0.5 KLD",
    {
        **_KLIMKEVICIUS,
        "bottleneck": "gaussian",
        "pool": (2, 2, 2),
        "latent_dim": 32,
        "reconstruction": "mse",
        "loss_reduction": "sum",
        "logvar_clamp": (-10.0, 10.0),
    },
    KLIMKEVICIUS_NOTES,
)
_TRANSFER = {
    "backbone": "vgg16",
    "vgg_blocks": 2,
    "pretrained": True,
    "kernel_size": 3,
    "activation": "relu",
    "output_activation": "sigmoid",
    "weight_init": "glorot",
}
MODELS["klimkevicius-tcae"] = ModelEntry(
    "Klimkevicius's TCAE: VGG16 up to block2_pool (frozen, ImageNet) as the encoder, its 128-channel feature map "
    "as the code, transposed-conv decoder, RMSE loss",
    {**_TRANSFER, "bottleneck": "deterministic", "latent_dim": 0, "reconstruction": "rmse"},
    KLIMKEVICIUS_NOTES,
)
MODELS["klimkevicius-tcvae"] = ModelEntry(
    "Klimkevicius's TCVAE: the frozen VGG16 encoder, flatten, dense 32 mean and log-variance, dense back, "
    "transposed-conv decoder; MSE - 0.5 KLD",
    {**_TRANSFER, "bottleneck": "gaussian", "latent_dim": 32, "reconstruction": "mse", "loss_reduction": "sum"},
    KLIMKEVICIUS_NOTES,
)


def available_models() -> list[str]:
    """The names :func:`build_model` accepts."""
    return sorted(MODELS)


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The configuration of the registered model ``name`` with ``overrides`` applied.

    Raises:
        ConfigError: for an unknown name, an unknown setting or a value of the wrong type.
    """
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return from_dict(ModelConfig, {**MODELS[name].defaults, **overrides}, f"model {name!r}")


def build_model(name: str, input_shape: tuple[int, ...], **overrides: Any) -> Autoencoder:
    """Build the registered model ``name`` for inputs of ``input_shape``.

    Args:
        name: a name from :func:`available_models`, e.g. ``"vae"``.
        input_shape: one sample's shape: ``(D,)`` for tables, ``(C, H, W)`` for images.
        **overrides: :class:`ModelConfig` fields, e.g. ``latent_dim=8``.

    Returns:
        An untrained :class:`Autoencoder`.
    """
    return build_from_config(model_config(name, **overrides), input_shape)


MAX_INPUT_VALUES = 1 << 25  # values in one sample (a 3 x 3344 x 3344 image): beyond it, nothing trains here
MAX_LATENT_DIM = 1 << 16
MAX_PARAMETERS = 250_000_000  # 1 GB of float32 weights, counted before any is allocated


def build_from_config(
    config: ModelConfig, input_shape: tuple[int, ...], pretrained_weights: bool = True
) -> Autoencoder:
    """Build a model from a full configuration, checking that it fits the input's shape and that its size is
    bounded (counted on PyTorch's meta device, so a config asking for 100 GB allocates nothing).

    ``pretrained_weights=False`` skips fetching pretrained encoder weights (when saved weights follow).

    Raises:
        ConfigError: for a config that does not fit the input, or a model or input beyond the size limits.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) not in (1, 3) or min(input_shape) < 1:
        raise ConfigError(f"input_shape must be (D,) for tables or (C, H, W) for images, got {input_shape}")
    if math.prod(input_shape) > MAX_INPUT_VALUES:
        raise ConfigError(
            f"an input of shape {input_shape} has {math.prod(input_shape)} values, more than the "
            f"{MAX_INPUT_VALUES} aecompare builds models for; resize the images or select columns"
        )
    _check_config(config, input_shape)
    with torch.device("meta"):  # shapes only: no memory
        size = sum(p.numel() for p in Autoencoder(config, input_shape, False).parameters())
    if size > MAX_PARAMETERS:
        raise ConfigError(
            f"this model would have {size:,} parameters, more than the {MAX_PARAMETERS:,} aecompare "
            "builds; lower hidden, channels, fc or latent_dim"
        )
    return Autoencoder(config, input_shape, pretrained_weights)


def _check_config(config: ModelConfig, input_shape: tuple[int, ...]) -> None:
    """Refuse a config that does not fit inputs of ``input_shape`` (see :func:`build_from_config`)."""
    if config.resolved_backbone(input_shape) in ("conv", "vgg16") and len(input_shape) != 3:
        raise ConfigError(
            f"a convolutional backbone needs images (C, H, W), got input shape {input_shape}; "
            "use an MLP model (e.g. 'mlp-ae') or the auto backbone ('ae') for tables"
        )
    if config.reconstruction == "bce" and config.resolved_output_activation(input_shape) != "sigmoid":
        raise ConfigError(
            "reconstruction 'bce' needs a sigmoid output (inputs in [0, 1]); "
            "set output_activation: sigmoid or reconstruction: mse"
        )
    for key in ("kernel_size", "critic_steps"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key} must be at least 1, got {getattr(config, key)}")
    if config.kl_warmup_epochs < 0 or not config.free_bits >= 0:
        raise ConfigError(
            f"kl_warmup_epochs and free_bits must be 0 (off) or positive, got "
            f"{config.kl_warmup_epochs} and {config.free_bits}"
        )
    backbone = config.resolved_backbone(input_shape)
    if config.latent_dim > MAX_LATENT_DIM:
        raise ConfigError(f"latent_dim must be at most {MAX_LATENT_DIM:,}, got {config.latent_dim:,}")
    if (
        config.latent_dim < 0
        or config.latent_dim == 0
        and (config.bottleneck != "deterministic" or backbone == "mlp" or config.fc)
    ):
        raise ConfigError(
            f"latent_dim must be at least 1, got {config.latent_dim} (0, a feature-map code, is for "
            "a deterministic convolutional or vgg16 model without fc layers)"
        )
    if backbone == "vgg16":
        _check_vgg16(config, input_shape)
    if config.pool and (len(config.pool) != len(config.channels) or min(config.pool) < 1):
        raise ConfigError(f"pool needs one factor (1: none) per entry of channels {config.channels}, got {config.pool}")
    if any(w < 1 for w in (*config.hidden, *config.channels, *config.fc, *config.critic_hidden)):
        raise ConfigError("layer widths and channel counts must be positive")
    if config.resolved_backbone(input_shape) == "conv" and not config.channels:
        raise ConfigError("a convolutional backbone needs at least one entry in channels")
    if config.strides and (len(config.strides) != len(config.channels) or min(config.strides) < 1):
        raise ConfigError(
            f"strides needs one positive stride per entry of channels {config.channels}, got {config.strides}"
        )
    if config.reconstruction == "gaussian_nll" and config.decoder_output != "gaussian":
        raise ConfigError(
            "reconstruction 'gaussian_nll' needs a decoder that gives a variance; "
            "set decoder_output: gaussian (or reconstruction: mse)"
        )
    _check_regularisers(config, backbone)
    if not config.reconstruction_weight > 0:
        raise ConfigError(f"reconstruction_weight must be positive, got {config.reconstruction_weight}")
    lo, hi = config.logvar_clamp
    if not lo < hi:
        raise ConfigError(f"logvar_clamp must be (low, high) with low < high, got {config.logvar_clamp}")


def _check_regularisers(config: ModelConfig, backbone: str) -> None:
    """Refuse a dropout rate or an input noise the model cannot apply."""
    if not 0 <= config.dropout < 1:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    if config.dropout and backbone != "mlp":
        raise ConfigError(
            f"dropout follows the hidden layers of a dense (mlp) backbone; this model's backbone is {backbone}: "
            "set dropout: 0, or batch_norm: true to regularise convolutions"
        )
    if not (math.isfinite(config.input_noise) and config.input_noise >= 0):
        raise ConfigError(f"input_noise must be 0 (off) or a positive, finite std, got {config.input_noise}")


def _check_vgg16(config: ModelConfig, input_shape: tuple[int, ...]) -> None:
    """Refuse a VGG16 backbone on anything but RGB images large enough for its blocks."""
    if len(input_shape) != 3 or input_shape[0] != 3:
        raise ConfigError(f"a vgg16 backbone takes RGB images (3, H, W), got input shape {input_shape}")
    if not 1 <= config.vgg_blocks <= 5:
        raise ConfigError(f"vgg_blocks must be 1 to 5 (VGG16 has five blocks), got {config.vgg_blocks}")
    if config.fc:
        raise ConfigError("a vgg16 backbone takes no fc layers: its pooled features feed the bottleneck")
    if min(input_shape[1:]) < 2**config.vgg_blocks:
        raise ConfigError(
            f"{config.vgg_blocks} VGG16 blocks halve the image {config.vgg_blocks} times; "
            f"{input_shape[1]}x{input_shape[2]} is too small"
        )


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """A model configuration as JSON-ready values."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
