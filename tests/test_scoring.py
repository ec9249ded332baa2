"""Every registered scorer, on every model it applies to: one finite score per sample, the same on every call,
and a clear error where it does not apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecompare.errors import ConfigError
from aecompare.models import build_model
from aecompare.scoring import SCORERS, score

# (model, overrides): an AE, a VAE with a Gaussian decoder (every scorer applies) and an AAE
MODELS = [("mlp-ae", {}), ("mlp-vae", {"decoder_output": "gaussian"}), ("mlp-aae", {})]
ONLY_FOR = {"kl": {"mlp-vae"}, "reconstruction_probability": {"mlp-vae"}}  # scorers that need a posterior


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
    first = score(model, x, method, n_samples=5, seed=3)
    assert first.shape == (10,)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, score(model, x, method, n_samples=5, seed=3))
    # a row's score is its own: scoring it alone gives the same number
    np.testing.assert_allclose(score(model, x[3:4], method, n_samples=5, seed=3), first[3:4], rtol=1e-5)
