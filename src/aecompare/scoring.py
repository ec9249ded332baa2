"""Scores: a trained model and inputs -> one number per sample, higher = more anomalous.

Scores are deterministic: a VAE is scored through its posterior mean. ``postprocess="heaviside"`` replaces
each sigmoid output by the step of its logit before the error is taken (Patuzzo 2020, for binary images).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from aecompare.errors import ConfigError, unknown_name
from aecompare.models import Autoencoder

POSTPROCESSES = ("none", "heaviside")


def heaviside(recon: torch.Tensor) -> torch.Tensor:
    """Patuzzo's post-processing of sigmoid outputs: the inverse sigmoid, then a step (1 where the logit is
    positive, else 0). Equivalently a threshold at 0.5; an output of exactly 0.5 (logit 0) becomes 0."""
    return (torch.logit(recon) > 0).to(recon.dtype)


@torch.no_grad()
def reconstruct(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none"
                ) -> torch.Tensor:
    """Deterministic reconstructions (N, *input_shape) on the CPU, computed in batches on the model's device.

    Args:
        postprocess: ``"none"``, or ``"heaviside"`` for binary outputs (needs a sigmoid output).
    """
    if postprocess not in POSTPROCESSES:
        raise unknown_name("postprocess", postprocess, POSTPROCESSES)
    if postprocess == "heaviside" and model.config.resolved_output_activation(model.input_shape) != "sigmoid":
        raise ConfigError("heaviside post-processing inverts a sigmoid output, but this model's output is "
                          "linear; use it with images (or output_activation: sigmoid)")
    model.eval()
    device = next(model.parameters()).device
    parts = [model(x[i:i + batch_size].to(device)).recon.cpu() for i in range(0, len(x), batch_size)]
    recon = torch.cat(parts) if parts else torch.empty(0, *model.input_shape)
    return heaviside(recon) if postprocess == "heaviside" else recon


def error_map(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none") -> torch.Tensor:
    """Per-pixel (or per-column) squared reconstruction error, same shape as ``x``."""
    return (reconstruct(model, x, batch_size, postprocess) - x.cpu()).pow(2)


def mse_score(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none") -> np.ndarray:
    """Mean squared reconstruction error per sample (N,)."""
    return error_map(model, x, batch_size, postprocess).flatten(1).mean(1).numpy()


def mae_score(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none") -> np.ndarray:
    """Mean absolute reconstruction error per sample (N,)."""
    return (reconstruct(model, x, batch_size, postprocess) - x.cpu()).abs().flatten(1).mean(1).numpy()


SCORERS: dict[str, Callable[..., np.ndarray]] = {
    "mse": mse_score,
    "mae": mae_score,
}


def score(model: Autoencoder, x: torch.Tensor, method: str = "mse", batch_size: int = 1024,
          postprocess: str = "none") -> np.ndarray:
    """Anomaly scores (N,) by the named method, one of :data:`SCORERS`, after ``postprocess``."""
    if method not in SCORERS:
        raise unknown_name("score", method, SCORERS)
    return SCORERS[method](model, x, batch_size, postprocess)
