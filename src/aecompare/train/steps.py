"""One optimisation step: the standard step, and the AAE's two-phase adversarial step."""

from __future__ import annotations

import torch

from aecompare.models import Autoencoder
from aecompare.train.distributed import sum_across
from aecompare.train.losses import (
    autoencoder_loss,
    critic_loss,
    encoder_adversarial_loss,
    per_sample_loss,
    training_loss,
)


class FlatParameters:
    """A model's parameters re-seated as views into one flat buffer, which the optimiser updates as one tensor.

    An optimiser step costs a few tensor operations *per parameter tensor*: for a small network that overhead,
    not the arithmetic, sets the speed (NAdam on Fiorino's 26-tensor dense VAE: ~1 ms of a ~2.6 ms step). With
    one buffer the step is one tensor's worth of operations, plus one concatenation of the gradients.
    Element-wise optimisers (Adam, NAdam) do the same arithmetic either way.
    """

    def __init__(self, params: list[torch.nn.Parameter]) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.flat = torch.nn.Parameter(torch.cat([p.detach().reshape(-1) for p in self.params]))
        offset = 0
        for p in self.params:  # p keeps its identity (modules, state_dict) but now lives in the buffer
            p.data = self.flat.data[offset : offset + p.numel()].view_as(p)
            offset += p.numel()

    def collect_grads(self) -> None:
        """Gather the parameters' gradients into the buffer's (zeros where a parameter got none)."""
        self.flat.grad = torch.cat(
            [p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(p).reshape(-1) for p in self.params]
        )


def standard_step(
    model: Autoencoder, xb: torch.Tensor, optimizer: torch.optim.Optimizer, flat: FlatParameters | None, epoch: int = 1
) -> dict[str, torch.Tensor]:
    """One gradient step on the model's training loss at ``epoch``; returns its detached terms (``loss`` is
    the total)."""
    terms = training_loss(model, xb, model(xb), epoch)
    model.zero_grad(set_to_none=True)
    terms["total"].backward()
    if flat is not None:
        flat.collect_grads()
    optimizer.step()
    return {"loss": terms.pop("total").detach(), **{k: v.detach() for k, v in terms.items()}}


def sharded_step(
    model: Autoencoder,
    xb: torch.Tensor,
    n_global: int,
    optimizer: torch.optim.Optimizer,
    flat: FlatParameters,
    noise: torch.Tensor | None,
    epoch: int = 1,
) -> dict[str, torch.Tensor]:
    """This process's part of a data-parallel step: its rows ``xb`` of a global batch of ``n_global``, its loss
    scaled by its share, the flat gradient summed over the processes, then the same step everywhere. Returns
    this process's share of each term (summed over processes: the global batch's mean)."""
    terms = per_sample_loss(model, xb, model(xb, noise=noise))
    cfg = model.config
    if "kl" in terms and cfg.kl_warmup_epochs:  # the warm-up is linear per sample (free bits is refused here)
        terms["total"] = terms["total"] - cfg.beta * (1.0 - min(1.0, epoch / cfg.kl_warmup_epochs)) * terms["kl"]
    shares = {k: v.sum() / n_global for k, v in terms.items()}
    model.zero_grad(set_to_none=True)
    shares["total"].backward()
    flat.collect_grads()
    sum_across(flat.flat.grad)
    optimizer.step()
    return {"loss": shares.pop("total").detach(), **{k: v.detach() for k, v in shares.items()}}


def adversarial_step(
    model: Autoencoder, xb: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
) -> dict[str, torch.Tensor]:
    """Reconstruction phase (encoder + decoder), then regularisation phase (critic, then encoder)."""
    cfg = model.config
    recon = autoencoder_loss(model, xb, model(xb))["total"]  # no KL here: the AAE's reconstruction (+ variance)
    optimizers["autoencoder"].zero_grad(set_to_none=True)
    recon.backward()
    optimizers["autoencoder"].step()

    for _ in range(cfg.critic_steps):
        z_fake = model.encode(xb).z.detach()  # the critic must not move the encoder
        loss_c = critic_loss(model.critic, z_fake, torch.randn_like(z_fake))
        optimizers["critic"].zero_grad(set_to_none=True)
        loss_c.backward()
        optimizers["critic"].step()
        with torch.no_grad():
            for p in model.critic.parameters():
                p.clamp_(-cfg.critic_clip, cfg.critic_clip)

    loss_g = cfg.adversarial_weight * encoder_adversarial_loss(model.critic, model.encode(xb).z)
    optimizers["encoder"].zero_grad(set_to_none=True)
    loss_g.backward()
    optimizers["encoder"].step()
    return {"loss": recon.detach(), "critic": loss_c.detach(), "adversarial": loss_g.detach()}
