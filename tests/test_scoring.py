"""Every registered scorer, on every model it applies to: one finite score per sample, the same on every call,
and a clear error where it does not apply."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aecompare.data import load_dataset
from aecompare.errors import ConfigError
from aecompare.inspection import encode_codes
from aecompare.models import build_model
from aecompare.scoring import (
    REFERENCE_SCORERS,
    SCORERS,
    component_scores,
    fit_standardisation,
    heaviside,
    pixel_map,
    reconstruct,
    score,
    score_components,
)

SQUARES = torch.from_numpy(load_dataset("squares").x_train)

# (model, overrides): an AE, a VAE with a Gaussian decoder (every scorer applies) and an AAE
MODELS = [("mlp-ae", {}), ("mlp-vae", {"decoder_output": "gaussian"}), ("mlp-aae", {})]
ONLY_FOR = {
    "kl": {"mlp-vae"},
    "reconstruction_probability": {"mlp-vae"},  # scorers that need a posterior
    "ssim": set(),
}  # ... or images (tested below)


@pytest.mark.parametrize("method", sorted(SCORERS))
@pytest.mark.parametrize(("name", "overrides"), MODELS)
def test_every_scorer_is_per_sample_finite_and_deterministic(method: str, name: str, overrides: dict) -> None:
    torch.manual_seed(0)
    model = build_model(name, (6,), hidden=(8,), latent_dim=2, **overrides).eval()
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(1))
    if name not in ONLY_FOR.get(method, {name}):
        with pytest.raises(ConfigError, match="needs"):  # says what it needs instead of failing deep in torch
            score(model, x, method, n_samples=5, seed=3)
        return
    options = {
        "n_samples": 5,
        "seed": 3,  # the latent scores measure against normal training codes
        "reference": encode_codes(model, x)["mu"] if method in REFERENCE_SCORERS else None,
    }
    first = score(model, x, method, **options)
    assert first.shape == (10,)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, score(model, x, method, **options))
    # a row's score is its own: scoring it alone gives the same number
    np.testing.assert_allclose(score(model, x[3:4], method, **options), first[3:4], rtol=1e-5)


def gaussian_decoder_vae(features: int = 2, latent: int = 1) -> torch.nn.Module:
    return build_model("fiorino-vae", (features,), hidden=(4,), latent_dim=latent)


def pin(
    model: torch.nn.Module, mu: float, logvar: float, weight: list[float], mean_bias: list[float], var_bias: list[float]
) -> None:
    """Fix q(z|x) = N(mu, exp(logvar)) for every x, and the decoder to mean = weight * z + mean_bias (through an
    identity path) with log-variance var_bias, by setting weights by hand."""
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.bottleneck.mu.bias.fill_(mu)
        model.bottleneck.logvar.bias.fill_(logvar)
        first, last = model.decoder.net[0], model.decoder.net[-1]  # z -> hidden (4) -> ... -> 2D outputs
        # hidden unit 0 carries z + 10 (positive, so LeakyReLU passes it unchanged); the rest stay 0
        first.weight[0, 0], first.bias[0] = 1.0, 10.0
        d = len(mean_bias)
        last.weight[:d, 0] = torch.tensor(weight)
        last.bias[:d] = torch.tensor(mean_bias) - 10.0 * torch.tensor(weight)
        last.bias[d:] = torch.tensor(var_bias)


def test_reconstruction_probability_of_a_fixed_decoder_is_its_gaussian_log_likelihood() -> None:
    model = gaussian_decoder_vae()
    pin(model, mu=0.3, logvar=0.0, weight=[0.0, 0.0], mean_bias=[1.0, -2.0], var_bias=[math.log(0.25), 0.0])
    x = torch.tensor([[1.5, -2.0], [0.0, 1.0]])
    # by hand: -log N(x | (1, -2), diag(0.25, 1)), whatever z is drawn
    expected = [
        0.5 * math.log(2 * math.pi * 0.25) + 0.5**2 / (2 * 0.25) + 0.5 * math.log(2 * math.pi),
        0.5 * math.log(2 * math.pi * 0.25) + 1.0 / (2 * 0.25) + 0.5 * math.log(2 * math.pi) + 9.0 / 2,
    ]
    np.testing.assert_allclose(score(model, x, "reconstruction_probability", n_samples=7), expected, rtol=1e-6)


def test_reconstruction_probability_averages_likelihoods_over_the_posterior() -> None:
    # z ~ N(0.5, 0.8^2), x | z ~ N(2z + 1, 0.3^2)  =>  the mean over z of the likelihood is N(x | 2, 4 * 0.64 + 0.09)
    model = gaussian_decoder_vae(features=1)
    pin(model, mu=0.5, logvar=math.log(0.64), weight=[2.0], mean_bias=[1.0], var_bias=[math.log(0.09)])
    x = torch.tensor([[2.0], [3.0], [0.5]])
    variance = 4 * 0.64 + 0.09
    exact = [0.5 * math.log(2 * math.pi * variance) + (v - 2.0) ** 2 / (2 * variance) for v in (2.0, 3.0, 0.5)]
    estimate = score(model, x, "reconstruction_probability", n_samples=20000)
    np.testing.assert_allclose(estimate, exact, atol=0.02)
    # one sample is not the average: the log-mean-exp over L samples is what makes the estimate right
    assert np.abs(score(model, x, "reconstruction_probability", n_samples=1) - exact).max() > 0.05


def test_reconstruction_probability_is_deterministic_per_seed_and_independent_of_batching() -> None:
    torch.manual_seed(0)
    model = build_model("fiorino-vae", (30,))
    x = torch.randn(200, 30)
    a = score(model, x, "reconstruction_probability", seed=3)
    np.testing.assert_array_equal(a, score(model, x, "reconstruction_probability", seed=3))
    assert not np.array_equal(a, score(model, x, "reconstruction_probability", seed=4))
    np.testing.assert_allclose(
        a[50:60], score(model, x[50:60], "reconstruction_probability", seed=3, batch_size=3), rtol=1e-6
    )


def test_reconstruction_probability_refuses_models_without_a_posterior_or_a_variance() -> None:
    x = torch.randn(4, 6)
    with pytest.raises(ConfigError, match="needs a VAE with a Gaussian decoder"):
        score(build_model("fiorino-ae", (6,)), x, "reconstruction_probability")
    with pytest.raises(ConfigError, match="needs a VAE with a Gaussian decoder"):
        score(build_model("vae", (6,)), x, "reconstruction_probability")
    with pytest.raises(ConfigError, match="no post-processing"):
        score(build_model("fiorino-vae", (6,)), x, "reconstruction_probability", postprocess="heaviside")


def test_kl_and_loss_scores_are_the_models_own_terms_per_sample() -> None:
    from aecompare.train.losses import gaussian_kl

    torch.manual_seed(0)
    vae = build_model("vae", (6,)).eval()
    x = torch.randn(10, 6)
    with torch.no_grad():
        out = vae(x)
        kl = gaussian_kl(out.mu, out.logvar).double().numpy()
        squared = (out.recon - x).pow(2).sum(1).double().numpy()
    np.testing.assert_allclose(score(vae, x, "kl"), kl, rtol=1e-6)
    np.testing.assert_allclose(score(vae, x, "loss"), squared + kl, rtol=1e-5)  # the negative ELBO, beta 1
    ae = build_model("ae", (6,)).eval()
    np.testing.assert_allclose(score(ae, x, "loss"), 6 * score(ae, x, "mse"), rtol=1e-5)  # summed, not averaged
    with pytest.raises(ConfigError, match="the kl score needs a VAE"):
        score(ae, x, "kl")


def test_heaviside_steps_known_logits():
    logits = torch.tensor([-5.0, -0.1, 0.0, 0.1, 3.0])
    assert heaviside(torch.sigmoid(logits)).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    model = build_model("patuzzo-a1", (1, 2, 2))
    post = reconstruct(model, SQUARES, postprocess="heaviside")
    np.testing.assert_array_equal(post.numpy(), (reconstruct(model, SQUARES) > 0.5).float().numpy())
    with pytest.raises(ConfigError, match="postprocess"):
        reconstruct(model, SQUARES, postprocess="step")
    with pytest.raises(ConfigError, match="sigmoid"):
        reconstruct(build_model("mlp-ae", (6,)), torch.rand(2, 6), postprocess="heaviside")


def test_ssim_is_one_for_identical_images_and_drops_with_structure_not_only_brightness() -> None:
    from aecompare.scoring import ssim_map

    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 16, 16, generator=g)
    torch.testing.assert_close(ssim_map(a, a), torch.ones_like(a))
    brighter, scrambled = (a * 0.8 + 0.2), a[:, :, torch.randperm(16, generator=g)]
    assert ssim_map(a, scrambled).mean() < ssim_map(a, brighter).mean() < 1.0


def test_ssim_scores_images_per_sample_and_refuses_tables() -> None:
    torch.manual_seed(0)
    model = build_model("conv-ae", (1, 16, 16), channels=(4, 8), latent_dim=3).eval()
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    scores = score(model, x, "ssim")
    assert scores.shape == (5,)
    np.testing.assert_allclose(score(model, x[2:3], "ssim"), scores[2:3], rtol=1e-6)
    with pytest.raises(ConfigError, match="the ssim score needs images"):
        score(build_model("mlp-ae", (6,)), torch.rand(4, 6), "ssim")


@pytest.mark.parametrize("method", ["latent_knn", "latent_mahalanobis", "latent_meanshift"])
def test_latent_scores_rank_far_codes_higher_and_survive_save_and_load(method: str, tmp_path, table_data) -> None:
    from aecompare import Detector

    normal, anomalous = table_data
    det = Detector("mlp-ae", epochs=20, random_state=0, scorer=method, model_params={"hidden": (16,)}).fit(normal)
    assert det.reference_codes_.shape[0] > 0
    scores = det.decision_function(np.concatenate([normal[:30], anomalous]))
    assert scores[30:].mean() > scores[:30].mean()
    det.save(tmp_path / "d")
    np.testing.assert_array_equal(
        Detector.load(tmp_path / "d").decision_function(anomalous), det.decision_function(anomalous)
    )
    with pytest.raises(ConfigError, match="needs the codes of the normal training data"):
        score(det.model_, torch.from_numpy(anomalous), method)


def test_a_combined_score_is_the_mean_of_its_scores_standardised_on_validation_data() -> None:
    torch.manual_seed(0)
    model = build_model("mlp-ae", (6,), hidden=(8,), latent_dim=2).eval()
    x_val, x = torch.randn(40, 6, generator=torch.Generator().manual_seed(1)), torch.randn(7, 6) * 3
    reference = np.random.default_rng(0).normal(size=(30, 2))
    method = "mse+latent_knn"
    stats = fit_standardisation(component_scores(model, x_val, method, reference=reference))
    combined = score(model, x, method, reference=reference, standardisation=stats)
    mse, knn = score(model, x, "mse"), score(model, x, "latent_knn", reference=reference)
    expected = ((mse - stats["mse"][0]) / stats["mse"][1] + (knn - stats["latent_knn"][0]) / stats["latent_knn"][1]) / 2
    np.testing.assert_allclose(combined, expected, rtol=1e-6)
    val_combined = score(model, x_val, method, reference=reference, standardisation=stats)
    assert abs(val_combined.mean()) < 1e-9  # each part has mean 0 on the validation data it was fitted on
    with pytest.raises(ConfigError, match="needs each score's mean and std on normal validation data"):
        score(model, x, method, reference=reference)
    with pytest.raises(ConfigError, match="positive std"):
        score(model, x, method, reference=reference, standardisation={**stats, "mse": [0.0, 0.0]})


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("mse+nope", r"unknown scorer 'nope'; choose one of: .*combine several with '\+'"),
        ("mse+mse", "names a scorer twice"),
        ("mse+", "unknown scorer ''"),
    ],
)
def test_bad_combinations_are_named(method: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        score_components(method)


def test_a_detector_with_a_combined_score_saves_its_standardisation_and_refuses_a_tampered_one(
    tmp_path, table_data
) -> None:
    import json

    from aecompare import Detector
    from aecompare.errors import DataError

    normal, anomalous = table_data
    det = Detector(
        "mlp-vae", epochs=10, random_state=0, scorer="mse+latent_mahalanobis", model_params={"hidden": (16,)}
    ).fit(normal)
    assert set(det.score_options_["standardisation"]) == {"mse", "latent_mahalanobis"}
    scores = det.decision_function(np.concatenate([normal[:30], anomalous]))
    assert scores[30:].mean() > scores[:30].mean()
    det.save(tmp_path / "d")
    np.testing.assert_array_equal(
        Detector.load(tmp_path / "d").decision_function(anomalous), det.decision_function(anomalous)
    )
    meta = json.loads((tmp_path / "d" / "detector.json").read_text())
    meta["score_options"]["standardisation"]["mse"] = [0.1, -1.0]
    (tmp_path / "d" / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="standardisation of the combined score"):
        Detector.load(tmp_path / "d")


def test_pixel_maps_follow_the_score_one_minus_ssim_or_the_squared_error() -> None:
    rng = np.random.default_rng(0)
    inputs = rng.random((2, 3, 20, 20)).astype(np.float32)
    recon = inputs.copy()
    recon[:, :, 5:9, 5:9] = 0.5  # a local defect in the reconstruction
    ssim = pixel_map(inputs, recon, "ssim+latent_knn")
    error = pixel_map(inputs, recon, "mse")
    assert ssim.shape == error.shape == (2, 20, 20)
    np.testing.assert_allclose(error, ((recon - inputs) ** 2).mean(1), rtol=1e-6)
    assert ssim[:, 5:9, 5:9].mean() > 10 * ssim[:, 15:, 15:].mean()  # 1 - SSIM peaks where the defect is
    np.testing.assert_allclose(pixel_map(inputs, inputs, "ssim"), 0.0, atol=1e-5)


def test_the_mean_shifted_score_is_the_cosine_distance_of_centred_codes_to_their_nearest() -> None:
    torch.manual_seed(0)
    model = build_model("mlp-ae", (6,), hidden=(8,), latent_dim=3).eval()
    x = torch.randn(9, 6)
    reference = np.random.default_rng(0).normal(size=(20, 3)) + 5.0  # far from the origin: centring matters
    codes = encode_codes(model, x, 1024)["mu"].astype(np.float64)
    centre = reference.mean(0)
    unit = lambda v: (v - centre) / np.linalg.norm(v - centre, axis=1, keepdims=True)  # noqa: E731
    cosine_distance = 1.0 - unit(codes) @ unit(reference).T  # (9, 20)
    expected = np.sort(cosine_distance, axis=1)[:, :5].mean(1)
    np.testing.assert_allclose(score(model, x, "latent_meanshift", reference=reference), expected, atol=1e-12)
    scaled = score(model, x, "latent_meanshift", reference=(reference - centre) * 7.0 + centre)
    np.testing.assert_allclose(scaled, score(model, x, "latent_meanshift", reference=reference), atol=1e-12)
