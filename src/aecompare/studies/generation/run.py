"""Generation (``study: generate`` in a spec, and ``aecompare generate``): train a VAE on a folder of images,
then write samples from the prior, reconstructions and a latent interpolation (Fiorino, Sec. 2).

Training checkpoints after every epoch into the output folder, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from aecompare.core.io import OutputLock, read_json, write_json
from aecompare.core.runtime import seed_everything
from aecompare.core.validation import to_dict
from aecompare.data.cache import DiskImages, cached_images
from aecompare.data.dataset import locate, resolve_data_dir
from aecompare.data.images import list_images, read_images
from aecompare.data.split import validation_split
from aecompare.errors import ConfigError, DataNotFoundError
from aecompare.models import Autoencoder, build_model, config_to_dict, save_model
from aecompare.report import figures
from aecompare.report.document import FIGURES
from aecompare.runs.folder import EXPERIMENT, HISTORY
from aecompare.studies.generation.spec import GenerationSpec
from aecompare.train import fit
from aecompare.train.distributed import is_main, world

CHECKPOINT, MODEL, SUMMARY = "checkpoint", "model", "summary.json"
INPUT = "input.json"  # the image folder this output folder holds a run on


def run_generation(
    spec: GenerationSpec, folder: str | Path, data_dir: str | Path | None = None, progress: bool | None = None
) -> Path:
    """Train ``spec``'s VAE on its image folder and write the model, the figures and ``summary.json`` to
    ``folder``; resumes from ``folder/checkpoint`` when a run was interrupted. Returns ``folder``."""
    folder = Path(folder)
    x, n_files, source = _read_folder(spec, data_dir)  # (N, 3, S, S) in [0, 1], in memory or on disk
    x_train, x_val = _split(x, spec)
    writer = is_main()  # under torchrun every process trains, one writes
    with OutputLock(folder) if writer else nullcontext():
        if writer:
            _claim(folder, source)
        seed_everything(spec.seed)  # weight initialisation
        model = build_model(spec.model, tuple(x.shape[1:]), **spec.model_params)
        result = fit(
            model, x_train, x_val, spec.train, seed=spec.seed, progress=progress, checkpoint_dir=folder / CHECKPOINT
        )
        if not writer:
            return folder
        write_json(
            folder / EXPERIMENT,
            {
                "name": spec.name,
                "study": "generate",
                "description": spec.description,
                "images": str(source),
                "image_size": spec.image_size,
                "models": [{"name": spec.model, **spec.model_params}],
                "train": to_dict(spec.train),
                "seed": spec.seed,
            },
        )
        save_model(model.cpu(), folder / MODEL)
        write_json(folder / HISTORY, result.history)
        _write_figures(spec, model, x_val if len(x_val) else x_train, x, folder / FIGURES)
        figures.write_training_curves({spec.model: result.history}, folder / FIGURES / "training.png")
        write_json(
            folder / SUMMARY,
            {
                "images": len(x),
                "unreadable": n_files - len(x),
                "n_train": len(x_train),
                "n_val": len(x_val),
                "streamed": isinstance(x, DiskImages),
                "image_size": spec.image_size,
                "model": spec.model,
                "model_config": config_to_dict(model.config),
                "epochs_run": len(result.history),
                "best_epoch": result.best_epoch,
                "best_val_loss": result.best_val_loss,
                "train_seconds": result.train_seconds,
                "collapsed": result.collapsed,
                "diverged": result.diverged,
                "processes": world()[1],
            },
        )
    return folder


def _split(x: Any, spec: GenerationSpec) -> tuple[Any, Any]:
    """The seeded training and validation parts of the images (tensors, or views of the on-disk cache)."""
    train_idx, val_idx = validation_split(len(x), spec.val_fraction, spec.seed)
    if isinstance(x, DiskImages):
        return x.subset(train_idx), x.subset(val_idx)
    return x[train_idx], x[val_idx]


def _claim(folder: Path, source: Path) -> None:
    """Record which image folder ``folder`` holds a run on, refusing a folder that holds another's: its checkpoint
    would otherwise be resumed on different images of the same count.

    Raises:
        ConfigError: when ``folder`` holds a run on another image folder.
    """
    path, mine = folder / INPUT, str(source.resolve())
    if path.exists():
        other = read_json(path).get("images")
        if other != mine:
            raise ConfigError(
                f"{folder} holds a generation run on {other}, not {mine}; pass another --output (or delete the "
                "folder to start over)"
            )
    else:
        write_json(path, {"images": mine})


def _read_folder(spec: GenerationSpec, data_dir: str | Path | None) -> tuple[Any, int, Path]:
    """The spec's images (N, 3, S, S) in [0, 1] — a tensor, or :class:`DiskImages` streamed from the on-disk
    cache when their bytes exceed ``stream_above_mb`` — how many files were found, and the folder."""
    source = locate(spec.images, data_dir)
    if not source.is_dir():
        raise DataNotFoundError(
            f"image folder {spec.images} not found (as given, or under the data directory "
            f"{resolve_data_dir(data_dir)}); pass --images DIR with a folder of image files"
        )
    paths = list_images(source)
    if len(paths) * 3 * spec.image_size**2 > spec.stream_above_mb * 2**20:
        images, kept = cached_images(paths, spec.image_size, spec.on_error)
    else:
        pixels, kept = read_images(paths, spec.image_size, spec.on_error)  # decoded once: uint8
        images = torch.from_numpy(pixels).float().div_(255.0)
    if len(kept) < 2:
        raise ConfigError(f"{source} has {len(kept)} readable image(s); generation needs at least 2")
    return images, len(paths), source


@torch.no_grad()
def _write_figures(
    spec: GenerationSpec, model: Autoencoder, shown: torch.Tensor, x: torch.Tensor, fig_dir: Path
) -> None:
    """Samples from the prior, held-out images with their reconstructions, and a latent interpolation."""
    model.eval()
    g = torch.Generator().manual_seed(spec.seed)
    samples = model.decode(torch.randn(spec.grid * spec.grid, model.config.latent_dim, generator=g))
    originals = shown[: spec.grid]
    recon = model(originals).recon
    ends = model.encode(shown[:2] if len(shown) > 1 else x[:2]).mu  # posterior means of two images
    steps = torch.linspace(0.0, 1.0, 10)[:, None]
    strip = model.decode((1 - steps) * ends[0] + steps * ends[1])
    figures.write_image_grid(samples.numpy(), spec.grid, fig_dir / "samples.png")
    figures.write_image_grid(torch.cat([originals, recon]).numpy(), len(originals), fig_dir / "reconstructions.png")
    figures.write_image_grid(strip.numpy(), len(strip), fig_dir / "interpolation.png")


def read_summary(folder: Path) -> dict[str, Any]:
    """A finished generation run's summary (for the report)."""
    if not (folder / SUMMARY).exists():
        raise DataNotFoundError(f"no finished generation run in {folder}; run it first")
    return read_json(folder / SUMMARY)
