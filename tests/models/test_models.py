"""The contract every registered model keeps, and the networks' shape rules."""

from __future__ import annotations

import pytest
import torch

from aecompare.errors import ConfigError
from aecompare.models import MODELS, available_models, build_model, load_model, save_model
from aecompare.train.losses import autoencoder_loss, gaussian_kl
from aecompare.train.steps import adversarial_step
from conftest import TINY_MODEL

IMAGE, TABLE = (1, 8, 8), (12,)
RGB = (3, 8, 8)  # VGG16 encoders take RGB images
CASES = [(name, RGB if MODELS[name].defaults.get("backbone") == "vgg16" else IMAGE) for name in available_models()] + [
    (name, TABLE) for name in available_models() if MODELS[name].defaults.get("backbone") not in ("conv", "vgg16")
]


def _batch(shape: tuple[int, ...], n: int = 16) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_output_shapes(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(name, shape, **TINY_MODEL)
    out = model(_batch(shape))
    assert out.recon.shape == (16, *shape)
    assert out.z.shape == out.mu.shape == (16, 4)
    assert (out.logvar is not None) == (MODELS[name].defaults["bottleneck"] == "gaussian")


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_eval_is_deterministic(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(name, shape, **TINY_MODEL).eval()
    x = _batch(shape)
    assert torch.equal(model(x).recon, model(x).recon)


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_save_load_gives_identical_outputs(name: str, shape: tuple[int, ...], tmp_path) -> None:
    torch.manual_seed(1)
    model = build_model(name, shape, **TINY_MODEL).eval()
    save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]  # no pickle
    loaded = load_model(tmp_path)
    x = _batch(shape)
    assert torch.equal(model(x).recon, loaded(x).recon)
    assert loaded.config == model.config


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_one_step_lowers_the_loss_on_a_fixed_batch(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = build_model(name, shape, **TINY_MODEL)
    x = _batch(shape, 32)
    model.eval()  # compare deterministic losses (the VAE's z = mu) before and after the step
    with torch.no_grad():
        before = float(autoencoder_loss(model, x, model(x))["reconstruction"])
    optimiser = torch.optim.Adam(model.autoencoder_parameters(), lr=1e-2)
    model.train()
    loss = autoencoder_loss(model, x, model(x))["total"]
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    model.eval()
    with torch.no_grad():
        after = float(autoencoder_loss(model, x, model(x))["reconstruction"])
    assert after < before


def test_vae_kl_is_positive_and_zero_only_at_the_prior() -> None:
    model = build_model("vae", IMAGE, **TINY_MODEL).train()
    out = model(_batch(IMAGE))
    assert (gaussian_kl(out.mu, out.logvar) > 0).all()
    assert float(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max()) == 0.0
    assert float(autoencoder_loss(model, _batch(IMAGE), out)["kl"].detach()) > 0


def test_vae_samples_in_training_and_uses_the_mean_in_eval() -> None:
    model = build_model("vae", IMAGE, **TINY_MODEL)
    x = _batch(IMAGE)
    model.train()
    assert not torch.equal(model(x).z, model(x).z)
    model.eval()
    out = model(x)
    assert torch.equal(out.z, out.mu)


def test_aae_step_updates_critic_and_encoder_and_keeps_critic_clipped() -> None:
    torch.manual_seed(0)
    model = build_model("aae", IMAGE, **TINY_MODEL, critic_clip=0.05)
    optimizers = {
        "autoencoder": torch.optim.Adam(model.autoencoder_parameters(), lr=1e-3),
        "critic": torch.optim.Adam(model.critic.parameters(), lr=1e-3),
        "encoder": torch.optim.Adam(model.encoder_parameters(), lr=1e-3),
    }
    critic_before = [p.detach().clone() for p in model.critic.parameters()]
    encoder_before = [p.detach().clone() for p in model.encoder.parameters()]
    model.train()
    terms = adversarial_step(model, _batch(IMAGE), optimizers)
    assert set(terms) == {"loss", "critic", "adversarial"}
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, model.critic.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(encoder_before, model.encoder.parameters()))
    assert max(float(p.detach().abs().max()) for p in model.critic.parameters()) <= 0.05 + 1e-7
    assert not set(map(id, model.critic.parameters())) & set(map(id, model.autoencoder_parameters()))


@pytest.mark.parametrize("weight", [1.0, 0.0])
def test_aae_regularisation_pulls_codes_towards_the_prior(weight: float) -> None:
    # Start every code far from N(0, I) (mean 3) and switch the reconstruction phase off (lr 0): only the
    # critic can move the encoder, so the codes return towards 0 with it and stay put without it.
    torch.manual_seed(0)
    model = build_model("aae", IMAGE, **TINY_MODEL, adversarial_weight=weight)
    with torch.no_grad():
        model.bottleneck.proj.bias.fill_(3.0)
    optimizers = {
        "autoencoder": torch.optim.Adam(model.autoencoder_parameters(), lr=0.0),
        "critic": torch.optim.Adam(model.critic.parameters(), lr=3e-3),
        "encoder": torch.optim.Adam(model.encoder_parameters(), lr=3e-3),
    }
    x = _batch(IMAGE, 64)
    model.train()
    for _ in range(60):  # the early pull; a clipped WGAN critic on a tiny code then oscillates around 0
        adversarial_step(model, x, optimizers)
    with torch.no_grad():
        mean = float(model.encode(x).z.mean())
    if weight:
        assert abs(mean) < 2.0
    else:
        assert mean == pytest.approx(3.0, abs=0.2)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 7, 9), (2, 5, 5)])
def test_conv_backbone_derives_sizes_from_any_image_shape(shape: tuple[int, ...]) -> None:
    model = build_model("conv-ae", shape, channels=(8, 16, 16), latent_dim=3)
    assert model(torch.rand(2, *shape)).recon.shape == (2, *shape)


def test_mlp_matches_patuzzo_a1_layer_sizes() -> None:
    model = build_model("mlp-ae", (1, 32, 32), hidden=(2,), latent_dim=1, activation="relu")
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(1024, 2), (2, 1), (1, 2), (2, 1024)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": -1}, "latent_dim must be at least 1"),
        ({"latent_dim": 0, "bottleneck": "gaussian"}, r"0, a feature-map code, is for a deterministic"),
        ({"latnt_dim": 3}, "unknown key 'latnt_dim'"),
        ({"activation": "swish"}, "choose one of: relu, leaky_relu"),
        ({"hidden": "64"}, "expected a list"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"input_noise": -0.1}, "input_noise must be 0"),
        ({"dropout": 0.2}, "dropout follows the hidden layers of a dense"),  # IMAGE: a conv backbone
    ],
)
def test_bad_model_config_is_a_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model("ae", IMAGE, **kwargs)


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'vea'; choose one of: aae, ae, .*vae"):
        build_model("vea", IMAGE)


def test_conv_on_a_table_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="convolutional backbone needs images"):
        build_model("conv-ae", TABLE)


def test_kaiming_init_keeps_signal_through_a_deep_conv_stack() -> None:
    # Schneider's MNIST encoder: with PyTorch's default init the codes barely depend on the input.
    arch = {"channels": (16, 32, 64, 64, 16), "strides": (1, 2, 2, 2, 1), "fc": (100,), "latent_dim": 20}
    x = _batch((1, 28, 28), 64)
    spread = {}
    for init in ("kaiming", "pytorch"):
        torch.manual_seed(0)
        model = build_model("conv-ae", (1, 28, 28), weight_init=init, **arch)
        with torch.no_grad():
            spread[init] = float(model.encode(x).z.std(0).mean())
    assert spread["kaiming"] > 10 * spread["pytorch"]
    assert spread["kaiming"] > 0.01


def test_strides_must_match_channels() -> None:
    with pytest.raises(ConfigError, match="one positive stride per entry of channels"):
        build_model("conv-ae", IMAGE, channels=(8, 16), strides=(1,))


def test_inference_batches_shrink_for_large_images_and_give_the_same_scores() -> None:
    from aecompare.core.runtime import inference_rows
    from aecompare.scoring import reconstruct

    assert inference_rows((1, 28, 28)) == 1024
    assert inference_rows((3, 256, 256)) == 85
    assert inference_rows((3, 4096, 4096)) == 1  # never zero
    model = build_model("ae", IMAGE, **TINY_MODEL).eval()
    x = _batch(IMAGE, n=40)
    assert torch.allclose(reconstruct(model, x, batch_size=7), reconstruct(model, x), atol=1e-6)


def test_gaussian_nll_needs_a_gaussian_decoder() -> None:
    with pytest.raises(ConfigError, match="decoder_output: gaussian"):
        build_model("vae", (6,), reconstruction="gaussian_nll")
    model = build_model("vae", (6,), reconstruction="gaussian_nll", decoder_output="gaussian")
    out = model(torch.randn(3, 6))
    assert out.recon_logvar.shape == out.recon.shape == (3, 6)


@pytest.mark.parametrize(
    ("overrides", "kinds"),
    [
        ({"dropout": 0.3}, {torch.nn.Dropout}),
        ({"batch_norm": True}, {torch.nn.BatchNorm1d}),
        ({"batch_norm": True, "dropout": 0.2}, {torch.nn.BatchNorm1d, torch.nn.Dropout}),
    ],
)
def test_dropout_and_batch_norm_act_in_training_only(overrides: dict, kinds: set) -> None:
    torch.manual_seed(0)
    model = build_model("ae", (12,), hidden=(16, 8), latent_dim=4, **overrides)
    present = {type(m) for m in model.modules()}
    assert kinds <= present
    # after each hidden layer of the encoder (2) and the decoder (2), never after the code or the output
    assert sum(type(m) in kinds for m in model.modules()) == 4 * len(kinds)
    x = torch.randn(32, 12)
    model.train()
    a, b = model(x).recon, model(x).recon
    if torch.nn.Dropout in kinds:
        assert not torch.equal(a, b)  # fresh masks each call
    model.eval()
    torch.testing.assert_close(model(x).recon, model(x).recon, rtol=0, atol=0)
    assert not torch.equal(model(x).recon, a)  # eval uses running statistics and no masks, training does not
    plain = build_model("ae", (12,), hidden=(16, 8), latent_dim=4)
    assert {type(m) for m in plain.modules()}.isdisjoint(kinds)  # off: no module, saved weights keep their names


def test_batch_norm_in_a_conv_backbone_follows_each_hidden_conv() -> None:
    model = build_model("ae", (1, 12, 12), channels=(4, 8), batch_norm=True)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [n.num_features for n in norms] == [4, 8, 4]  # two encoder convs, the decoder's inner deconv
    assert all(float(n.running_mean.abs().sum()) == 0 and float(n.running_var.sum()) == n.num_features for n in norms)
    assert model(torch.rand(3, 1, 12, 12)).recon.shape == (3, 1, 12, 12)


def test_input_noise_corrupts_what_the_encoder_sees_in_training_only() -> None:
    model = build_model("ae", (5,), hidden=(8,), latent_dim=5, input_noise=0.5)
    x = torch.zeros(4, 5)
    seen = []
    model.encoder.register_forward_hook(lambda module, args, out: seen.append(args[0].clone()))
    model.train()
    model(x)
    assert float(seen[-1].std()) == pytest.approx(0.5, rel=0.5)  # the encoder saw noisy inputs
    model.eval()
    model(x)
    assert torch.equal(seen[-1], x)  # scoring sees the clean ones
