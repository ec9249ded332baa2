"""The generation study's spec (``study: generate``, and ``aecompare generate``): a VAE on a folder of images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aecompare.core.validation import check_int, from_dict
from aecompare.data.images import ON_ERROR
from aecompare.errors import ConfigError
from aecompare.models.registry import MODELS, model_config
from aecompare.studies.specfile import read_spec
from aecompare.train import TrainConfig

KEYS = (
    "name",
    "study",
    "description",
    "images",
    "image_size",
    "model",
    "train",
    "seed",
    "val_fraction",
    "grid",
    "on_error",
    "stream_above_mb",
)


@dataclass(frozen=True)
class GenerationSpec:
    """A validated generation study."""

    name: str
    description: str
    images: str  # a folder of images: absolute, or relative to the data directory
    image_size: int = 128
    model: str = "fiorino-face-vae"
    model_params: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = TrainConfig()
    seed: int = 0
    val_fraction: float = 0.1  # held-out images: early stopping, checkpoint choice, the reconstructions shown
    grid: int = 8  # the sample grid is grid x grid
    on_error: str = "raise"  # or "skip": leave unreadable image files out with a warning
    # folders whose decoded bytes exceed this stream from an on-disk cache instead of memory (CelebA at 128x128:
    # ~10 GB); 0 always streams
    stream_above_mb: int = 2048


def load_generation_spec(name_or_path: str | Path, overrides: list[str] | None = None) -> GenerationSpec:
    """Load and validate a generation study; ``overrides`` as for :func:`~aecompare.studies.grid.spec.load_spec`
    (``images=DIR``, ``train.epochs=5``, ``model.latent_dim=64``)."""
    raw, where = read_spec(name_or_path, KEYS, overrides)
    model = dict(raw.get("model") or {})
    name = model.pop("name", "fiorino-face-vae")
    if name not in MODELS:
        raise ConfigError(f"{where}: model: unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    config = model_config(name, **model)  # checks the overrides now, not after decoding the images
    if config.bottleneck != "gaussian":
        raise ConfigError(f"{where}: generation samples from the prior, so the model must be a VAE; {name!r} is not")
    spec = GenerationSpec(
        name=str(raw.get("name") or Path(where).stem),
        description=str(raw.get("description", "")),
        images=str(raw.get("images", "")),
        image_size=raw.get("image_size", 128),
        model=name,
        model_params=model,
        train=from_dict(TrainConfig, raw.get("train"), f"{where}: train"),
        seed=raw.get("seed", 0),
        val_fraction=raw.get("val_fraction", 0.1),
        grid=raw.get("grid", 8),
        on_error=raw.get("on_error", "raise"),
        stream_above_mb=raw.get("stream_above_mb", 2048),
    )
    if not spec.images:
        raise ConfigError(f"{where}: images must name a folder of images (--images DIR)")
    for key, least in (("image_size", 4), ("seed", 0), ("grid", 1), ("stream_above_mb", 0)):
        check_int(getattr(spec, key), f"{where}: {key}", least)
    if not isinstance(spec.val_fraction, (int, float)) or not 0.0 <= spec.val_fraction < 1.0:
        raise ConfigError(f"{where}: val_fraction must be in [0, 1), got {spec.val_fraction!r}")
    if spec.on_error not in ON_ERROR:
        raise ConfigError(f"{where}: on_error must be one of {', '.join(ON_ERROR)}, got {spec.on_error!r}")
    return spec
