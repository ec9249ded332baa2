"""Saving and loading models as weights (safetensors) plus a JSON config; no pickle anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from aecompare.core.io import atomic_write_bytes, read_json, write_json
from aecompare.core.validation import from_dict
from aecompare.errors import DataNotFoundError
from aecompare.models.autoencoder import Autoencoder
from aecompare.models.config import ModelConfig
from aecompare.models.registry import build_from_config, config_to_dict

WEIGHTS, CONFIG = "model.safetensors", "model.json"
FORMAT_VERSION = 1


def save_model(model: Autoencoder, folder: str | Path, **extra: Any) -> None:
    """Write ``model.safetensors`` and ``model.json`` (config, input shape and ``extra`` values) to ``folder``."""
    folder = Path(folder)
    # copies: parameters may be views into one training buffer, and safetensors refuses shared memory
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS, save_safetensors(state))
    write_json(folder / CONFIG, {"format_version": FORMAT_VERSION, "config": config_to_dict(model.config),
                                 "input_shape": list(model.input_shape), **extra})


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> Autoencoder:
    """Rebuild a model saved by :func:`save_model` and load its weights."""
    folder = Path(folder)
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).exists():
            raise DataNotFoundError(f"no saved model in {folder}: {name} is missing")
    meta = read_json(folder / CONFIG)
    config = from_dict(ModelConfig, meta["config"], f"{folder / CONFIG}: config")
    model = build_from_config(config, tuple(meta["input_shape"]), pretrained_weights=False)  # the file has them
    with open(folder / WEIGHTS, "rb") as f:
        model.load_state_dict(load_safetensors(f.read()))
    return model.to(device).eval()
