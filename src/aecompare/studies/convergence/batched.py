"""Patuzzo's convergence study: train one small MLP autoencoder from many seeds at once and ask why some get stuck.

Every seed's model is built exactly as a single run builds it (same seeding, same initialisation), then the
seeds' weights are stacked along a leading axis and trained as one batched tensor program: each layer is one
``baddbmm`` over all seeds, and the loss is the sum of the seeds' losses, so each seed's gradient is its own
and Adam (elementwise) updates each seed as if it were trained alone.

Each run is then classified by its final loss level (0, 1/16, 1/8, 1/4 or other, in mean squared error per
pixel) and diagnosed from its initial weights: which inputs the network could not tell apart before training
began.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aecompare.core.runtime import seed_everything
from aecompare.errors import ConfigError, TrainingError
from aecompare.models import Autoencoder, ModelConfig, build_model
from aecompare.train.losses import objective_terms

# MSE per pixel of the solutions training ends in, on the 2x2 set (4 images x 4 pixels):
LEVELS = {
    "0": 0.0,  # optimal: every image reconstructed
    "1/16": 1 / 16,  # two images averaged where they differ (2 pixels at 0.5): "two gray pixels"
    "1/12": 1 / 12,  # one L3 unit dead: three images share a flat stretch, two pixels at 1/3 or 2/3 (not in the paper)
    "1/8": 1 / 8,  # two pairs averaged, or two complementary images
    "1/4": 1 / 4,  # every output 0.5: "all gray"
}
LEVEL_TOLERANCE = 1 / 128  # well inside the smallest gap between levels (1/12 - 1/16 = 1/48)
OTHER = "other"
CAUSES = (
    "every input kills L1",  # all L1 activations zero for every input: one code for all, all gray
    "L2 and L3 weights of opposite signs",  # z has one sign and every L3 unit is dead for it: all gray
    "L3 dead for every input",  # the same end by another path
    "two inputs share their L1 activations",  # exactly one pair merged: two images averaged (the paper's
    # example is two inputs that every L1 unit ignores; with zero biases that is the only way to share)
    "more inputs share their L1 activations",  # two pairs, or three inputs, merged
    "none at initialisation",  # nothing merged at the start; whatever went wrong happened in training
)


@dataclass
class BatchedMLP:
    """S MLP autoencoders of one architecture as stacked weights.

    ``weights[k]`` is (S, in, out) and ``biases[k]`` (S, out) for the k-th linear layer in data order:
    encoder layers, the bottleneck (for a VAE the mean and then the log-variance layer), decoder layers.
    """

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    n_encoder: int  # encoder layers before the bottleneck
    config: ModelConfig  # the models' shared configuration: the loss is computed from it as training does

    @property
    def gaussian(self) -> bool:
        """Whether the models are VAEs."""
        return self.config.bottleneck == "gaussian"

    @classmethod
    def from_models(cls, models: list[Autoencoder]) -> BatchedMLP:
        """Stack the weights of MLP autoencoders that share one configuration."""
        first = models[0]
        if first.config.resolved_backbone(first.input_shape) != "mlp" or first.critic is not None:
            raise ConfigError("the batched trainer takes MLP autoencoders (AE or VAE), e.g. patuzzo-a1 or patuzzo-a2")
        if first.config.activation != "relu" or first.config.resolved_output_activation(first.input_shape) != "sigmoid":
            raise ConfigError(
                "the batched trainer implements relu hidden layers and a sigmoid output (Patuzzo's A1/A2)"
            )
        if first.config.regularised:
            raise ConfigError(
                "the batched trainer has no dropout, batch normalisation or input noise; set dropout: 0, "
                "batch_norm: false and input_noise: 0"
            )
        if first.gaussian_decoder or first.config.reconstruction == "gaussian_nll":
            raise ConfigError(
                "the batched trainer has no Gaussian decoder; use decoder_output: mean with a "
                "reconstruction loss of mse, bce or rmse"
            )
        per_model = [_linear_layers(m) for m in models]
        weights = [
            torch.stack([layers[k].weight.detach().T for layers in per_model]).contiguous()
            for k in range(len(per_model[0]))
        ]
        biases = [
            torch.stack([layers[k].bias.detach() for layers in per_model]).contiguous()
            for k in range(len(per_model[0]))
        ]
        return cls(weights, biases, len(first.config.hidden), first.config)

    @property
    def n_seeds(self) -> int:
        return self.weights[0].shape[0]

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def requires_grad_(self) -> BatchedMLP:
        for p in self.parameters():
            p.requires_grad_(True)
        return self

    def _layer(self, k: int, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.biases[k].unsqueeze(1), h, self.weights[k])  # (S, B, out)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor]]:
        """(S, B, D) -> the code mean (S, B, L), the log-variance or None, and each L1.. activation."""
        h, hidden = x, []
        for k in range(self.n_encoder):
            h = torch.relu(self._layer(k, h))
            hidden.append(h)
        mu = self._layer(self.n_encoder, h)
        logvar = self._layer(self.n_encoder + 1, h).clamp(*self.config.logvar_clamp) if self.gaussian else None
        return mu, logvar, hidden

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(S, B, L) -> output logits (S, B, D) and each decoder hidden activation."""
        start = self.n_encoder + (2 if self.gaussian else 1)
        h, hidden = z, []
        for k in range(start, len(self.weights) - 1):
            h = torch.relu(self._layer(k, h))
            hidden.append(h)
        return self._layer(len(self.weights) - 1, h), hidden

    def loss(self, x: torch.Tensor, noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-seed training loss (S,), computed by the training loop's own loss code
        (:func:`aecompare.train.losses.objective_terms`: reconstruction kind, weight, reduction and ``beta`` from
        the models' config), and reconstruction MSE per pixel (S,) of a batch x (B, D).

        ``noise`` (S, B, L) draws z = mu + exp(logvar / 2) * noise for a VAE; None uses z = mu.
        """
        xs = x.expand(self.n_seeds, *x.shape)
        mu, logvar, _ = self.encode(xs)
        z = mu if logvar is None or noise is None else mu + torch.exp(0.5 * logvar) * noise
        recon = torch.sigmoid(self.decode(z)[0])  # (S, B, D)
        terms = objective_terms(self.config, xs, recon, mu, logvar, batch_dims=2)  # each (S, B)
        mse = (recon - xs).pow(2).mean((1, 2))
        return terms["total"].mean(1), mse


def _linear_layers(model: Autoencoder) -> list[nn.Linear]:
    """The linear layers in data order; for a VAE the mean layer precedes the log-variance layer."""
    bottleneck = (
        [model.bottleneck.mu, model.bottleneck.logvar]
        if model.config.bottleneck == "gaussian"
        else [model.bottleneck.proj]
    )
    encoder = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)]
    decoder = [m for m in model.decoder.modules() if isinstance(m, nn.Linear)]
    return [*encoder, *bottleneck, *decoder]


def build_seeds(name: str, input_shape: tuple[int, ...], seeds: list[int], **overrides) -> BatchedMLP:
    """The registered model ``name`` initialised from each seed exactly as a single run does, stacked."""
    models = []
    for seed in seeds:
        seed_everything(seed)
        models.append(build_model(name, input_shape, **overrides))
    return BatchedMLP.from_models(models)


@dataclass
class BatchedResult:
    """What batched training gives per seed."""

    history: np.ndarray  # (epochs, S) training loss per epoch, as ``fit`` records it (mean over the epoch)
    final_mse: np.ndarray  # (S,) deterministic reconstruction MSE per pixel on the training set (z = mean)
    sampled_mse: np.ndarray | None  # (S,) a VAE's MSE with z sampled, one draw per image
    code_std: np.ndarray | None  # (S,) a VAE's median posterior standard deviation over the training set
    seconds: float


def train_batched(
    net: BatchedMLP, x: torch.Tensor, *, epochs: int, lr: float, batch_size: int | None = None, seed: int = 0
) -> BatchedResult:
    """Train every seed of ``net`` in place with Adam on the same data and batches.

    Args:
        net: stacked models (see :func:`build_seeds`).
        x: training inputs (N, *input_shape).
        epochs: passes over the data.
        lr: Adam's learning rate.
        batch_size: None for full batches (one step per epoch).
        seed: seeds the batch order and the VAE noise, shared by all seeds' runs.

    Raises:
        TrainingError: when a loss becomes NaN or infinite (names the epoch and the first bad seed).
    """
    x = x.reshape(len(x), -1).float()
    n = len(x)
    batch_size = batch_size or n
    generator = torch.Generator().manual_seed(seed)
    net.requires_grad_()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    latent = net.weights[net.n_encoder].shape[2]
    history = np.empty((epochs, net.n_seeds))
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator) if batch_size < n else torch.arange(n)
        total = torch.zeros(net.n_seeds)
        for i in range(0, n, batch_size):
            xb = x[order[i : i + batch_size]]
            noise = torch.randn(net.n_seeds, len(xb), latent, generator=generator) if net.gaussian else None
            per_seed, _ = net.loss(xb, noise)
            optimizer.zero_grad(set_to_none=True)
            per_seed.sum().backward()  # seeds share no weights: each gets its own gradient
            optimizer.step()
            total += per_seed.detach() * len(xb)
        history[epoch] = (total / n).numpy()
        if not np.isfinite(history[epoch]).all():
            bad = int(np.flatnonzero(~np.isfinite(history[epoch]))[0])
            raise TrainingError(
                f"the loss of seed index {bad} became {history[epoch, bad]} at epoch {epoch + 1}; "
                f"try a lower learning rate (lr is {lr:g})"
            )
    seconds = time.perf_counter() - start
    with torch.no_grad():
        _, final_mse = net.loss(x, None)
        sampled_mse = code_std = None
        if net.gaussian:
            noise = torch.randn(net.n_seeds, n, latent, generator=generator)
            sampled_mse = net.loss(x, noise)[1].numpy()
            _, logvar, _ = net.encode(x.expand(net.n_seeds, *x.shape))
            code_std = torch.exp(0.5 * logvar).flatten(1).median(1).values.numpy()
    return BatchedResult(history, final_mse.numpy(), sampled_mse, code_std, seconds)


def classify_outcomes(final_mse: np.ndarray) -> np.ndarray:
    """Each run's loss level: the name in :data:`LEVELS` within :data:`LEVEL_TOLERANCE`, else ``"other"``."""
    final_mse = np.asarray(final_mse, dtype=float)
    names = np.array(list(LEVELS))
    values = np.array(list(LEVELS.values()))
    nearest = np.abs(final_mse[:, None] - values[None]).argmin(1)
    close = np.abs(final_mse - values[nearest]) < LEVEL_TOLERANCE
    return np.where(close, names[nearest], OTHER)


@torch.no_grad()
def diagnose_initial(net: BatchedMLP, x: torch.Tensor) -> np.ndarray:
    """Each seed's cause of trouble at initialisation, one of :data:`CAUSES` (the first that applies).

    Args:
        net: the stacked models *before* training.
        x: the training inputs (N, *input_shape).
    """
    x = x.reshape(len(x), -1).float().expand(net.n_seeds, len(x), -1)
    mu, _, encoder_hidden = net.encode(x)
    l1 = encoder_hidden[0]  # (S, N, H1)
    _, decoder_hidden = net.decode(mu)
    l3 = decoder_hidden[0] if decoder_hidden else None  # (S, N, H3)
    l1_dead = (l1 == 0).all(2)  # (S, N): inputs that every L1 unit ignores
    # Inputs that share their L1 activations are indistinguishable from then on.
    n = l1.shape[1]
    same = (l1[:, :, None, :] - l1[:, None, :, :]).abs().amax(3) == 0  # (S, N, N)
    distinct = np.array([len({tuple(row) for row in s}) for s in same.numpy()])  # per seed: distinct L1 patterns
    merged = n - distinct
    causes = np.full(net.n_seeds, CAUSES[-1], dtype=object)
    causes[merged >= 2] = CAUSES[4]
    causes[merged == 1] = CAUSES[3]
    if l3 is not None:
        causes[(l3 == 0).all((1, 2)).numpy()] = CAUSES[2]
        causes[opposite_signs(net)] = CAUSES[1]
    causes[l1_dead.all(1).numpy()] = CAUSES[0]
    return causes.astype(str)


@torch.no_grad()
def killed_pair(net: BatchedMLP, x: torch.Tensor) -> np.ndarray:
    """(S,) True where at least two inputs have every L1 activation zero (Patuzzo: 1 - (15/16)^6 = 0.32)."""
    x = x.reshape(len(x), -1).float().expand(net.n_seeds, len(x), -1)
    l1 = net.encode(x)[2][0]  # (S, N, H1)
    return ((l1 == 0).all(2).sum(1) >= 2).numpy()


def opposite_signs(net: BatchedMLP) -> np.ndarray:
    """(S,) True where all L2 (into a one-unit bottleneck) weights have one sign and all L3 weights the other:
    with L1's relu and zero biases, z then has one sign and every L3 unit is dead (Patuzzo, Sec. 4)."""
    w2 = net.weights[net.n_encoder]  # (S, H1, L)
    w3 = net.weights[net.n_encoder + (2 if net.gaussian else 1)]  # (S, L, H3)
    if w2.shape[2] != 1:
        return np.zeros(net.n_seeds, dtype=bool)
    pos2, neg2 = (w2 > 0).all((1, 2)), (w2 < 0).all((1, 2))
    pos3, neg3 = (w3 > 0).all((1, 2)), (w3 < 0).all((1, 2))
    return ((pos2 & neg3) | (neg2 & pos3)).numpy()


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial proportion (good near 0 and 1, unlike the normal one)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
