"""Scores: a trained model and inputs -> one number per sample, higher = more anomalous.

Scores are deterministic: reconstruction errors score a VAE through its posterior mean, and the
reconstruction probability draws its posterior samples from a seeded generator. ``postprocess="heaviside"``
replaces each sigmoid output by the step of its logit before the error is taken (Patuzzo 2020, for binary
images).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from aecompare.core.runtime import batched
from aecompare.errors import ConfigError, unknown_name
from aecompare.inspection import encode_codes
from aecompare.models import Autoencoder
from aecompare.train.losses import gaussian_nll, per_sample_loss

POSTPROCESSES = ("none", "heaviside")
MAX_SAMPLES = 10_000  # posterior draws of a sampling score


def heaviside(recon: torch.Tensor) -> torch.Tensor:
    """Patuzzo's post-processing of sigmoid outputs: the inverse sigmoid, then a step (1 where the logit is
    positive, else 0). Equivalently a threshold at 0.5; an output of exactly 0.5 (logit 0) becomes 0."""
    return (torch.logit(recon) > 0).to(recon.dtype)


@torch.no_grad()
def reconstruct(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none") -> torch.Tensor:
    """Deterministic reconstructions (N, *input_shape) on the CPU, computed in batches on the model's device.

    Args:
        postprocess: ``"none"``, or ``"heaviside"`` for binary outputs (needs a sigmoid output).
    """
    if postprocess not in POSTPROCESSES:
        raise unknown_name("postprocess", postprocess, POSTPROCESSES)
    if postprocess == "heaviside" and model.config.resolved_output_activation(model.input_shape) != "sigmoid":
        raise ConfigError(
            "heaviside post-processing inverts a sigmoid output, but this model's output is "
            "linear; use it with images (or output_activation: sigmoid)"
        )
    model.eval()
    device = next(model.parameters()).device
    parts = batched(lambda xb: model(xb).recon.cpu(), x, model.input_shape, batch_size, device)
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


SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # Wang et al. (2004), as Bergmann et al. (2018) use it for anomaly maps
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2  # stabilisers for data in [0, 1]


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Structural similarity of two image batches per pixel (N, C, H, W) -> (N, C, H, W), in [-1, 1]: local
    means, variances and covariance under a Gaussian window (11 x 11, sigma 1.5), edges padded by reflection."""
    radius = SSIM_WINDOW // 2
    offsets = torch.arange(SSIM_WINDOW, dtype=a.dtype) - radius
    g = torch.exp(-offsets.pow(2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    channels = a.shape[1]
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).to(a.device)

    def blur(t: torch.Tensor) -> torch.Tensor:  # per channel; reflection needs the image wider than the radius
        mode = "reflect" if min(t.shape[-2:]) > radius else "replicate"
        return torch.nn.functional.conv2d(torch.nn.functional.pad(t, [radius] * 4, mode=mode), kernel, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    )


def ssim_score(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none") -> np.ndarray:
    """1 - the mean structural similarity between each image and its reconstruction (N,): structure and
    contrast, not only brightness (Bergmann et al., 2018). Images only."""
    if len(model.input_shape) != 3:
        raise ConfigError("the ssim score needs images (C, H, W); score tables by mse or mae")
    recon = reconstruct(model, x, batch_size, postprocess)  # (N, C, H, W) on the CPU
    pairs = torch.stack([x.cpu().float(), recon], 1)  # (N, 2, C, H, W): each image beside its reconstruction
    maps = batched(lambda pair: ssim_map(pair[:, 0], pair[:, 1]), pairs, (2, *model.input_shape), batch_size)
    return (1.0 - torch.cat(maps)).flatten(1).mean(1).double().numpy() if maps else np.empty(0)


def pixel_map(inputs: np.ndarray, recon: np.ndarray, scorer: str) -> np.ndarray:
    """The per-pixel anomaly map that goes with a score, averaged over channels, (N, C, H, W) -> (N, H, W):
    1 - SSIM where the score uses SSIM, else the squared reconstruction error."""
    a, b = torch.from_numpy(np.asarray(inputs, dtype=np.float32)), torch.from_numpy(np.asarray(recon, np.float32))
    if "ssim" in score_components(scorer):
        return (1.0 - ssim_map(a, b)).mean(1).numpy()
    return (b - a).pow(2).mean(1).numpy()


@torch.no_grad()
def _per_sample_terms(model: Autoencoder, x: torch.Tensor, batch_size: int, postprocess: str) -> dict[str, np.ndarray]:
    """The model's training objective per sample (z = the posterior mean), term by term, as arrays (N,)."""
    if postprocess != "none":
        raise ConfigError("loss-based scores take no post-processing; set postprocess: none")
    model.eval()
    device = next(model.parameters()).device
    parts: dict[str, list[torch.Tensor]] = {}
    for terms in batched(lambda xb: per_sample_loss(model, xb, model(xb)), x, model.input_shape, batch_size, device):
        for k, v in terms.items():
            parts.setdefault(k, []).append(v.cpu())
    return {k: torch.cat(v).double().numpy() for k, v in parts.items()}


def kl_score(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none") -> np.ndarray:
    """KL(q(z|x) || N(0, I)) per sample (N,): how far a VAE's code for x lies from what it saw in training."""
    if model.config.bottleneck != "gaussian":
        raise ConfigError("the kl score needs a VAE (bottleneck: gaussian); score other models by mse or mae")
    return _per_sample_terms(model, x, batch_size, postprocess)["kl"]


def loss_score(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024, postprocess: str = "none") -> np.ndarray:
    """The model's own training objective per sample (N,), z = the posterior mean: for a VAE the negative ELBO
    (reconstruction + beta x KL, with its loss reduction and weights); for an AE its reconstruction loss."""
    return _per_sample_terms(model, x, batch_size, postprocess)["total"]


@torch.no_grad()
def reconstruction_probability_score(
    model: Autoencoder,
    x: torch.Tensor,
    batch_size: int = 1024,
    postprocess: str = "none",
    n_samples: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """An & Cho's (2015) reconstruction probability, as an anomaly score (N,): ``-log p_hat(x)`` with

        p_hat(x) = 1/L sum_l N(x | mean(z_l), exp(logvar(z_l))),   z_l = mu(x) + sigma(x) * eps_l,

    the decoder's Gaussian likelihood of ``x`` (summed over features in log space) averaged over ``L =
    n_samples`` draws from q(z|x), computed as a log-mean-exp. The ``eps_l`` come from a generator seeded by
    ``seed`` and are the same for every row (common random numbers), so a row's score depends on that row
    alone, not on its batch or position, and repeats exactly. All L samples go through the decoder in one batch.

    Raises:
        ConfigError: for a model without a posterior (AE, AAE) or without a decoder variance.
    """
    if model.config.bottleneck != "gaussian" or not model.gaussian_decoder:
        raise ConfigError(
            "the reconstruction probability needs a VAE with a Gaussian decoder (bottleneck: "
            "gaussian, decoder_output: gaussian), e.g. 'fiorino-vae'; score other models by "
            f"{', '.join(k for k in SCORERS if k != 'reconstruction_probability')}"
        )
    if postprocess != "none":
        raise ConfigError("the reconstruction probability takes no post-processing; set postprocess: none")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ConfigError(f"the reconstruction probability needs n_samples >= 1, got {n_samples!r}")
    model.eval()
    device = next(model.parameters()).device
    eps = torch.randn(n_samples, 1, model.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    eps = eps.to(device)  # (L, 1, latent), drawn on the CPU so every device gets the same numbers

    def neg_log_p(xb: torch.Tensor) -> torch.Tensor:  # xb: (B, *input_shape)
        code = model.encode(xb, sample=False)
        z = code.mu + torch.exp(0.5 * code.logvar) * eps  # (L, B, latent)
        mean, logvar = model.decode_distribution(z.flatten(0, 1))  # (L*B, *input_shape) each
        log_lik = -gaussian_nll(xb.repeat(n_samples, *([1] * (xb.ndim - 1))), mean, logvar)
        log_lik = log_lik.flatten(1).sum(1).view(n_samples, len(xb))  # (L, B): log N(x | z_l)
        log_p = torch.logsumexp(log_lik.double(), dim=0) - math.log(n_samples)  # (B,) log-mean-exp over L
        return -log_p.cpu()

    # batches of (L, B, *input_shape) bounded as a whole
    scores = batched(neg_log_p, x, (n_samples, *model.input_shape), batch_size, device)
    return torch.cat(scores).numpy() if scores else np.empty(0)


KNN_NEIGHBOURS = 5


def _codes(model: Autoencoder, x: torch.Tensor, batch_size: int, postprocess: str) -> torch.Tensor:
    """The posterior means (N, L) of ``x``, as float64 on the CPU; latent scores take no post-processing."""
    if postprocess != "none":
        raise ConfigError("latent scores take no post-processing; set postprocess: none")
    if model.config.latent_dim < 1:
        raise ConfigError("latent scores need a dense code (latent_dim >= 1); this model's code is a feature map")
    return torch.from_numpy(encode_codes(model, x, batch_size)["mu"]).double()


def latent_knn_score(
    model: Autoencoder,
    x: torch.Tensor,
    batch_size: int = 1024,
    postprocess: str = "none",
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Mean Euclidean distance of each code to its 5 nearest codes of the normal training data (N,), found by
    scikit-learn's exact search (a k-d tree for small codes: 5x faster than all pairwise distances on 25k codes
    of 8 dimensions, and the same distances to 1e-15)."""
    codes = _codes(model, x, batch_size, postprocess).numpy()
    return _nearest_distances(_reference(reference, "latent_knn"), codes).mean(1)


def _nearest_distances(reference: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Euclidean distances (N, k) of each code to its k = 5 nearest reference codes (fewer if fewer exist)."""
    if not len(codes):
        return np.empty((0, 1))
    search = NearestNeighbors(n_neighbors=min(KNN_NEIGHBOURS, len(reference))).fit(reference)
    return search.kneighbors(codes, return_distance=True)[0]


def latent_meanshift_score(
    model: Autoencoder,
    x: torch.Tensor,
    batch_size: int = 1024,
    postprocess: str = "none",
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Mean-shifted angular kNN (Reiss & Hoshen, 2023, on the autoencoder's code): every code centred on the
    normal training codes' mean and scaled to unit length; the mean cosine distance (1 - cos) to the 5 nearest
    normal training codes so treated (N,). A code exactly at the centre counts as orthogonal to all (0.5)."""
    ref = _reference(reference, "latent_meanshift")
    codes = _codes(model, x, batch_size, postprocess).numpy()
    centre = ref.mean(0)

    def unit(v: np.ndarray) -> np.ndarray:
        v = v - centre
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(norm > 0, norm, 1.0)

    # on unit vectors the squared Euclidean distance is 2 (1 - cos), so the nearest by one are the nearest by both
    return (_nearest_distances(unit(ref), unit(codes)) ** 2 / 2.0).mean(1)


def latent_mahalanobis_score(
    model: Autoencoder,
    x: torch.Tensor,
    batch_size: int = 1024,
    postprocess: str = "none",
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Mahalanobis distance of each code to the normal training codes' mean, under their covariance (a ridge of
    1e-6 of its mean variance keeps it invertible) (N,)."""
    ref = torch.from_numpy(_reference(reference, "latent_mahalanobis")).double()
    codes = _codes(model, x, batch_size, postprocess)
    centre = ref.mean(0)
    cov = torch.cov(ref.T).reshape(ref.shape[1], ref.shape[1])
    cov = cov + torch.eye(len(cov), dtype=cov.dtype) * 1e-6 * max(float(cov.diagonal().mean()), 1e-12)
    diff = codes - centre
    return torch.sqrt((diff @ torch.linalg.inv(cov) * diff).sum(1).clamp(min=0)).numpy()


def _reference(reference: np.ndarray | None, scorer: str) -> np.ndarray:
    if reference is None or len(reference) < 2:
        raise ConfigError(
            f"the {scorer} score needs the codes of the normal training data (reference=, at least "
            "2); a Detector and a run keep them"
        )
    return np.asarray(reference, dtype=np.float64)


SCORERS: dict[str, Callable[..., np.ndarray]] = {
    "mse": mse_score,
    "mae": mae_score,
    "ssim": ssim_score,
    "kl": kl_score,
    "loss": loss_score,
    "reconstruction_probability": reconstruction_probability_score,
    "latent_knn": latent_knn_score,
    "latent_mahalanobis": latent_mahalanobis_score,
    "latent_meanshift": latent_meanshift_score,
}
SAMPLING_SCORERS = ("reconstruction_probability",)  # take n_samples and seed
REFERENCE_SCORERS = ("latent_knn", "latent_mahalanobis", "latent_meanshift")  # take the normal training codes


COMBINE = "+"  # "mse+latent_knn": the mean of the named scores, each standardised on normal validation data


def score_components(scorer: Any) -> tuple[str, ...]:
    """The scorers a scorer name holds: one of :data:`SCORERS`, or several joined by ``+`` (a combination).

    Raises:
        ConfigError: for an unknown or repeated scorer name (the valid ones are listed).
    """
    parts = tuple(scorer.split(COMBINE)) if isinstance(scorer, str) else (scorer,)
    for part in parts:
        if part not in SCORERS:
            error = unknown_name("scorer", part, SCORERS)
            raise ConfigError(f"{error}; combine several with '+', e.g. 'mse+latent_knn'") if len(parts) > 1 else error
    if len(set(parts)) != len(parts):
        raise ConfigError(f"scorer {scorer!r} names a scorer twice; name each once")
    return parts


def needs_reference(scorer: str) -> bool:
    """Whether ``scorer`` (or one of its components) measures codes against the normal training codes."""
    return any(part in REFERENCE_SCORERS for part in score_components(scorer))


def fit_standardisation(values: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Each score's location and scale on normal *validation* data: {name: [mean, std]} (a zero spread counts
    as 1e-12 of the mean's size, so a constant score standardises to zeros instead of dividing by zero)."""
    out = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        if not len(v):
            raise ConfigError("standardising scores needs at least one normal validation sample")
        mean, std = float(v.mean()), float(v.std())
        out[name] = [mean, max(std, 1e-12 * max(abs(mean), 1.0))]
    return out


def standardise(values: np.ndarray, location_scale: list[float]) -> np.ndarray:
    """``(values - mean) / std`` with the normal validation scores' mean and std."""
    mean, std = location_scale
    return (np.asarray(values, dtype=np.float64) - mean) / std


def check_standardisation(scorer: str, standardisation: Any) -> str:
    """What is wrong with a combination's saved standardisation ("" when nothing): it must give a finite mean
    and a positive, finite std for each of its scorers."""
    parts = score_components(scorer)
    if not isinstance(standardisation, dict) or set(standardisation) != set(parts):
        return f"it must map each of {', '.join(parts)} to [mean, std]"
    for name, pair in standardisation.items():
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
            or pair[1] <= 0
        ):
            return f"{name}: expected [mean, std] with a finite mean and a positive std, got {pair!r}"
    return ""


def score(
    model: Autoencoder,
    x: torch.Tensor,
    scorer: str = "mse",
    batch_size: int = 1024,
    postprocess: str = "none",
    n_samples: int = 100,
    seed: int = 0,
    reference: np.ndarray | None = None,
    standardisation: dict[str, list[float]] | None = None,
) -> np.ndarray:
    """Anomaly scores (N,) by the named scorer after ``postprocess``: one of :data:`SCORERS`, or a combination
    such as ``"mse+latent_knn"``, the mean of its scores each standardised by ``standardisation``.

    ``n_samples`` and ``seed`` apply to the sampling scores (the reconstruction probability); ``reference``, the
    posterior means (M, L) of the normal training data, to the latent scores; ``standardisation``
    (:func:`fit_standardisation` of each component's normal validation scores) to combinations.
    """
    values = component_scores(model, x, scorer, batch_size, postprocess, n_samples, seed, reference)
    return combine_components(values, scorer, standardisation)


def combine_components(
    values: dict[str, np.ndarray], scorer: str, standardisation: dict[str, list[float]] | None = None
) -> np.ndarray:
    """A scorer's scores from its components' (:func:`component_scores`): the one component's, or the mean of
    each standardised by ``standardisation``."""
    parts = score_components(scorer)
    if len(parts) == 1:
        return values[parts[0]]
    problem = check_standardisation(scorer, standardisation)
    if problem:
        raise ConfigError(
            f"the combined score {scorer!r} needs each score's mean and std on normal validation "
            f"data (standardisation=, from fit_standardisation): {problem}"
        )
    assert standardisation is not None
    return np.mean([standardise(values[p], standardisation[p]) for p in parts], axis=0)


def component_scores(
    model: Autoencoder,
    x: torch.Tensor,
    scorer: str,
    batch_size: int = 1024,
    postprocess: str = "none",
    n_samples: int = 100,
    seed: int = 0,
    reference: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Each scorer of ``scorer`` on ``x``, unstandardised: {name: (N,)}."""
    out = {}
    for part in score_components(scorer):
        if part in REFERENCE_SCORERS:
            out[part] = SCORERS[part](model, x, batch_size, postprocess, reference=reference)
        elif part in SAMPLING_SCORERS:
            out[part] = SCORERS[part](model, x, batch_size, postprocess, n_samples=n_samples, seed=seed)
        else:
            out[part] = SCORERS[part](model, x, batch_size, postprocess)
    return out
