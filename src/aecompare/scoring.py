"""Scores: a trained model and inputs -> one number per sample, higher = more anomalous.

Scores are deterministic: a VAE is scored through its posterior mean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from aecompare.errors import unknown_name
from aecompare.models import Autoencoder


@torch.no_grad()
def reconstruct(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Deterministic reconstructions (N, *input_shape) on the CPU, computed in batches on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    parts = [model(x[i:i + batch_size].to(device)).recon.cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, *model.input_shape)


def error_map(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Per-pixel (or per-column) squared reconstruction error, same shape as ``x``."""
    return (reconstruct(model, x, batch_size) - x.cpu()).pow(2)


def mse_score(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Mean squared reconstruction error per sample (N,)."""
    return error_map(model, x, batch_size).flatten(1).mean(1).numpy()


def mae_score(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Mean absolute reconstruction error per sample (N,)."""
    return (reconstruct(model, x, batch_size) - x.cpu()).abs().flatten(1).mean(1).numpy()


SCORERS: dict[str, Callable[[Autoencoder, torch.Tensor, int], np.ndarray]] = {
    "mse": mse_score,
    "mae": mae_score,
}


def score(model: Autoencoder, x: torch.Tensor, method: str = "mse", batch_size: int = 1024) -> np.ndarray:
    """Anomaly scores (N,) by the named method, one of :data:`SCORERS`."""
    if method not in SCORERS:
        raise unknown_name("score", method, SCORERS)
    return SCORERS[method](model, x, batch_size)
