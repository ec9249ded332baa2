"""Members trained as one program: K autoencoders of one architecture (an ensemble's members, restarts, the seeds of
a grid cell) trained together as stacked weights.

Each member keeps what a training of its own has: its initialisation (built from its seed, as :func:`fit` builds
it), its batch order (its own generator), its data (shared, or its own split), its learning-rate schedule, early
stopping and best checkpoint. The members' weights are stacked along a leading axis of size K and one
``torch.func.vmap`` of ``functional_call`` runs the K forward passes as one batched program; the loss summed over
members gives each member its own gradient, and Adam (elementwise) updates each as if it were alone. A member that
stopped early keeps its weights: its updates are masked to zero until the last member stops.

The results equal separate training within floating-point reordering for deterministic models (the AE's weights
agree to ~1e-5 after some epochs); a VAE's noise and an AAE's prior samples are drawn for all members at once, so
they equal separate training in distribution, not draw for draw (tests/test_members.py states the tolerances).
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
from aecompare.models import Autoencoder
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
    return ""


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
    defaults, L2 weight decay), one learning rate per member, and updates masked to zero for members that stopped."""

    def __init__(self, params: list[torch.Tensor], lr: float, weight_decay: float = 0.0, kind: str = "adam") -> None:
        self.params, self.kind = params, kind
        self.k = params[0].shape[0]
        self.lr = torch.full((self.k,), float(lr), dtype=torch.float64)  # on the CPU: read every epoch for the history
        self.weight_decay = weight_decay
        self.beta1, self.beta2, self.eps, self.momentum_decay = 0.9, 0.999, 1e-8, 4e-3
        self.step_count = 0
        self.mu_product = torch.ones(())  # NAdam's, in float32 as torch keeps it
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]

    def _per_member(self, values: torch.Tensor, active: torch.Tensor) -> list[torch.Tensor]:
        """(K,) step sizes, zero where a member stopped, shaped to multiply each parameter (K, 1, ...)."""
        values = values.to(active.device, self.params[0].dtype) * active
        return [values.view(-1, *([1] * (p.ndim - 1))) for p in self.params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        """One update of every member's parameters from ``grads``; members where ``active`` is False keep theirs."""
        self.step_count += 1
        t = self.step_count
        if self.weight_decay:
            grads = torch._foreach_add(grads, self.params, alpha=self.weight_decay)
        torch._foreach_lerp_(self.exp_avg, grads, 1 - self.beta1)
        torch._foreach_mul_(self.exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - self.beta2)
        if self.kind == "adam":
            denom = torch._foreach_sqrt(self.exp_avg_sq)
            torch._foreach_div_(denom, math.sqrt(1 - self.beta2**t))
            torch._foreach_add_(denom, self.eps)
            updates = torch._foreach_div(self.exp_avg, denom)
            torch._foreach_mul_(updates, self._per_member(self.lr / (1 - self.beta1**t), active))
            torch._foreach_sub_(self.params, updates)
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
        torch._foreach_mul_(from_grad, self._per_member(self.lr * (1.0 - mu) / (1.0 - product), active))
        from_avg = torch._foreach_div(self.exp_avg, denom)
        torch._foreach_mul_(from_avg, self._per_member(self.lr * mu_next / (1.0 - product_next), active))
        torch._foreach_sub_(self.params, from_grad)
        torch._foreach_sub_(self.params, from_avg)


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
                        optimizer.lr[k] = old * self.factor
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


def _forward_terms(base: Autoencoder, epoch: int):
    """One member's training terms on its batch: a function for ``vmap``."""

    def terms(params: dict, buffers: dict, xb: torch.Tensor) -> dict[str, torch.Tensor]:
        return training_loss(base, xb, functional_call(base, (params, buffers), (xb,)), epoch)

    return terms


class StackedSteps:
    """The stacked versions of the training steps: the standard step, and the AAE's three phases."""

    def __init__(self, stack: Stack, config: TrainConfig) -> None:
        self.stack, self.config = stack, config
        base = stack.base
        self.adversarial = base.critic is not None
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
            )
            for name, names in self.groups.items()
        }

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
        terms = vmap(_forward_terms(s.base, epoch), randomness="different")(s.params, s.buffers, xb)
        self._update("autoencoder", terms["total"].sum(), active)
        return {"loss": terms.pop("total").detach(), **{k: v.detach() for k, v in terms.items()}}

    def _adversarial(self, xb: torch.Tensor, active: torch.Tensor) -> dict[str, torch.Tensor]:
        """The AAE's step for every member: reconstruction, ``critic_steps`` critic updates (clipped), encoder."""
        s, cfg = self.stack, self.stack.base.config
        base = s.base

        def reconstruction(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
            out = functional_call(base, (params, buffers), (x,))
            return objective_terms(cfg, x, out.recon, None, None, out.recon_logvar)["total"].mean()

        def code(params: dict, x: torch.Tensor) -> torch.Tensor:
            h = functional_call(base.encoder, _submodule("encoder.", params), (x,))
            return functional_call(base.bottleneck.proj, _submodule("bottleneck.proj.", params), (h,))

        def critic(params: dict, z: torch.Tensor) -> torch.Tensor:
            return functional_call(base.critic, _submodule("bottleneck.critic.", params), (z,)).mean()

        recon = vmap(reconstruction)(s.params, s.buffers, xb)
        self._update("autoencoder", recon.sum(), active)
        for _ in range(cfg.critic_steps):
            with torch.no_grad():
                z_fake = vmap(code)(s.params, xb)
            loss_c = vmap(critic)(s.params, z_fake) - vmap(critic)(s.params, torch.randn_like(z_fake))
            self._update("critic", loss_c.sum(), active)
            with torch.no_grad():
                for n in self.groups["critic"]:
                    s.params[n].clamp_(-cfg.critic_clip, cfg.critic_clip)
        loss_g = -cfg.adversarial_weight * vmap(critic)(s.params, vmap(code)(s.params, xb))
        self._update("encoder", loss_g.sum(), active)
        return {"loss": recon.detach(), "critic": loss_c.detach(), "adversarial": loss_g.detach()}


@torch.no_grad()
def stacked_validation_loss(stack: Stack, data: MemberData, batch_size: int) -> torch.Tensor:
    """Every member's validation loss (K,), as :func:`aecompare.train.loop.validation_loss` computes each."""
    base = stack.base
    base.eval()

    def total(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        out = functional_call(base, (params, buffers), (x,))
        return objective_terms(base.config, x, out.recon, out.mu, out.logvar, out.recon_logvar)["total"].sum()

    rows = inference_rows(base.input_shape, max(batch_size, 256))
    sums = torch.zeros(len(next(iter(stack.params.values()))), device=data.x.device)
    for i in range(0, len(data), rows):
        x, in_dim = data.chunk(i, i + rows)
        sums += vmap(total, in_dims=(0, 0, in_dim))(stack.params, stack.buffers, x)
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
    torch.manual_seed(seeds[0])  # the members' VAE noise and AAE prior samples: one stream, seeded by member 0
    k, names = len(models), names or [f"member {i} (seed {s})" for i, s in enumerate(seeds)]
    device, train, val = _place_members(models, train_x, val_x, config)
    stack = Stack.of(models)
    steps = StackedSteps(stack, config)
    generators = [torch.Generator().manual_seed(s) for s in seeds]  # each member's batch order, as fit draws it
    monitor = val if val is not None else train
    state = MembersProgress.start(stack, stacked_validation_loss(stack, monitor, config.batch_size).tolist())
    plateau = PlateauSchedule(config.lr_patience, config.lr_factor, [math.inf] * k, [0] * k)
    show = sys.stderr.isatty() if progress is None else progress
    for epoch in tqdm(range(1, config.epochs + 1), desc=f"train {k} members", disable=not show, leave=False):
        train_terms = _stacked_epoch(steps, train, generators, state.active, config, epoch)
        val_losses = stacked_validation_loss(stack, monitor, config.batch_size).tolist() if val else None
        rows = _history_rows(train_terms, val_losses, steps, epoch)
        _check_finite(rows, state.active, names, config, epoch)
        if config.lr_patience:
            plateau.step([r["val_loss"] for r in rows], list(steps.optimizers.values()), state.active)
        _record(state, rows, stack, config, names)
        if not any(state.active):
            break
    return _finish_members(models, stack, state, monitor, device, names)


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
    monitor: MemberData,
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
        result.output_spread = output_spread(model, monitor.member(k))
        if result.collapsed:
            log.warning(
                "%s: the model gives nearly the same reconstruction for every input (spread %.3g of the inputs'): "
                "it learned the mean. Try weight_init: kaiming, a lower learning rate, or more epochs.",
                names[k],
                result.output_spread,
            )
    return state.results


__all__ = ["fit_members", "members_unsupported"]
