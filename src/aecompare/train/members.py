"""Members trained as one program: K autoencoders of one architecture (an ensemble's members, restarts, the seeds of
a grid cell) trained together as stacked weights.

Each member keeps what a training of its own has: its initialisation (built from its seed, as :func:`fit` builds
it), its batch order (its own generator), its data (shared, or its own split), its learning-rate schedule, early
stopping and best checkpoint. The members' weights are stacked along a leading axis of size K; a dense model's
K forward passes run as one batched matrix product per layer (:mod:`aecompare.models.stacked`), any other model's
as one ``torch.func.vmap`` of ``functional_call``. The loss summed over members gives each member its own
gradient, and Adam (elementwise, one flat buffer) updates each as if it were alone. A member that stopped early
keeps its weights: its updates are masked to zero until the last member stops (the program runs as many epochs as
its longest member).

Each member draws its random numbers (a VAE's noise, an AAE's prior samples) from a generator of its own, seeded as
a training alone seeds the global one, so a member gets the same draws as its training alone, whichever members
train beside it. The results therefore equal separate training up to floating-point reordering in the batched
matrix products (tests/train/test_members.py states the tolerances).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field

import torch
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from aecompare.core.runtime import inference_rows, resolve_device
from aecompare.errors import ConfigError, TrainingError
from aecompare.models import Autoencoder, AutoencoderOutput
from aecompare.models.stacked import stackable, stacked_critic, stacked_encode, stacked_forward
from aecompare.train.distributed import world
from aecompare.train.loop import (
    TrainConfig,
    TrainResult,
    autocast,
    diverged,
    output_spread,
    to_device,
)
from aecompare.train.losses import objective_terms, training_loss

log = logging.getLogger(__name__)

PLATEAU_THRESHOLD = 1e-4  # torch's ReduceLROnPlateau default (relative): what counts as a better validation loss


def members_unsupported(models: list[Autoencoder], config: TrainConfig) -> str:
    """Why ``models`` cannot be trained as one program ("" when they can): they must share one configuration
    and input shape, and train in one process."""
    first = models[0]
    if any(m.config != first.config or m.input_shape != first.input_shape for m in models[1:]):
        return "the members differ in their architecture"
    if world()[1] > 1:
        return "data-parallel training (torchrun) trains one model at a time"
    if first.config.regularised:
        return "dropout, batch normalisation and input noise train one model at a time"
    return ""


def worth_stacking(models: list[Autoencoder], config: TrainConfig) -> bool:
    """Whether training ``models`` as one program pays: several members that can be stacked, and either dense
    (one batched product per layer, overhead-bound when alone) or on a GPU. Convolutional members on the CPU
    are compute-bound: stacked under ``vmap`` three took 3.1x one member's time (benchmarks/RESULTS.md), so
    they train one after another there, with the same results."""
    if len(models) < 2 or members_unsupported(models, config):
        return False
    return stackable(models[0]) or resolve_device(config.device).type == "cuda"


@dataclass
class MemberData:
    """Training or validation inputs of K members: one tensor all share (N, ...), or one each (K, N, ...)."""

    x: torch.Tensor
    shared: bool

    @classmethod
    def of(cls, x: torch.Tensor | list[torch.Tensor] | None, k: int) -> MemberData | None:
        """``x`` shared by all members, or a list of K equally long tensors (each member's own split)."""
        if x is None:
            return None
        if isinstance(x, torch.Tensor):
            return cls(x, True) if len(x) else None
        if len(x) != k or len({len(t) for t in x}) != 1:
            raise ConfigError(f"stacked training needs {k} data tensors of one length, got {[len(t) for t in x]}")
        return cls(torch.stack(list(x)), False) if len(x[0]) else None

    def __len__(self) -> int:
        return self.x.shape[0 if self.shared else 1]

    def rows(self, rows: torch.Tensor) -> torch.Tensor:
        """(K, B) row indices, each member's into its data -> inputs (K, B, ...)."""
        if self.shared:
            return self.x[rows]
        return self.x[torch.arange(len(rows), device=rows.device)[:, None], rows]

    def chunk(self, start: int, stop: int) -> tuple[torch.Tensor, int | None]:
        """Rows [start, stop) of every member's data and the ``vmap`` in_dim that reads them."""
        return (self.x[start:stop], None) if self.shared else (self.x[:, start:stop], 0)

    def member(self, k: int) -> torch.Tensor:
        """Member ``k``'s inputs (N, ...)."""
        return self.x if self.shared else self.x[k]


class StackedOptimizer:
    """Adam or NAdam over stacked parameters (K, ...), with torch's arithmetic (``torch.optim.Adam``/``NAdam``
    defaults, L2 weight decay), one learning rate per member, and updates masked to zero for members that stopped.

    ``flatten``: re-seat the parameters as views into one flat buffer (as :class:`~aecompare.train.steps.
    FlatParameters` does for one model), so a step is a few operations on one tensor instead of a few per
    parameter tensor: for small networks that overhead, not the arithmetic, sets the speed. A parameter can live
    in one buffer only, so of optimisers sharing parameters (the AAE's) only one flattens them.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        weight_decay: float = 0.0,
        kind: str = "adam",
        flatten: bool = False,
    ) -> None:
        self.params, self.kind = params, kind
        self.k = params[0].shape[0]
        self.lr = torch.full((self.k,), float(lr), dtype=torch.float64)  # on the CPU: read every epoch for the history
        self.weight_decay = weight_decay
        self.beta1, self.beta2, self.eps, self.momentum_decay = 0.9, 0.999, 1e-8, 4e-3
        self.step_count = 0
        self.mu_product = torch.ones(())  # NAdam's, in float32 as torch keeps it
        self.flat = torch.cat([p.detach().reshape(-1) for p in params]) if flatten else None
        if self.flat is not None:
            offset = 0
            for p in params:  # each parameter's (K, ...) block, contiguous: member k's rows are p[k]
                p.data = self.flat[offset : offset + p.numel()].view_as(p)
                offset += p.numel()
            device = self.flat.device
            self.member = torch.cat(
                [torch.arange(self.k, device=device).repeat_interleave(p[0].numel()) for p in params]
            )
        self.tensors = [self.flat] if self.flat is not None else list(params)
        self._scales: tuple[torch.Tensor, list[torch.Tensor]] | None = None  # (active, lr x active per tensor)
        self.exp_avg = [torch.zeros_like(t) for t in self.tensors]
        self.exp_avg_sq = [torch.zeros_like(t) for t in self.tensors]

    def set_lr(self, k: int, value: float) -> None:
        """Member ``k``'s learning rate from now on (the plateau schedule's)."""
        self.lr[k] = value
        self._scales = None

    def _scaled(self, updates: list[torch.Tensor], factor: float, active: torch.Tensor) -> None:
        """Multiply ``updates`` in place by each member's learning rate times ``factor``, zero where a member
        stopped. lr x active is expanded to the tensors' shapes once per change of either (an epoch at most)."""
        if self._scales is None or self._scales[0] is not active:
            values = self.lr.to(active.device, self.tensors[0].dtype) * active
            if self.flat is not None:
                expanded = [values[self.member]]  # (N,): each element's member's
            else:
                expanded = [values.view(-1, *([1] * (t.ndim - 1))) for t in self.tensors]
            self._scales = (active, expanded)
        torch._foreach_mul_(updates, self._scales[1])
        torch._foreach_mul_(updates, factor)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        """One update of every member's parameters from ``grads``; members where ``active`` is False keep theirs."""
        self.step_count += 1
        t = self.step_count
        if self.flat is not None:
            grads = [torch.cat([g.reshape(-1) for g in grads])]
        if self.weight_decay:
            grads = torch._foreach_add(grads, self.tensors, alpha=self.weight_decay)
        torch._foreach_lerp_(self.exp_avg, grads, 1 - self.beta1)
        torch._foreach_mul_(self.exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - self.beta2)
        if self.kind == "adam":
            denom = torch._foreach_sqrt(self.exp_avg_sq)
            torch._foreach_div_(denom, math.sqrt(1 - self.beta2**t))
            torch._foreach_add_(denom, self.eps)
            updates = torch._foreach_div(self.exp_avg, denom)
            self._scaled(updates, 1 / (1 - self.beta1**t), active)
            torch._foreach_sub_(self.tensors, updates)
            return
        # NAdam (Dozat, 2016) as torch.optim.NAdam: a momentum schedule mu_t and a Nesterov look-ahead
        mu = self.beta1 * (1.0 - 0.5 * (0.96 ** (t * self.momentum_decay)))
        mu_next = self.beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * self.momentum_decay)))
        self.mu_product *= mu
        product, product_next = self.mu_product.item(), self.mu_product.item() * mu_next
        denom = torch._foreach_div(self.exp_avg_sq, 1 - self.beta2**t)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.eps)
        from_grad = torch._foreach_div(grads, denom)
        self._scaled(from_grad, (1.0 - mu) / (1.0 - product), active)
        from_avg = torch._foreach_div(self.exp_avg, denom)
        self._scaled(from_avg, mu_next / (1.0 - product_next), active)
        torch._foreach_sub_(self.tensors, from_grad)
        torch._foreach_sub_(self.tensors, from_avg)


@dataclass
class PlateauSchedule:
    """torch's ReduceLROnPlateau (mode min, relative threshold 1e-4, no cooldown) for each member at once."""

    patience: int
    factor: float
    best: list[float]
    bad: list[int]

    def step(self, losses: list[float], optimizers: list[StackedOptimizer], active: list[bool]) -> None:
        for k, loss in enumerate(losses):
            if not active[k]:
                continue
            if loss < self.best[k] * (1 - PLATEAU_THRESHOLD):
                self.best[k], self.bad[k] = loss, 0
            else:
                self.bad[k] += 1
            if self.patience and self.bad[k] > self.patience:
                for optimizer in optimizers:
                    old = float(optimizer.lr[k])
                    if old - old * self.factor > 1e-8:
                        optimizer.set_lr(k, old * self.factor)
                self.bad[k] = 0


@dataclass
class Stack:
    """The K members' parameters and buffers stacked (K, ...), and one module that runs any member's."""

    base: Autoencoder  # a copy of member 0: its structure and configuration, never its weights
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]

    @classmethod
    def of(cls, models: list[Autoencoder]) -> Stack:
        named = [dict(m.named_parameters()) for m in models]
        params = {
            name: torch.stack([n[name].detach() for n in named]).requires_grad_(p.requires_grad)
            for name, p in named[0].items()
        }
        buffers = {
            name: torch.stack([dict(m.named_buffers())[name] for m in models]) for name, _ in models[0].named_buffers()
        }
        return cls(copy.deepcopy(models[0]), params, buffers)

    def names(self, *prefixes: str, exclude: str | None = None) -> list[str]:
        """Trainable parameters whose names start with one of ``prefixes`` (all when none), less ``exclude``'s."""
        return [
            n
            for n, p in self.params.items()
            if p.requires_grad and (not prefixes or n.startswith(prefixes)) and not (exclude and n.startswith(exclude))
        ]

    def state(self, k: int, params: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Member ``k``'s state dict (from ``params``, e.g. its best checkpoint, when given)."""
        source = self.params if params is None else params
        return {**{n: v[k].detach().clone() for n, v in source.items()}, **{n: v[k] for n, v in self.buffers.items()}}


def _submodule(prefix: str, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {n[len(prefix) :]: v for n, v in params.items() if n.startswith(prefix)}


class DenseForward:
    """The members' forward passes for dense models: every linear layer one batched matrix product
    (:mod:`aecompare.models.stacked`), with no per-call overhead beyond one network's."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def outputs(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> AutoencoderOutput:
        """Every member's forward pass on its inputs x (K, B, ...); outputs (K, B, ...)."""
        return stacked_forward(self.stack.base, self.stack.params, x, noise)

    def terms(self, x: torch.Tensor, noise: torch.Tensor | None, epoch: int) -> dict[str, torch.Tensor]:
        """Each member's training terms on its batch, each (K,)."""
        return training_loss(self.stack.base, x, self.outputs(x, noise), epoch, batch_dims=2)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's deterministic codes (K, B, latent)."""
        return stacked_encode(self.stack.base, self.stack.params, x)[0]

    def critic(self, z: torch.Tensor) -> torch.Tensor:
        """Each member's mean critic score of its codes z (K, B, latent) -> (K,)."""
        return stacked_critic(self.stack.base, self.stack.params, z).mean(1)

    def total(self, x: torch.Tensor, in_dim: int | None) -> torch.Tensor:
        """Each member's summed validation loss of x ((B, ...) shared, or (K, B, ...) with ``in_dim`` 0)."""
        k = len(next(iter(self.stack.params.values())))
        x = x.expand(k, *x.shape) if in_dim is None else x
        out = self.outputs(x)
        cfg = self.stack.base.config
        return objective_terms(cfg, x, out.recon, out.mu, out.logvar, out.recon_logvar, batch_dims=2)["total"].sum(1)


class VmappedForward:
    """The members' forward passes for any model (convolutional ones): ``torch.func.vmap`` over
    ``functional_call`` of one module with each member's weights. The same methods as :class:`DenseForward`."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def terms(self, x: torch.Tensor, noise: torch.Tensor | None, epoch: int) -> dict[str, torch.Tensor]:
        base, s = self.stack.base, self.stack

        def one(params: dict, buffers: dict, xb: torch.Tensor, eps: torch.Tensor | None) -> dict[str, torch.Tensor]:
            out = functional_call(base, (params, buffers), (xb,), {"noise": eps} if eps is not None else None)
            return training_loss(base, xb, out, epoch)

        return vmap(one, in_dims=(0, 0, 0, 0 if noise is not None else None))(s.params, s.buffers, x, noise)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        base = self.stack.base

        def one(params: dict, xb: torch.Tensor) -> torch.Tensor:
            h = functional_call(base.encoder, _submodule("encoder.", params), (xb,))
            return functional_call(base.bottleneck.proj, _submodule("bottleneck.proj.", params), (h,))

        return vmap(one)(self.stack.params, x)

    def critic(self, z: torch.Tensor) -> torch.Tensor:
        base = self.stack.base

        def one(params: dict, codes: torch.Tensor) -> torch.Tensor:
            return functional_call(base.critic, _submodule("bottleneck.critic.", params), (codes,)).mean()

        return vmap(one)(self.stack.params, z)

    def total(self, x: torch.Tensor, in_dim: int | None) -> torch.Tensor:
        base, s = self.stack.base, self.stack

        def one(params: dict, buffers: dict, xb: torch.Tensor) -> torch.Tensor:
            out = functional_call(base, (params, buffers), (xb,))
            return objective_terms(base.config, xb, out.recon, out.mu, out.logvar, out.recon_logvar)["total"].sum()

        return vmap(one, in_dims=(0, 0, in_dim))(s.params, s.buffers, x)


class StackedSteps:
    """The stacked versions of the training steps: the standard step, and the AAE's three phases."""

    def __init__(self, stack: Stack, config: TrainConfig, seeds: list[int], device: torch.device) -> None:
        self.stack, self.config = stack, config
        self.forward = DenseForward(stack) if stackable(stack.base) else VmappedForward(stack)
        # Each member's random draws (a VAE's noise, an AAE's prior samples) from its own generator, seeded as
        # fit seeds the global one: the same draws as training it alone, whichever members train beside it.
        self.generators = [torch.Generator(device).manual_seed(seed) for seed in seeds]
        self.adversarial = stack.base.critic is not None
        if self.adversarial:
            self.groups = {
                "autoencoder": stack.names(exclude="bottleneck.critic."),
                "critic": stack.names("bottleneck.critic."),
                "encoder": stack.names("encoder.", "bottleneck.", exclude="bottleneck.critic."),
            }
        else:
            self.groups = {"autoencoder": stack.names()}
        self.optimizers = {
            name: StackedOptimizer(
                [stack.params[n] for n in names],
                config.lr,
                config.weight_decay if name == "autoencoder" else 0.0,
                config.optimizer if name == "autoencoder" else "adam",  # the AAE's critic and encoder: Adam
                flatten=name != "encoder",  # the encoder's parameters live in the autoencoder's buffer
            )
            for name, names in self.groups.items()
        }

    def draws(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Standard normal draws (K, *shape), member k's from its own generator."""
        return torch.stack(
            [torch.randn(shape, generator=g, device=like.device, dtype=like.dtype) for g in self.generators]
        )

    def _update(self, group: str, loss: torch.Tensor, active: torch.Tensor) -> None:
        names = self.groups[group]
        grads = torch.autograd.grad(loss, [self.stack.params[n] for n in names], allow_unused=True)
        grads = [torch.zeros_like(self.stack.params[n]) if g is None else g for n, g in zip(names, grads)]
        self.optimizers[group].step(grads, active)

    def step(self, xb: torch.Tensor, active: torch.Tensor, epoch: int) -> dict[str, torch.Tensor]:
        """One step of every member on its batch ``xb`` (K, B, ...); each term (K,), the batch's mean."""
        if self.adversarial:
            return self._adversarial(xb, active)
        s = self.stack
        noise = None
        if s.base.config.bottleneck == "gaussian":  # (K, B, latent); dtype of the codes, as randn_like(mu) draws
            noise = self.draws((xb.shape[1], s.base.config.latent_dim), next(iter(s.params.values())))
        terms = self.forward.terms(xb, noise, epoch)
        self._update("autoencoder", terms["total"].sum(), active)
        return {"loss": terms.pop("total").detach(), **{k: v.detach() for k, v in terms.items()}}

    def _adversarial(self, xb: torch.Tensor, active: torch.Tensor) -> dict[str, torch.Tensor]:
        """The AAE's step for every member: reconstruction, ``critic_steps`` critic updates (clipped), encoder."""
        s, cfg, forward = self.stack, self.stack.base.config, self.forward
        recon = forward.terms(xb, None, 1)["total"]  # the AAE's objective has no KL: reconstruction (+ variance)
        self._update("autoencoder", recon.sum(), active)
        for _ in range(cfg.critic_steps):
            with torch.no_grad():
                z_fake = forward.code(xb)
            loss_c = forward.critic(z_fake) - forward.critic(self.draws(z_fake.shape[1:], z_fake))
            self._update("critic", loss_c.sum(), active)
            with torch.no_grad():
                for n in self.groups["critic"]:
                    s.params[n].clamp_(-cfg.critic_clip, cfg.critic_clip)
        loss_g = -cfg.adversarial_weight * forward.critic(forward.code(xb))
        self._update("encoder", loss_g.sum(), active)
        return {"loss": recon.detach(), "critic": loss_c.detach(), "adversarial": loss_g.detach()}


@torch.no_grad()
def stacked_validation_loss(steps: StackedSteps, data: MemberData, batch_size: int) -> torch.Tensor:
    """Every member's validation loss (K,), as :func:`aecompare.train.loop.validation_loss` computes each."""
    stack = steps.stack
    stack.base.eval()
    rows = inference_rows(stack.base.input_shape, max(batch_size, 256))
    sums = torch.zeros(len(next(iter(stack.params.values()))), device=data.x.device)
    for i in range(0, len(data), rows):
        sums += steps.forward.total(*data.chunk(i, i + rows))
    return sums.double() / len(data)  # float64 division, as validation_loss divides a Python float


@dataclass
class MembersProgress:
    """What early stopping and the checkpoint choice keep for each member between epochs."""

    results: list[TrainResult]
    best: dict[str, torch.Tensor]  # the stacked parameters, each member's at its best epoch
    bad_epochs: list[int]
    active: list[bool]
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, stack: Stack, initial_losses: list[float]) -> MembersProgress:
        """Before the first epoch: each member's untrained validation loss, the yardstick for divergence."""
        k = len(initial_losses)
        return cls(
            results=[TrainResult(initial_loss=loss) for loss in initial_losses],
            best={n: p.detach().clone() for n, p in stack.params.items()},
            bad_epochs=[0] * k,
            active=[True] * k,
        )


def fit_members(
    models: list[Autoencoder],
    train_x: torch.Tensor | list[torch.Tensor],
    val_x: torch.Tensor | list[torch.Tensor] | None,
    config: TrainConfig,
    *,
    seeds: list[int],
    progress: bool | None = None,
    names: list[str] | None = None,
) -> list[TrainResult]:
    """Train ``models`` (built from ``seeds``, untrained, one configuration) together, each as :func:`fit` would
    train it alone, and load each member's best validation checkpoint into it.

    Args:
        models: K untrained autoencoders of one configuration and input shape.
        train_x: normal training inputs all members share (N, ...), or a list of K (each member's own split).
        val_x: the validation inputs, likewise; None or empty monitors the training loss.
        config: the training settings.
        seeds: each member's seed: its batch order, as :func:`fit` draws it.
        progress: show a progress bar; None shows one only on a terminal.
        names: what each member is, for warnings and errors.

    Returns:
        One :class:`TrainResult` per member; ``train_seconds`` is each member's share of the wall time.

    Raises:
        ConfigError: when the members cannot be stacked (:func:`members_unsupported`).
        TrainingError: when a member's loss becomes NaN or infinite (names the member and the epoch).
    """
    reason = members_unsupported(models, config)
    if reason:
        raise ConfigError(f"these models cannot be trained as one program: {reason}")
    k, names = len(models), names or [f"member {i} (seed {s})" for i, s in enumerate(seeds)]
    device, train, val = _place_members(models, train_x, val_x, config)
    stack = Stack.of(models)
    steps = StackedSteps(stack, config, seeds, device)
    generators = [torch.Generator().manual_seed(s) for s in seeds]  # each member's batch order, as fit draws it
    monitor = val if val is not None else train
    state = MembersProgress.start(stack, stacked_validation_loss(steps, monitor, config.batch_size).tolist())
    plateau = PlateauSchedule(config.lr_patience, config.lr_factor, [math.inf] * k, [0] * k)
    show = sys.stderr.isatty() if progress is None else progress
    for epoch in tqdm(range(1, config.epochs + 1), desc=f"train {k} members", disable=not show, leave=False):
        train_terms = _stacked_epoch(steps, train, generators, state.active, config, epoch)
        val_losses = stacked_validation_loss(steps, monitor, config.batch_size).tolist() if val else None
        rows = _history_rows(train_terms, val_losses, steps, epoch)
        _check_finite(rows, state.active, names, config, epoch)
        if config.lr_patience:
            plateau.step([r["val_loss"] for r in rows], list(steps.optimizers.values()), state.active)
        _record(state, rows, stack, config, names)
        if not any(state.active):
            break
    spread = val if val is not None and len(val) > 1 else train  # as fit measures collapse
    return _finish_members(models, stack, state, spread, device, names)


def _place_members(
    models: list[Autoencoder],
    train_x: torch.Tensor | list[torch.Tensor],
    val_x: torch.Tensor | list[torch.Tensor] | None,
    config: TrainConfig,
) -> tuple[torch.device, MemberData, MemberData | None]:
    """The models and the data on the training device, once for the whole training."""
    device = resolve_device(config.device)
    for model in models:
        model.to(device)
    return (
        device,
        MemberData.of(_on(train_x, device, config), len(models)),
        MemberData.of(_on(val_x, device, config), len(models)),
    )


def _on(
    x: torch.Tensor | list[torch.Tensor] | None, device: torch.device, config: TrainConfig
) -> torch.Tensor | list[torch.Tensor] | None:
    if x is None or isinstance(x, torch.Tensor):
        return to_device(x, device, config) if x is not None and len(x) else None
    return [to_device(t, device, config) for t in x] if len(x[0]) else None


def _stacked_epoch(
    steps: StackedSteps,
    train: MemberData,
    generators: list[torch.Generator],
    active: list[bool],
    config: TrainConfig,
    epoch: int,
) -> dict[str, torch.Tensor]:
    """One pass of every member over its training data in its own shuffled order; each term's mean (K,)."""
    steps.stack.base.train()
    n, device = len(train), train.x.device
    orders = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)  # (K, N)
    mask = torch.tensor(active, device=device)
    sums, keys = None, []
    for i in range(0, n, config.batch_size):
        rows = orders[:, i : i + config.batch_size]
        xb = train.rows(rows)  # (K, B, ...)
        with autocast(xb, config):
            terms = steps.step(xb, mask, epoch)
        keys = list(terms)
        weighted = torch.stack(list(terms.values())) * rows.shape[1]  # (T, K)
        sums = weighted if sums is None else sums + weighted
    return {f"train_{key}": row / n for key, row in zip(keys, sums.float())}


def _history_rows(
    train_terms: dict[str, torch.Tensor], val_losses: list[float] | None, steps: StackedSteps, epoch: int
) -> list[dict[str, float]]:
    """Each member's history row, as :func:`aecompare.train.loop.train_epoch` writes one."""
    values = {key: v.tolist() for key, v in train_terms.items()}
    lrs = steps.optimizers["autoencoder"].lr.tolist()
    rows = []
    for k in range(len(lrs)):
        row = {"epoch": epoch, **{key: v[k] for key, v in values.items()}}
        row["val_loss"] = val_losses[k] if val_losses is not None else row["train_loss"]
        row["lr"] = lrs[k]
        rows.append(row)
    return rows


def _check_finite(
    rows: list[dict[str, float]], active: list[bool], names: list[str], config: TrainConfig, epoch: int
) -> None:
    for row, on, name in zip(rows, active, names):
        for key in ("train_loss", "val_loss"):
            if on and not math.isfinite(row[key]):
                raise TrainingError(
                    f"{name}: the {key.replace('_', ' ')} became {row[key]} at epoch {epoch} of {config.epochs}; "
                    f"try a lower learning rate (lr is {config.lr:g}; e.g. --set train.lr={config.lr / 10:g}) "
                    "or check the inputs for extreme values"
                )


def _record(
    state: MembersProgress, rows: list[dict[str, float]], stack: Stack, config: TrainConfig, names: list[str]
) -> None:
    """Append each active member's row, keep its best weights, and stop it when early stopping or divergence
    says so."""
    improved = []
    for k, row in enumerate(rows):
        if not state.active[k]:
            improved.append(False)
            continue
        result = state.results[k]
        result.history.append(row)
        better = row["val_loss"] < result.best_val_loss
        improved.append(better)
        if better:
            result.best_val_loss, result.best_epoch, state.bad_epochs[k] = row["val_loss"], row["epoch"], 0
        else:
            state.bad_epochs[k] += 1
    if any(improved):
        mask = torch.tensor(improved, device=next(iter(stack.params.values())).device)
        with torch.no_grad():
            for n, p in stack.params.items():
                state.best[n] = torch.where(mask.view(-1, *([1] * (p.ndim - 1))), p.detach(), state.best[n])
    for k, result in enumerate(state.results):
        if not state.active[k]:
            continue
        patience_out = bool(config.early_stopping_patience and state.bad_epochs[k] >= config.early_stopping_patience)
        if patience_out or diverged(result, names[k]):
            state.active[k], result.stopped_early = False, True


def _finish_members(
    models: list[Autoencoder],
    stack: Stack,
    state: MembersProgress,
    spread_x: MemberData,
    device: torch.device,
    names: list[str],
) -> list[TrainResult]:
    """Load each member's best weights into its model, share out the wall time, and check each for collapse."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - state.started) / len(models)
    for k, (model, result) in enumerate(zip(models, state.results)):
        model.load_state_dict(stack.state(k, state.best))
        model.eval()
        result.train_seconds = seconds
        result.output_spread = output_spread(model, spread_x.member(k))
        if result.collapsed:
            log.warning(
                "%s: the model gives nearly the same reconstruction for every input (spread %.3g of the inputs'): "
                "it learned the mean. Try weight_init: kaiming, a lower learning rate, or more epochs.",
                names[k],
                result.output_spread,
            )
    return state.results


__all__ = ["fit_members", "members_unsupported", "worth_stacking"]
