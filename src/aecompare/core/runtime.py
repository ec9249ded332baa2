"""Seeding, the device to run on, and batched inference without gradients."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import torch

ELEMENT_BUDGET = 2 ** 24  # input values per inference batch: 64 MB of float32, whatever the image size


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same for batch order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def inference_rows(sample_shape: tuple[int, ...], requested: int = 1024) -> int:
    """How many samples of ``sample_shape`` to push through a network at once without gradients: ``requested``,
    or fewer for large images (1024 MNIST digits, but 85 images of 256 x 256 x 3), so activations stay bounded
    on any device."""
    size = 1
    for s in sample_shape:
        size *= int(s)
    return max(1, min(requested, ELEMENT_BUDGET // max(1, size)))


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the one asked for, else CUDA when present, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor | dict[str, torch.Tensor]], x: torch.Tensor,
            sample_shape: tuple[int, ...], requested: int = 1024,
            device: torch.device | None = None) -> list:
    """Apply ``fn`` without gradients to ``x`` in batches of :func:`inference_rows` samples, each moved to
    ``device`` first (None: where ``x`` is); returns the list of ``fn``'s results, one per batch, in order.

    The one inference loop of aecompare: scores, reconstructions, validation losses and codes all use it.
    """
    rows = inference_rows(sample_shape, requested)
    return [fn(x[i:i + rows] if device is None else x[i:i + rows].to(device)) for i in range(0, len(x), rows)]
