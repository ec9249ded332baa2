"""K dense members run as batched products give each member's own forward pass, critic and codes."""

from __future__ import annotations

import pytest
import torch

from aecompare.core.runtime import seed_everything
from aecompare.models import build_model
from aecompare.models.stacked import stackable, stacked_critic, stacked_encode, stacked_forward


def members(name: str, shape: tuple[int, ...]) -> list:
    out = []
    for seed in (0, 1):
        seed_everything(seed)
        out.append(build_model(name, shape).eval())
    return out


def stacked(models: list) -> dict[str, torch.Tensor]:
    return {n: torch.stack([dict(m.named_parameters())[n] for m in models]) for n, _ in models[0].named_parameters()}


@pytest.mark.parametrize("name", ["fiorino-vae", "patuzzo-a1", "mlp-aae", "vae"])
@torch.no_grad()
def test_stacked_forward_is_each_members_own(name: str) -> None:
    shape = (16,)
    models = members(name, shape)
    assert stackable(models[0])
    x = torch.rand(2, 5, *shape)  # each member its own inputs
    out = stacked_forward(models[0], stacked(models), x)
    for k, model in enumerate(models):
        alone = model(x[k])
        torch.testing.assert_close(out.recon[k], alone.recon, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out.mu[k], alone.mu, rtol=1e-5, atol=1e-6)
        for got, want in ((out.logvar, alone.logvar), (out.recon_logvar, alone.recon_logvar)):
            assert (got is None) == (want is None)
            if want is not None:
                torch.testing.assert_close(got[k], want, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_stacked_sampling_and_critic_are_each_members_own() -> None:
    vaes = members("fiorino-vae", (16,))
    x, noise = torch.rand(2, 5, 16), torch.randn(2, 5, 4)
    z = stacked_encode(vaes[0], stacked(vaes), x, noise)[0]
    for k, model in enumerate(vaes):
        torch.testing.assert_close(z[k], model.encode(x[k], sample=True, noise=noise[k]).z, rtol=1e-5, atol=1e-6)
    aaes = members("mlp-aae", (16,))
    codes = torch.randn(2, 5, 16)
    scores = stacked_critic(aaes[0], stacked(aaes), codes)
    for k, model in enumerate(aaes):
        torch.testing.assert_close(scores[k], model.critic(codes[k]), rtol=1e-5, atol=1e-6)


def test_conv_models_are_not_stackable_as_products() -> None:
    assert not stackable(build_model("conv-ae", (1, 8, 8), channels=(4,), strides=(2,), fc=()))
