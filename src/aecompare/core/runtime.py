"""Seeding, the device to run on, and batched inference without gradients."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from aecompare.errors import ConfigError

ELEMENT_BUDGET = 2**24  # input values per inference batch: 64 MB of float32, whatever the image size


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


DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the one asked for, else CUDA when present, else the CPU.

    Raises:
        ConfigError: for a device torch does not know, or one this machine does not have.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown device {device!r}; choose one of: {', '.join(DEVICE_NAMES)}") from None
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {device!r} is not supported; choose one of: {', '.join(DEVICE_NAMES)}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} asks for CUDA, but this machine has no usable CUDA GPU (torch "
            f"{torch.__version__}); use device: cpu, or auto to take a GPU where there is one"
        )
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} asks for Apple's MPS, which this machine does not have; use cpu")
    return resolved


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the body with one torch CPU thread, as every run of a grid does whatever the pool size: the same
    seed then gives the same numbers with 1 worker or N (a reduction split over threads sums in another order)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def batched(
    fn: Callable[[torch.Tensor], torch.Tensor | dict[str, torch.Tensor]],
    x: torch.Tensor,
    sample_shape: tuple[int, ...],
    requested: int = 1024,
    device: torch.device | None = None,
) -> list:
    """Apply ``fn`` without gradients to ``x`` in batches of :func:`inference_rows` samples, each moved to
    ``device`` first (None: where ``x`` is); returns the list of ``fn``'s results, one per batch, in order.

    The one inference loop of aecompare: scores, reconstructions, validation losses and codes all use it.
    """
    rows = inference_rows(sample_shape, requested)
    return [fn(x[i : i + rows] if device is None else x[i : i + rows].to(device)) for i in range(0, len(x), rows)]
