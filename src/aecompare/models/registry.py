"""The model registry: a name -> the configuration it builds. Papers' models are added here by name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from aecompare.config import from_dict
from aecompare.errors import ConfigError, unknown_name
from aecompare.models.autoencoder import Autoencoder
from aecompare.models.config import ModelConfig


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its description and the config values it sets."""

    description: str
    defaults: dict[str, Any] = field(default_factory=dict)


_TYPES = {
    "ae": ("classical autoencoder", "deterministic"),
    "vae": ("variational autoencoder (Gaussian bottleneck, KL to N(0, I))", "gaussian"),
    "aae": ("adversarial autoencoder (Wasserstein critic on z against N(0, I))", "adversarial"),
}

MODELS: dict[str, ModelEntry] = {}
for _name, (_what, _bottleneck) in _TYPES.items():
    MODELS[_name] = ModelEntry(f"{_what}; convolutional for images, MLP for tables", {"bottleneck": _bottleneck})
    MODELS[f"mlp-{_name}"] = ModelEntry(f"{_what} with an MLP backbone", {"bottleneck": _bottleneck, "backbone": "mlp"})
    MODELS[f"conv-{_name}"] = ModelEntry(f"{_what} with a convolutional backbone (images only)",
                                        {"bottleneck": _bottleneck, "backbone": "conv"})


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


def build_from_config(config: ModelConfig, input_shape: tuple[int, ...]) -> Autoencoder:
    """Build a model from a full configuration, checking that it fits the input's shape."""
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) not in (1, 3) or min(input_shape) < 1:
        raise ConfigError(f"input_shape must be (D,) for tables or (C, H, W) for images, got {input_shape}")
    if config.resolved_backbone(input_shape) == "conv" and len(input_shape) != 3:
        raise ConfigError(f"a convolutional backbone needs images (C, H, W), got input shape {input_shape}; "
                          "use an MLP model (e.g. 'mlp-ae') or the auto backbone ('ae') for tables")
    if config.reconstruction == "bce" and config.resolved_output_activation(input_shape) != "sigmoid":
        raise ConfigError("reconstruction 'bce' needs a sigmoid output (inputs in [0, 1]); "
                          "set output_activation: sigmoid or reconstruction: mse")
    for key in ("latent_dim", "kernel_size", "critic_steps"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key} must be at least 1, got {getattr(config, key)}")
    if any(w < 1 for w in (*config.hidden, *config.channels, *config.fc, *config.critic_hidden)):
        raise ConfigError("layer widths and channel counts must be positive")
    if config.resolved_backbone(input_shape) == "conv" and not config.channels:
        raise ConfigError("a convolutional backbone needs at least one entry in channels")
    if config.strides and (len(config.strides) != len(config.channels) or min(config.strides) < 1):
        raise ConfigError(f"strides needs one positive stride per entry of channels {config.channels}, "
                          f"got {config.strides}")
    lo, hi = config.logvar_clamp
    if not lo < hi:
        raise ConfigError(f"logvar_clamp must be (low, high) with low < high, got {config.logvar_clamp}")
    return Autoencoder(config, input_shape)


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """A model configuration as JSON-ready values."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
