"""One training loop for every autoencoder: a standard step, or the AAE's two-phase adversarial step.

Early stopping, the learning-rate schedule and the checkpoint kept are chosen on the loss of *normal
validation* data only.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from tqdm.auto import tqdm

from aecompare.errors import ConfigError, TrainingError
from aecompare.losses import autoencoder_loss, critic_loss, encoder_adversarial_loss, per_sample_loss
from aecompare.models import Autoencoder
from aecompare.utils import (
    atomic_write_bytes,
    inference_rows,
    read_json,
    resolve_device,
    seed_everything,
    write_json,
)

log = logging.getLogger(__name__)

COLLAPSE_SPREAD = 0.01  # a collapsed net gives ~1e-6; healthy early training already gives >0.05


@dataclass(frozen=True)
class TrainConfig:
    """How to train; every model in one comparison is trained the same way."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: Literal["adam", "nadam"] = "adam"  # NAdam: Adam with Nesterov momentum (Fiorino's fraud VAE)
    weight_decay: float = 0.0
    early_stopping_patience: int = 10  # epochs without a better validation loss; 0 turns it off
    lr_patience: int = 5  # ReduceLROnPlateau patience on the validation loss; 0 turns it off
    lr_factor: float = 0.5
    device: str = "auto"  # auto: CUDA when present, else the CPU

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be at least 1, got {getattr(self, key)}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        if self.early_stopping_patience < 0 or self.lr_patience < 0:
            raise ConfigError("train patience values must be 0 (off) or positive")
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"train.lr_factor must be in (0, 1), got {self.lr_factor}")


@dataclass
class TrainResult:
    """What training did: per-epoch history, the epoch whose weights were kept, and its wall time."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    train_seconds: float = 0.0
    stopped_early: bool = False
    output_spread: float = math.nan  # reconstructions' spread over inputs / the inputs' own; ~0: collapsed

    @property
    def collapsed(self) -> bool:
        """True when the model gives nearly one reconstruction for every input (it learned the mean)."""
        return self.output_spread < COLLAPSE_SPREAD


def fit(
    model: Autoencoder,
    train_x: torch.Tensor,
    val_x: torch.Tensor | None,
    config: TrainConfig,
    *,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint_dir: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` in place on in-memory normal data and load the best validation checkpoint.

    Args:
        model: an untrained autoencoder.
        train_x: normal training inputs (N, *input_shape).
        val_x: normal validation inputs (M, *input_shape); None or empty monitors the training loss.
        config: the training settings.
        seed: seeds initialisation-independent randomness here (batch order, VAE noise, prior samples).
        progress: show a progress bar; None shows one only on a terminal.
        checkpoint_dir: if given, the whole training state (weights, best weights, optimisers, schedules,
            history, random generators) is written there after every epoch, and a later call with the same
            model, data size and settings resumes after the last finished epoch, giving the weights an
            uninterrupted run would have (exactly on the CPU; on a GPU up to nondeterministic kernels).
            ``epochs`` may grow between calls.

    Returns:
        The :class:`TrainResult`.

    Raises:
        TrainingError: when the loss becomes NaN or infinite.
    """
    device = resolve_device(config.device)
    generator = seed_everything(seed)
    model.to(device)
    train_x = train_x.to(device)
    val_x = val_x.to(device) if val_x is not None and len(val_x) else None
    adversarial = model.critic is not None

    optimizer_class = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam}[config.optimizer]
    # The AAE's three optimisers share parameters, so only the one-optimiser models get a flat buffer.
    flat = None if adversarial else FlatParameters(model.autoencoder_parameters())
    optimizers = {"autoencoder": optimizer_class(model.autoencoder_parameters() if flat is None else [flat.flat],
                                                 lr=config.lr, weight_decay=config.weight_decay)}
    if adversarial:
        optimizers["critic"] = torch.optim.Adam(model.critic.parameters(), lr=config.lr)
        optimizers["encoder"] = torch.optim.Adam(model.encoder_parameters(), lr=config.lr)
    schedulers = [torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=config.lr_factor,
                                                             patience=config.lr_patience)
                  for o in optimizers.values()] if config.lr_patience else []

    result = TrainResult()
    best_state = None
    bad_epochs = 0
    n = len(train_x)
    first_epoch, spent = 1, 0.0
    fingerprint = {"model": repr(model.config), "input_shape": list(model.input_shape), "n_train": n,
                   "train": {k: v for k, v in vars(config).items() if k != "epochs"}, "seed": seed}
    if checkpoint_dir is not None:
        saved = _load_checkpoint(Path(checkpoint_dir), fingerprint, device)
        if saved is not None:
            model.load_state_dict(saved["model"])
            for name, opt in optimizers.items():
                opt.load_state_dict(saved["optimizers"][name])
            for scheduler, state in zip(schedulers, saved["schedulers"]):
                scheduler.load_state_dict(state)
            generator.set_state(saved["generator"])
            torch.set_rng_state(saved["torch_rng"])
            if saved.get("cuda_rng") is not None and device.type == "cuda":  # the VAE's noise on the GPU
                torch.cuda.set_rng_state(saved["cuda_rng"], device)
            best_state, bad_epochs, spent = saved["best_state"], saved["bad_epochs"], saved["seconds"]
            result.history, result.best_epoch, result.best_val_loss = saved["history"], saved["best_epoch"], \
                saved["best_val_loss"]
            first_epoch = len(result.history) + 1
            log.info("resuming from the checkpoint in %s after epoch %d", checkpoint_dir, first_epoch - 1)
            if saved["stopped_early"]:
                result.stopped_early, first_epoch = True, config.epochs + 1
    show = sys.stderr.isatty() if progress is None else progress
    start = time.perf_counter() - spent
    bar = tqdm(range(first_epoch, config.epochs + 1), desc="train", disable=not show, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        sums, names = None, []
        for i in range(0, n, config.batch_size):  # the last batch may be partial: tiny sets keep every row
            xb = train_x[order[i:i + config.batch_size]]
            terms = (_adversarial_step(model, xb, optimizers) if adversarial
                     else _standard_step(model, xb, optimizers["autoencoder"], flat))
            names = list(terms)
            weighted = torch.stack(list(terms.values())) * len(xb)  # one op per step, not one per term
            sums = weighted if sums is None else sums + weighted
        row = {"epoch": epoch, **{f"train_{k}": float(v) / n for k, v in zip(names, sums.tolist())}}
        row["val_loss"] = validation_loss(model, val_x, config.batch_size) if val_x is not None else row["train_loss"]
        row["lr"] = optimizers["autoencoder"].param_groups[0]["lr"]
        for key in ("train_loss", "val_loss"):
            if not math.isfinite(row[key]):
                raise TrainingError(
                    f"the {key.replace('_', ' ')} became {row[key]} at epoch {epoch} of {config.epochs}; "
                    f"try a lower learning rate (lr is {config.lr:g}; e.g. --set train.lr={config.lr / 10:g}) "
                    "or check the inputs for extreme values")
        result.history.append(row)
        for scheduler in schedulers:
            scheduler.step(row["val_loss"])
        if row["val_loss"] < result.best_val_loss:
            result.best_val_loss, result.best_epoch, bad_epochs = row["val_loss"], epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        bar.set_postfix(loss=f"{row['train_loss']:.4g}", val=f"{row['val_loss']:.4g}")
        stop = bool(config.early_stopping_patience and bad_epochs >= config.early_stopping_patience)
        if checkpoint_dir is not None:
            _save_checkpoint(Path(checkpoint_dir), fingerprint, {
                "model": model.state_dict(), "best_state": best_state,
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "schedulers": [sch.state_dict() for sch in schedulers], "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "history": result.history, "best_epoch": result.best_epoch,
                "best_val_loss": result.best_val_loss, "bad_epochs": bad_epochs, "stopped_early": stop,
                "seconds": time.perf_counter() - start})
        if stop:
            result.stopped_early = True
            log.info("early stop at epoch %d; best epoch %d", epoch, result.best_epoch)
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if device.type == "cuda":
        torch.cuda.synchronize()
    result.train_seconds = time.perf_counter() - start
    result.output_spread = output_spread(model, val_x if val_x is not None and len(val_x) > 1 else train_x)
    if result.collapsed:
        log.warning("the model gives nearly the same reconstruction for every input (spread %.3g of the "
                    "inputs'): it learned the mean, and its scores are distances to the mean. Try "
                    "weight_init: kaiming, a lower learning rate, or more epochs.", result.output_spread)
    return result


CHECKPOINT_TENSORS, CHECKPOINT_STATE = "checkpoint.safetensors", "checkpoint.json"


def _save_checkpoint(folder: Path, fingerprint: dict, state: dict) -> None:
    """Write the training state as tensors (safetensors) plus JSON, never a pickle; the JSON goes last and
    names the tensors' file by its epoch, so a crash mid-write leaves the previous checkpoint readable."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split_tensors(state, "", tensors)
    epoch = len(state["history"])
    atomic_write_bytes(folder / f"epoch-{epoch}.{CHECKPOINT_TENSORS}", save_safetensors(tensors))
    write_json(folder / CHECKPOINT_STATE, {"fingerprint": fingerprint, "epoch": epoch, "state": skeleton})
    for old in folder.glob(f"epoch-*.{CHECKPOINT_TENSORS}"):
        if old.name != f"epoch-{epoch}.{CHECKPOINT_TENSORS}":
            old.unlink(missing_ok=True)


def _load_checkpoint(folder: Path, fingerprint: dict, device: torch.device) -> dict | None:
    """The state saved by :func:`_save_checkpoint`, or None when there is none; a checkpoint of another
    model, data size or setting is an error rather than a silent restart."""
    if not (folder / CHECKPOINT_STATE).exists():
        return None
    saved = read_json(folder / CHECKPOINT_STATE)
    if saved["fingerprint"] != json.loads(json.dumps(fingerprint)):
        raise ConfigError(f"the checkpoint in {folder} belongs to another model, data size or training setting; "
                          "delete that folder to start afresh, or restore the settings it was made with")
    with open(folder / f"epoch-{saved['epoch']}.{CHECKPOINT_TENSORS}", "rb") as f:
        tensors = load_safetensors(f.read())
    return _join_tensors(saved["state"], {k: v.to(device) if k.startswith(("model", "best_state", "optimizers"))
                                          else v for k, v in tensors.items()})


def _split_tensors(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A nested structure with every tensor replaced by ``{"__tensor__": key}`` (the tensor goes to ``tensors``)."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()  # a copy: views share memory
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _split_tensors(v, f"{key}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_split_tensors(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`_split_tensors` (dict keys keep their types: optimiser states use int keys)."""
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _join_tensors(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_join_tensors(v, tensors) for v in obj]
    return obj


@torch.no_grad()
def output_spread(model: Autoencoder, x: torch.Tensor, limit: int = 1024) -> float:
    """How much reconstructions vary across inputs, relative to the inputs: std over samples, averaged
    over features, of the reconstructions divided by that of the inputs. Near 0 means collapse."""
    x = x[:limit]
    if len(x) < 2:
        return math.nan
    model.eval()
    rows = inference_rows(model.input_shape)
    recon = torch.cat([model(x[i:i + rows]).recon for i in range(0, len(x), rows)])
    spread_in = float(x.std(0).mean())
    return float(recon.std(0).mean()) / spread_in if spread_in > 0 else math.nan


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
            p.data = self.flat.data[offset:offset + p.numel()].view_as(p)
            offset += p.numel()

    def collect_grads(self) -> None:
        """Gather the parameters' gradients into the buffer's (zeros where a parameter got none)."""
        self.flat.grad = torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(p).reshape(-1)
                                    for p in self.params])


def _standard_step(model: Autoencoder, xb: torch.Tensor, optimizer: torch.optim.Optimizer,
                   flat: FlatParameters | None) -> dict[str, torch.Tensor]:
    terms = autoencoder_loss(model, xb, model(xb))
    model.zero_grad(set_to_none=True)
    terms["total"].backward()
    if flat is not None:
        flat.collect_grads()
    optimizer.step()
    return {"loss": terms.pop("total").detach(), **{k: v.detach() for k, v in terms.items()}}


def _adversarial_step(model: Autoencoder, xb: torch.Tensor, optimizers: dict) -> dict[str, torch.Tensor]:
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


@torch.no_grad()
def validation_loss(model: Autoencoder, x: torch.Tensor, batch_size: int) -> float:
    """The loss early stopping watches, deterministic: z is the posterior mean.

    The training objective of :func:`aecompare.losses.per_sample_loss`: the AE's and AAE's reconstruction loss,
    the VAE's adds ``beta`` x KL (and a Gaussian decoder's variance term where it applies).
    """
    model.eval()
    total = torch.zeros((), device=x.device)
    step = inference_rows(model.input_shape, max(batch_size, 256))  # no gradients: larger batches are cheap
    for i in range(0, len(x), step):
        xb = x[i:i + step]
        total += per_sample_loss(model, xb, model(xb))["total"].sum()
    return float(total) / len(x)
