"""Looks inside a trained autoencoder (Patuzzo 2020): the decoder's response as the bottleneck sweeps, where
each output pixel flips, the weights from the bottleneck into each output, and the codes' spread.

Everything here computes from a trained model and arrays; the figures are drawn by :mod:`aecompare.report.figures`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aecompare.core.runtime import batched
from aecompare.errors import ConfigError
from aecompare.models import Autoencoder


@dataclass
class Sweep:
    """The decoder's outputs as one bottleneck unit moves and the others stay at the codes' mean."""

    z: np.ndarray  # (K,) values of the swept unit
    outputs: np.ndarray  # (K, D) sigmoid outputs, flattened
    flips: list[np.ndarray]  # per output: the z values where it crosses 0.5 (linear interpolation)


@torch.no_grad()
def bottleneck_sweep(
    model: Autoencoder, low: float, high: float, steps: int = 401, unit: int = 0, base: np.ndarray | None = None
) -> Sweep:
    """Decode codes whose ``unit`` runs from ``low`` to ``high`` (Patuzzo's Figs. 4-8).

    Args:
        model: a trained autoencoder.
        low, high: the sweep's range (e.g. the training codes' range, widened a little).
        steps: how many codes.
        unit: which bottleneck unit moves.
        base: (latent_dim,) the other units' values; zeros when None.
    """
    latent = model.config.latent_dim
    if not 0 <= unit < latent:
        raise ConfigError(f"unit must be in 0..{latent - 1} for a {latent}-unit bottleneck, got {unit}")
    if not low < high or steps < 2:
        raise ConfigError(f"a sweep needs low < high and at least 2 steps, got {low}, {high}, {steps}")
    model.eval()
    z = np.linspace(low, high, steps, dtype=np.float32)
    codes = np.tile(np.zeros(latent, np.float32) if base is None else np.asarray(base, np.float32), (steps, 1))
    codes[:, unit] = z
    device = next(model.parameters()).device
    outputs = model.decode(torch.from_numpy(codes).to(device)).flatten(1).cpu().numpy()  # (K, D)
    return Sweep(z=z, outputs=outputs, flips=flip_points(z, outputs))


def flip_points(z: np.ndarray, outputs: np.ndarray, level: float = 0.5) -> list[np.ndarray]:
    """For each output column, the z values where it crosses ``level`` (linear interpolation between steps)."""
    above = outputs > level  # (K, D)
    flips = []
    for d in range(outputs.shape[1]):
        k = np.flatnonzero(above[1:, d] != above[:-1, d])  # crossing between k and k + 1
        y0, y1 = outputs[k, d], outputs[k + 1, d]
        flips.append(z[k] + (level - y0) / (y1 - y0) * (z[k + 1] - z[k]))
    return flips


def decoder_linears(model: Autoencoder) -> list[nn.Linear]:
    """The MLP decoder's linear layers, bottleneck side first (L3, L4 in Patuzzo's numbering)."""
    if model.config.resolved_backbone(model.input_shape) != "mlp":
        raise ConfigError("the weights into each output are drawn for MLP decoders (e.g. patuzzo-a1)")
    return [m for m in model.decoder.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def output_logit(model: Autoencoder, z: np.ndarray, output: int) -> np.ndarray:
    """One output neuron's pre-sigmoid value for one-unit codes z (K,): the piecewise-linear function
    whose sign the Heaviside approximation reads."""
    layers = decoder_linears(model)
    h = torch.from_numpy(np.asarray(z, np.float32)).reshape(-1, 1)
    for layer in layers[:-1]:
        h = torch.relu(layer(h))
    last = layers[-1]
    return (h @ last.weight[output] + last.bias[output]).numpy()


@torch.no_grad()
def encode_codes(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Deterministic codes of ``x``: ``mu`` (N, L), and for a VAE ``std`` (N, L), the posterior spread."""
    model.eval()
    device = next(model.parameters()).device
    codes = batched(lambda xb: model.encode(xb, sample=False), x, model.input_shape, batch_size, device)
    out = {"mu": torch.cat([c.mu.cpu() for c in codes]).numpy()}
    if codes and codes[0].logvar is not None:
        out["std"] = torch.cat([torch.exp(0.5 * c.logvar).cpu() for c in codes]).numpy()
    return out


def sweep_range(mu: np.ndarray, unit: int = 0, margin: float = 0.15) -> tuple[float, float]:
    """The training codes' range on ``unit``, widened by ``margin`` of its width on each side."""
    low, high = float(mu[:, unit].min()), float(mu[:, unit].max())
    pad = margin * max(high - low, 1e-3)
    return low - pad, high + pad
