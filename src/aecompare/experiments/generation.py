"""Generation (``study: generate`` in a spec, and ``aecompare generate``): train a VAE on a folder of images,
then write samples from the prior, reconstructions and a latent interpolation (Fiorino, Sec. 2).

Training checkpoints after every epoch into the output folder, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aecompare.config import from_dict, to_dict
from aecompare.data.dataset import locate, resolve_data_dir
from aecompare.data.images import ON_ERROR, list_images, read_images
from aecompare.errors import ConfigError, DataNotFoundError
from aecompare.experiments.spec import apply_overrides, read_spec_mapping
from aecompare.models import build_model, config_to_dict, save_model
from aecompare.models.registry import MODELS, model_config
from aecompare.report import figures
from aecompare.training import TrainConfig, fit
from aecompare.utils import read_json, seed_everything, write_json

KEYS = ("name", "study", "description", "images", "image_size", "model", "train", "seed", "val_fraction", "grid",
        "on_error")
CHECKPOINT = "checkpoint"


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


def load_generation_spec(name_or_path: str | Path, overrides: list[str] | None = None) -> GenerationSpec:
    """Load and validate a generation study; ``overrides`` as for :func:`~aecompare.experiments.load_spec`
    (``images=DIR``, ``train.epochs=5``, ``model.latent_dim=64``)."""
    raw, where = read_spec_mapping(name_or_path, KEYS)
    raw = apply_overrides(raw, overrides or [])
    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(KEYS)}")
    model = dict(raw.get("model") or {})
    name = model.pop("name", "fiorino-face-vae")
    if name not in MODELS:
        raise ConfigError(f"{where}: model: unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    config = model_config(name, **model)  # checks the overrides now, not after decoding the images
    if config.bottleneck != "gaussian":
        raise ConfigError(f"{where}: generation samples from the prior, so the model must be a VAE; {name!r} is not")
    spec = GenerationSpec(
        name=str(raw.get("name") or Path(where).stem), description=str(raw.get("description", "")),
        images=str(raw.get("images", "")), image_size=raw.get("image_size", 128), model=name, model_params=model,
        train=from_dict(TrainConfig, raw.get("train"), f"{where}: train"), seed=raw.get("seed", 0),
        val_fraction=raw.get("val_fraction", 0.1), grid=raw.get("grid", 8), on_error=raw.get("on_error", "raise"))
    if not spec.images:
        raise ConfigError(f"{where}: images must name a folder of images (--images DIR)")
    for key, least in (("image_size", 4), ("seed", 0), ("grid", 1)):
        value = getattr(spec, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{where}: {key} must be an integer of at least {least}, got {value!r}")
    if not isinstance(spec.val_fraction, (int, float)) or not 0.0 <= spec.val_fraction < 1.0:
        raise ConfigError(f"{where}: val_fraction must be in [0, 1), got {spec.val_fraction!r}")
    if spec.on_error not in ON_ERROR:
        raise ConfigError(f"{where}: on_error must be one of {', '.join(ON_ERROR)}, got {spec.on_error!r}")
    return spec


def run_generation(spec: GenerationSpec, folder: str | Path, data_dir: str | Path | None = None,
                   progress: bool | None = None) -> Path:
    """Train ``spec``'s VAE on its image folder and write the model, the figures and ``summary.json`` to
    ``folder``; resumes from ``folder/checkpoint`` when a run was interrupted. Returns ``folder``."""
    folder = Path(folder)
    source = locate(spec.images, data_dir)
    if not source.is_dir():
        raise DataNotFoundError(f"image folder {spec.images} not found (as given, or under the data directory "
                                f"{resolve_data_dir(data_dir)}); pass --images DIR with a folder of image files")
    paths = list_images(source)
    pixels, kept = read_images(paths, spec.image_size, spec.on_error)  # decoded once: uint8 (N, 3, S, S)
    if len(kept) < 2:
        raise ConfigError(f"{source} has {len(kept)} readable image(s); generation needs at least 2")
    x = torch.from_numpy(pixels).float().div_(255.0)
    order = np.random.default_rng(spec.seed).permutation(len(x))
    n_val = min(int(round(spec.val_fraction * len(x))), len(x) - 1)
    x_val, x_train = x[order[:n_val]], x[order[n_val:]]
    write_json(folder / "experiment.json", {"name": spec.name, "study": "generate", "description": spec.description,
                                            "images": str(source), "image_size": spec.image_size,
                                            "models": [{"name": spec.model, **spec.model_params}],
                                            "train": to_dict(spec.train), "seed": spec.seed})

    seed_everything(spec.seed)  # weight initialisation
    model = build_model(spec.model, tuple(x.shape[1:]), **spec.model_params)
    result = fit(model, x_train, x_val, spec.train, seed=spec.seed, progress=progress,
                 checkpoint_dir=folder / CHECKPOINT)
    save_model(model.cpu(), folder / "model")
    write_json(folder / "history.json", result.history)

    shown = x_val if len(x_val) else x_train
    with torch.no_grad():
        model.eval()
        g = torch.Generator().manual_seed(spec.seed)
        samples = model.decode(torch.randn(spec.grid * spec.grid, model.config.latent_dim, generator=g))
        originals = shown[:spec.grid]
        recon = model(originals).recon
        ends = model.encode(shown[:2] if len(shown) > 1 else x[:2]).mu  # posterior means of two images
        steps = torch.linspace(0.0, 1.0, 10)[:, None]
        strip = model.decode((1 - steps) * ends[0] + steps * ends[1])
    fig_dir = folder / "figures"
    figures.image_grid(samples.numpy(), spec.grid, fig_dir / "samples.png")
    figures.image_grid(torch.cat([originals, recon]).numpy(), len(originals), fig_dir / "reconstructions.png")
    figures.image_grid(strip.numpy(), len(strip), fig_dir / "interpolation.png")
    figures.training_curves({spec.model: result.history}, fig_dir / "training.png")
    write_json(folder / "summary.json", {
        "images": len(kept), "unreadable": len(paths) - len(kept), "n_train": len(x_train), "n_val": len(x_val),
        "image_size": spec.image_size, "model": spec.model, "model_config": config_to_dict(model.config),
        "epochs_run": len(result.history), "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
        "train_seconds": result.train_seconds, "collapsed": result.collapsed})
    return folder


def read_summary(folder: Path) -> dict[str, Any]:
    """A finished generation run's summary (for the report)."""
    if not (folder / "summary.json").exists():
        raise DataNotFoundError(f"no finished generation run in {folder}; run it first")
    return read_json(folder / "summary.json")
