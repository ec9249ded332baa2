"""Training checkpoints: the whole training state as tensors (safetensors) plus JSON, never a pickle.

A checkpoint is two files in its folder: ``epoch-<n>.checkpoint.safetensors`` and ``checkpoint.json``, which
is written last and names the tensors' file by its epoch, so a crash mid-write leaves the previous one readable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from aecompare.core.io import atomic_write_bytes, read_file, read_json, write_json
from aecompare.errors import ConfigError, DataError

CHECKPOINT_TENSORS, CHECKPOINT_STATE = "checkpoint.safetensors", "checkpoint.json"


def write_checkpoint(folder: Path, fingerprint: dict, state: dict) -> None:
    """Write ``state`` (nested dicts and lists of tensors and plain values; ``state["history"]`` is the list
    of finished epochs) with the ``fingerprint`` of what produced it."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split_tensors(state, "", tensors)
    epoch = len(state["history"])
    atomic_write_bytes(folder / f"epoch-{epoch}.{CHECKPOINT_TENSORS}", save_safetensors(tensors))
    write_json(folder / CHECKPOINT_STATE, {"fingerprint": fingerprint, "epoch": epoch, "state": skeleton})
    for old in folder.glob(f"epoch-*.{CHECKPOINT_TENSORS}"):
        if old.name != f"epoch-{epoch}.{CHECKPOINT_TENSORS}":
            old.unlink(missing_ok=True)


def read_checkpoint(folder: Path, fingerprint: dict, device: torch.device) -> dict | None:
    """The state written by :func:`write_checkpoint`, or None when there is none; a checkpoint of another
    model, data size or setting is an error rather than a silent restart."""
    if not (folder / CHECKPOINT_STATE).exists():
        return None
    saved = read_json(folder / CHECKPOINT_STATE)
    if not isinstance(saved, dict) or not {"fingerprint", "epoch", "state"} <= set(saved):
        raise DataError(
            f"{folder / CHECKPOINT_STATE} is not a training checkpoint (fingerprint, epoch and state "
            f"expected); delete {folder} to start afresh"
        )
    if saved["fingerprint"] != json.loads(json.dumps(fingerprint)):
        raise ConfigError(
            f"the checkpoint in {folder} belongs to another model, data size or training setting; "
            "delete that folder to start afresh, or restore the settings it was made with"
        )
    tensors_file = folder / f"epoch-{saved['epoch']}.{CHECKPOINT_TENSORS}"
    try:
        tensors = load_safetensors(read_file(tensors_file))
    except Exception as e:  # missing (OSError), truncated or foreign (SafetensorError)
        raise DataError(
            f"{tensors_file} cannot be read ({type(e).__name__}: {e}); the checkpoint is incomplete: "
            f"delete {folder} to start afresh"
        ) from None
    try:
        return _join_tensors(
            saved["state"],
            {k: v.to(device) if k.startswith(("model", "best_state", "optimizers")) else v for k, v in tensors.items()},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(
            f"{folder / CHECKPOINT_STATE} does not match its tensors ({type(e).__name__}: {e}); "
            f"delete {folder} to start afresh"
        ) from None


def _split_tensors(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A nested structure with every tensor replaced by ``{"__tensor__": key}`` (the tensor goes to ``tensors``)."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()  # a copy: views share memory
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _split_tensors(v, f"{key}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_split_tensors(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`_split_tensors` (dict keys keep their types: optimiser states use int keys)."""
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _join_tensors(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_join_tensors(v, tensors) for v in obj]
    return obj
