"""Saving and loading models as weights (safetensors) plus a JSON config; no pickle anywhere."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from aecompare.core.io import atomic_write_bytes, read_file, read_json, write_json
from aecompare.core.validation import from_dict
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from aecompare.models.autoencoder import Autoencoder
from aecompare.models.config import ModelConfig
from aecompare.models.registry import build_from_config, config_to_dict

WEIGHTS, CONFIG = "model.safetensors", "model.json"
FORMAT_VERSION = 1
WEIGHT_BOUND = 1e12  # a trained weight (or BatchNorm statistic of scaled inputs) lies far below this
MODEL_KEYS = ("format_version", "config", "input_shape")


def save_model(model: Autoencoder, folder: str | Path) -> None:
    """Write ``model.safetensors`` and ``model.json`` (format version, config and input shape) to ``folder``."""
    folder = Path(folder)
    # copies: parameters may be views into one training buffer, and safetensors refuses shared memory
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS, save_safetensors(state))
    write_json(
        folder / CONFIG,
        {
            "format_version": FORMAT_VERSION,
            "config": config_to_dict(model.config),
            "input_shape": list(model.input_shape),
        },
    )


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> Autoencoder:
    """Rebuild a model saved by :func:`save_model` and load its weights, after checking both files.

    Raises:
        DataNotFoundError: when a file is missing.
        DataError: for a config of another format version, missing keys or wrong types, a weights file that is
            truncated or not safetensors, tensors whose names or shapes do not fit the config, or non-finite
            weights. A file that fails any check yields no model, so it can never yield scores.
    """
    folder = Path(folder)
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).exists():
            raise DataNotFoundError(f"no saved model in {folder}: {name} is missing")
    meta = read_json(folder / CONFIG)
    where = folder / CONFIG
    if not isinstance(meta, dict) or set(meta) != set(MODEL_KEYS):
        keys = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise DataError(
            f"{where}: expected exactly the keys {', '.join(MODEL_KEYS)}, found {keys}; the file was "
            "not written by aecompare or was changed"
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise DataError(
            f"{where}: format_version {meta['format_version']!r}, this aecompare reads "
            f"{FORMAT_VERSION}; save the model again with this version"
        )
    shape = meta["input_shape"]
    if (
        not isinstance(shape, list)
        or len(shape) not in (1, 3)
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise DataError(f"{where}: input_shape must be [D] or [C, H, W] of positive integers, got {shape!r}")
    try:
        config = from_dict(ModelConfig, meta["config"], f"{where}: config")
        model = build_from_config(config, tuple(shape), pretrained_weights=False)  # the weights file has them
    except ConfigError as e:
        raise DataError(f"{e} (in a saved model: the file was changed or written by another version)") from None
    model.load_state_dict(read_weights(folder / WEIGHTS, model.state_dict()))
    return model.to(device).eval()


def read_weights(path: Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked against ``expected`` (a state dict): the same names, the same
    shapes, finite values.

    Raises:
        DataError: naming the file and the first problem.
    """
    try:
        tensors = load_safetensors(read_file(path))
    except Exception as e:  # safetensors raises its own SafetensorError for truncated or foreign files
        raise DataError(
            f"{path} is not a readable safetensors file ({type(e).__name__}: {e}); it is truncated "
            "or damaged: train or save the model again"
        ) from None
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise DataError(
            f"{path}: the tensors do not fit the model's config (missing: {missing[:3]}, unexpected: "
            f"{unexpected[:3]}); the weights belong to another model"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise DataError(
                f"{path}: tensor {name!r} has shape {tuple(tensor.shape)}, the config gives "
                f"{tuple(expected[name].shape)}; the weights belong to another model"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise DataError(
                f"{path}: tensor {name!r} holds NaN or infinite values; the model is damaged or "
                "diverged in training: train it again"
            )
        if tensor.is_floating_point() and tensor.numel() and tensor.abs().max() > WEIGHT_BOUND:
            raise DataError(
                f"{path}: tensor {name!r} holds a value beyond {WEIGHT_BOUND:g}, which no trained "
                "model has; the file was changed: train or save the model again"
            )
    return tensors
