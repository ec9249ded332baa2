"""K dense autoencoders of one configuration run as one: their weights stacked (K, ...) and every linear layer one
batched matrix product (``torch.baddbmm``) over the members. For small dense networks this costs about what one
network costs, where ``torch.func.vmap`` over ``functional_call`` costs several times more in per-call overhead
(benchmarks/RESULTS.md, "Members trained as one program"). Convolutional models run under ``vmap`` instead
(``aecompare.train.members``).

The forward pass mirrors :meth:`Autoencoder.forward` layer by layer, reading the modules' own structure (their
``Sequential`` order, activations, clamps), so a dense model of any widths runs here unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from aecompare.models.autoencoder import Autoencoder, AutoencoderOutput
from aecompare.models.backbones import MLPDecoder, MLPEncoder


def stackable(model: Autoencoder) -> bool:
    """Whether ``model`` is dense throughout (MLP encoder and decoder), so :func:`stacked_forward` runs it."""
    return isinstance(model.encoder, MLPEncoder) and isinstance(model.decoder, MLPDecoder)


def _run(module: nn.Module, prefix: str, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``module`` applied to every member's inputs x (K, B, F) with the members' stacked parameters."""
    if isinstance(module, nn.Linear):
        weight, bias = params[prefix + "weight"], params[prefix + "bias"]  # (K, out, in), (K, out)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            x = _run(child, f"{prefix}{name}.", params, x)
        return x
    if any(True for _ in module.parameters()):
        raise TypeError(f"stacked_forward has no rule for {type(module).__name__} with parameters")
    return module(x)  # an activation or Identity: elementwise, any shape


def stacked_encode(
    model: Autoencoder, params: dict[str, torch.Tensor], x: torch.Tensor, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Every member's codes of its inputs x (K, B, *input_shape): z, mu and (VAE) logvar, each (K, B, latent).
    A VAE samples z = mu + sigma * noise when ``noise`` (K, B, latent) is given, else z = mu."""
    h = _run(model.encoder.net, "encoder.net.", params, x.flatten(2))
    kind = model.bottleneck.kind
    if kind == "gaussian":
        mu = _run(model.bottleneck.mu, "bottleneck.mu.", params, h)
        logvar = _run(model.bottleneck.logvar, "bottleneck.logvar.", params, h).clamp(*model.bottleneck.logvar_clamp)
        z = mu if noise is None else mu + torch.exp(0.5 * logvar) * noise
        return z, mu, logvar
    z = _run(model.bottleneck.proj, "bottleneck.proj.", params, h)
    return z, z, None


def stacked_forward(
    model: Autoencoder, params: dict[str, torch.Tensor], x: torch.Tensor, noise: torch.Tensor | None = None
) -> AutoencoderOutput:
    """:meth:`Autoencoder.forward` for K stacked members: inputs (K, B, *input_shape), outputs with a leading
    member axis. ``model`` supplies the structure only; ``params`` (name -> (K, ...)) the weights."""
    z, mu, logvar = stacked_encode(model, params, x, noise)
    decoder = model.decoder
    out = decoder.output(_run(decoder.net, "decoder.net.", params, z))
    recon, recon_logvar = model.split_decoder_output(out.view(*z.shape[:2], *decoder.output_shape), dim=2)
    return AutoencoderOutput(recon=recon, z=z, mu=mu, logvar=logvar, recon_logvar=recon_logvar)


def stacked_critic(model: Autoencoder, params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """The AAE critic of every member on its codes z (K, B, latent) -> (K, B)."""
    return _run(model.critic.net, "bottleneck.critic.net.", params, z).squeeze(-1)
