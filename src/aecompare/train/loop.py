"""One training loop for every autoencoder, read top to bottom as set-up -> epoch -> early stop -> checkpoint.

Early stopping, the learning-rate schedule and the checkpoint kept are chosen on the loss of *normal
validation* data only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from aecompare.core.runtime import batched, resolve_device, seed_everything
from aecompare.errors import ConfigError, TrainingError
from aecompare.models import Autoencoder
from aecompare.train.checkpoint import read_checkpoint, write_checkpoint
from aecompare.train.distributed import is_main, shard, sum_across, world
from aecompare.train.losses import per_sample_loss
from aecompare.train.steps import FlatParameters, adversarial_step, sharded_step, standard_step

log = logging.getLogger(__name__)

COLLAPSE_SPREAD = 0.01  # a collapsed net gives ~1e-6; healthy early training already gives >0.05
# A training loss this many times its first epoch's (in absolute value) has diverged: healthy runs fall well
# below their first epoch; lr 10 on cardio reached ~1e26.
DIVERGENCE_FACTOR = 1e3


GPU_SWITCHES = ("channels_last", "cudnn_benchmark")  # TrainConfig fields no CPU run reads
MAX_EPOCHS, MAX_BATCH, MAX_LR = 100_000, 1 << 20, 1e12  # beyond these a setting is a typo, not a plan


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
    # bf16: autocast the training steps' matrix work to bfloat16, on CUDA or the CPU. It changes the numbers in
    # the last digits, so it is opt-in; on the 2-core AVX512-BF16 machine of benchmarks/RESULTS.md an epoch
    # takes 0.8-1.6x as long as in fp32 (benchmarks/cpu_switches.py). GPU switches, which no CPU run reads:
    # channels_last (NHWC memory for conv nets on CUDA), cudnn_benchmark (cuDNN picks the fastest kernels).
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    cudnn_benchmark: bool = True

    def __post_init__(self) -> None:
        for key, most in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH)):
            if not 1 <= getattr(self, key) <= most:
                raise ConfigError(f"train.{key} must be 1 to {most:,}, got {getattr(self, key):,}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise ConfigError(f"train.lr must be a positive, finite number of at most {MAX_LR:g}, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"train.weight_decay must be 0 or a positive, finite number, got {self.weight_decay}")
        resolve_device(self.device)  # an unknown or absent device fails at load time, with the valid ones
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
    diverged: str = ""  # why training was stopped as diverged ("" when it was not)
    initial_loss: float = math.nan  # the untrained model's validation loss: the yardstick for divergence

    @property
    def restart_loss(self) -> float:
        """What restarts compare (lower is better): the best validation loss, or infinity for a training that
        diverged or never got a finite one."""
        return self.best_val_loss if math.isfinite(self.best_val_loss) and not self.diverged else math.inf

    @property
    def collapsed(self) -> bool:
        """True when the model gives nearly one reconstruction for every input (it learned the mean)."""
        return self.output_spread < COLLAPSE_SPREAD


@dataclass
class Optimisation:
    """The optimisers (one, or the AAE's three), their plateau schedules and the flat parameter buffer."""

    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: list[Any]
    flat: FlatParameters | None

    @classmethod
    def build(cls, model: Autoencoder, config: TrainConfig) -> Optimisation:
        """Optimisers for ``model``; the AAE's share parameters, so only one-optimiser models get a flat buffer."""
        adversarial = model.critic is not None
        if (adversarial or model.config.free_bits) and world()[1] > 1:
            raise ConfigError(
                "data-parallel training (torchrun) covers AEs and VAEs without free bits; train this "
                "model in one process, or set free_bits: 0 (the generic VAEs use 0.5)"
            )
        optimizer_class = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam}[config.optimizer]
        flat = None if adversarial else FlatParameters(model.autoencoder_parameters())
        params = model.autoencoder_parameters() if flat is None else [flat.flat]
        optimizers = {"autoencoder": optimizer_class(params, lr=config.lr, weight_decay=config.weight_decay)}
        if adversarial:
            optimizers["critic"] = torch.optim.Adam(model.critic.parameters(), lr=config.lr)
            optimizers["encoder"] = torch.optim.Adam(model.encoder_parameters(), lr=config.lr)
        schedulers = (
            [
                torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=config.lr_factor, patience=config.lr_patience)
                for o in optimizers.values()
            ]
            if config.lr_patience
            else []
        )
        return cls(optimizers, schedulers, flat)

    def step(
        self, model: Autoencoder, train_x: torch.Tensor, rows: torch.Tensor, epoch: int = 1
    ) -> dict[str, torch.Tensor]:
        """One global batch's step (``rows`` index ``train_x``); its detached loss terms, each the batch's mean
        (under ``torchrun``: this process's share of it)."""
        if world()[1] > 1:
            mine = rows[shard(len(rows))]
            noise = None
            if model.config.bottleneck == "gaussian":  # the global batch's draws, as one process would make them
                noise = torch.randn(len(rows), model.config.latent_dim, device=train_x.device)[shard(len(rows))]
            return sharded_step(
                model, train_x[mine], len(rows), self.optimizers["autoencoder"], self.flat, noise, epoch
            )
        if model.critic is not None:
            return adversarial_step(model, train_x[rows], self.optimizers)
        return standard_step(model, train_x[rows], self.optimizers["autoencoder"], self.flat, epoch)


@dataclass
class Progress:
    """The state early stopping and the checkpoint choice keep between epochs."""

    result: TrainResult = field(default_factory=TrainResult)
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0


def _place(
    model: Autoencoder, train_x: torch.Tensor, val_x: torch.Tensor | None, config: TrainConfig
) -> tuple[torch.device, torch.Tensor, torch.Tensor | None]:
    """Move the model and the data to the training device (NHWC memory for conv nets on CUDA when asked), after
    refusing data the model cannot train on."""
    _refuse_untrainable(model, len(train_x))
    device = resolve_device(config.device)
    nhwc = config.channels_last and device.type == "cuda"
    model.to(device, memory_format=torch.channels_last if nhwc else torch.preserve_format)
    return device, to_device(train_x, device, config), to_device(val_x, device, config)


def _stopped(result: TrainResult, epoch: int) -> None:
    """Record that training stopped before its last epoch (early stopping, or divergence)."""
    result.stopped_early = True
    if not result.diverged:
        log.info("early stop at epoch %d; best epoch %d", epoch, result.best_epoch)


def _checkpoint_fingerprint(model: Autoencoder, n_train: int, config: TrainConfig, seed: int) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the model, the data's size, the settings but epochs, the seed."""
    return {
        "model": repr(model.config),
        "input_shape": list(model.input_shape),
        "n_train": n_train,
        "train": {k: v for k, v in vars(config).items() if k != "epochs"},
        "seed": seed,
    }


def fit(
    model: Autoencoder,
    train_x: torch.Tensor,
    val_x: torch.Tensor | None,
    config: TrainConfig,
    *,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint_dir: str | Path | None = None,
    name: str = "",
) -> TrainResult:
    """Train ``model`` in place on in-memory normal data and load the best validation checkpoint.

    Args:
        model: an untrained autoencoder.
        train_x: normal training inputs (N, *input_shape).
        val_x: normal validation inputs (M, *input_shape); None or empty monitors the training loss.
        config: the training settings.
        seed: seeds initialisation-independent randomness here (batch order, VAE noise, prior samples).
        progress: show a progress bar; None shows one only on a terminal.
        checkpoint_dir: if given, the whole training state is written there after every epoch, and a later
            call with the same model, data size and settings (``epochs`` may grow) resumes after the last
            finished epoch with the weights an uninterrupted run would have (exactly, on the CPU).
        name: what is trained, for warnings (a run's dataset, model, normal classes and seed).

    Returns:
        The :class:`TrainResult`.

    Raises:
        TrainingError: when the loss becomes NaN or infinite.
    """
    generator = seed_everything(seed)
    device, train_x, val_x = _place(model, train_x, val_x, config)
    opt, state = Optimisation.build(model, config), Progress()
    checkpoint = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = _checkpoint_fingerprint(model, len(train_x), config, seed)
    spent = _resume(checkpoint, fingerprint, model, opt, state, generator, device) if checkpoint else 0.0
    first_epoch = config.epochs + 1 if state.result.stopped_early else len(state.result.history) + 1
    if not state.result.history:  # deterministic and draws no random numbers: training is unchanged by it
        state.result.initial_loss = validation_loss(model, val_x if val_x is not None else train_x, config.batch_size)
    start = time.perf_counter() - spent
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(range(first_epoch, config.epochs + 1), desc="train", disable=not show, leave=False)
    for epoch in bar:
        try:
            row = train_epoch(model, train_x, val_x, opt, generator, config, epoch)
        except TrainingError as e:
            raise TrainingError(f"{name}: {e}" if name else str(e)) from None
        stop = _record_epoch(state, row, model, opt, config) or diverged(state.result, name)
        bar.set_postfix(loss=f"{row['train_loss']:.4g}", val=f"{row['val_loss']:.4g}")
        if checkpoint is not None and is_main():  # one writer: the processes hold the same state
            _save_training_state(
                checkpoint, fingerprint, model, opt, state, generator, device, stop, time.perf_counter() - start
            )
        if stop:
            _stopped(state.result, epoch)
            break
    bar.close()
    return _finish(model, state, val_x if val_x is not None and len(val_x) > 1 else train_x, device, start, name)


def _refuse_untrainable(model: Autoencoder, n_train: int) -> None:
    """A clear error for data the model cannot train on, before torch's own from deep inside a layer."""
    if model.config.batch_norm and n_train < 2:
        raise ConfigError(f"batch_norm needs at least 2 training rows, got {n_train}; set batch_norm: false")


def diverged(result: TrainResult, name: str) -> bool:
    """Mark ``result`` diverged (and say so) when the last epoch's training loss has grown past
    :data:`DIVERGENCE_FACTOR` times the untrained model's loss (or the first epoch's, when that is unknown)."""
    start = result.initial_loss if math.isfinite(result.initial_loss) else result.history[0]["train_loss"]
    last = result.history[-1]["train_loss"]
    if abs(last) <= DIVERGENCE_FACTOR * max(abs(start), 1e-8):
        return False
    result.diverged = (
        f"the training loss grew from {start:.4g} before training to {last:.4g} at epoch {result.history[-1]['epoch']}"
    )
    log.warning(
        "%sdiverged: %s; training stopped. Try a lower learning rate.", f"{name}: " if name else "", result.diverged
    )
    return True


def to_device(x: torch.Tensor | None, device: torch.device, config: TrainConfig) -> torch.Tensor | None:
    """Data on the training device once for the whole run (None for no data): small datasets stay resident on
    the GPU, copied from pinned memory without blocking; conv inputs in channels-last order if asked."""
    if x is None or not len(x):
        return None
    if device.type != "cuda" or not isinstance(x, torch.Tensor):
        return x.to(device)
    torch.backends.cudnn.benchmark = config.cudnn_benchmark
    x = x.pin_memory().to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if config.channels_last and x.ndim == 4 else x


def train_epoch(
    model: Autoencoder,
    train_x: torch.Tensor,
    val_x: torch.Tensor | None,
    opt: Optimisation,
    generator: torch.Generator,
    config: TrainConfig,
    epoch: int,
) -> dict[str, float]:
    """One pass over ``train_x`` in shuffled minibatches; the epoch's history row (mean training terms,
    validation loss, learning rate).

    Raises:
        TrainingError: when the training or validation loss is not finite (names the epoch, hints a fix).
    """
    model.train()
    n = len(train_x)
    order = torch.randperm(n, generator=generator).to(train_x.device)
    sums, names = None, []
    for i in range(0, n, config.batch_size):  # the last batch may be partial: tiny sets keep every row
        rows = order[i : i + config.batch_size]
        if len(rows) == 1 and n > 1 and model.config.batch_norm:  # batch statistics need two rows
            continue
        with autocast(train_x, config):
            terms = opt.step(model, train_x, rows, epoch)
        names = list(terms)
        weighted = torch.stack(list(terms.values())) * len(rows)  # one op per step, not one per term
        sums = weighted if sums is None else sums + weighted
    sum_across(sums)  # under torchrun: every process's share
    row = {"epoch": epoch, **{f"train_{k}": float(v) / n for k, v in zip(names, sums.tolist())}}
    row["val_loss"] = validation_loss(model, val_x, config.batch_size) if val_x is not None else row["train_loss"]
    row["lr"] = opt.optimizers["autoencoder"].param_groups[0]["lr"]
    for key in ("train_loss", "val_loss"):
        if not math.isfinite(row[key]):
            raise TrainingError(
                f"the {key.replace('_', ' ')} became {row[key]} at epoch {epoch} of {config.epochs}; "
                f"try a lower learning rate (lr is {config.lr:g}; e.g. --set train.lr={config.lr / 10:g}) "
                "or check the inputs for extreme values"
            )
    return row


def autocast(x: torch.Tensor, config: TrainConfig) -> Any:
    """bfloat16 autocast of the training steps when ``precision: bf16`` (CUDA, or a CPU: fastest where it has
    AVX512-BF16 or AMX); otherwise nothing changes."""
    if config.precision != "bf16" or x.device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(x.device.type, dtype=torch.bfloat16)


def _record_epoch(
    state: Progress, row: dict[str, float], model: Autoencoder, opt: Optimisation, config: TrainConfig
) -> bool:
    """Append ``row``, step the schedules, keep the best weights; True when early stopping says stop."""
    result = state.result
    result.history.append(row)
    for scheduler in opt.schedulers:
        scheduler.step(row["val_loss"])
    if row["val_loss"] < result.best_val_loss:
        result.best_val_loss, result.best_epoch, state.bad_epochs = row["val_loss"], row["epoch"], 0
        state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        state.bad_epochs += 1
    return bool(config.early_stopping_patience and state.bad_epochs >= config.early_stopping_patience)


def _save_training_state(
    folder: Path,
    fingerprint: dict,
    model: Autoencoder,
    opt: Optimisation,
    state: Progress,
    generator: torch.Generator,
    device: torch.device,
    stop: bool,
    seconds: float,
) -> None:
    result = state.result
    write_checkpoint(
        folder,
        fingerprint,
        {
            "model": model.state_dict(),
            "best_state": state.best_state,
            "optimizers": {k: o.state_dict() for k, o in opt.optimizers.items()},
            "schedulers": [sch.state_dict() for sch in opt.schedulers],
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "history": result.history,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "bad_epochs": state.bad_epochs,
            "stopped_early": stop,
            "initial_loss": result.initial_loss,
            "seconds": seconds,
        },
    )


def _resume(
    folder: Path,
    fingerprint: dict,
    model: Autoencoder,
    opt: Optimisation,
    state: Progress,
    generator: torch.Generator,
    device: torch.device,
) -> float:
    """Load the checkpoint in ``folder`` into the model, optimisers, generators and ``state``; returns the
    seconds already spent (0 when there is no checkpoint)."""
    saved = read_checkpoint(folder, fingerprint, device)
    if saved is None:
        return 0.0
    model.load_state_dict(saved["model"])
    for name, optimizer in opt.optimizers.items():
        optimizer.load_state_dict(saved["optimizers"][name])
    for scheduler, sched_state in zip(opt.schedulers, saved["schedulers"]):
        scheduler.load_state_dict(sched_state)
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    if saved.get("cuda_rng") is not None and device.type == "cuda":  # the VAE's noise on the GPU
        torch.cuda.set_rng_state(saved["cuda_rng"], device)
    state.best_state, state.bad_epochs = saved["best_state"], saved["bad_epochs"]
    result = state.result
    result.history, result.best_epoch, result.best_val_loss = (
        saved["history"],
        saved["best_epoch"],
        saved["best_val_loss"],
    )
    result.stopped_early = saved["stopped_early"]
    result.initial_loss = saved.get("initial_loss", math.nan)
    log.info("resuming from the checkpoint in %s after epoch %d", folder, len(result.history))
    return saved["seconds"]


def _finish(
    model: Autoencoder, state: Progress, spread_x: torch.Tensor, device: torch.device, start: float, name: str = ""
) -> TrainResult:
    """Load the best weights, time the training, and check the model for collapse."""
    result = state.result
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.eval()
    if device.type == "cuda":
        torch.cuda.synchronize()
    result.train_seconds = time.perf_counter() - start
    result.output_spread = output_spread(model, spread_x)
    if result.collapsed:
        log.warning(
            "%sthe model gives nearly the same reconstruction for every input (spread %.3g of the "
            "inputs'): it learned the mean, and its scores are distances to the mean. Try "
            "weight_init: kaiming, a lower learning rate, or more epochs.",
            f"{name}: " if name else "",
            result.output_spread,
        )
    return result


@torch.no_grad()
def output_spread(model: Autoencoder, x: torch.Tensor, limit: int = 1024) -> float:
    """How much reconstructions vary across inputs, relative to the inputs: std over samples, averaged
    over features, of the reconstructions divided by that of the inputs. Near 0 means collapse."""
    x = x[:limit]
    if len(x) < 2:
        return math.nan
    model.eval()
    recon = torch.cat(batched(lambda xb: model(xb).recon, x, model.input_shape))
    spread_in = float(x.std(0).mean())
    return float(recon.std(0).mean()) / spread_in if spread_in > 0 else math.nan


@torch.no_grad()
def validation_loss(model: Autoencoder, x: torch.Tensor, batch_size: int) -> float:
    """The loss early stopping watches, deterministic: z is the posterior mean.

    The training objective of :func:`aecompare.train.losses.per_sample_loss`: the AE's and AAE's reconstruction
    loss, the VAE's adds ``beta`` x KL (and a Gaussian decoder's variance term where it applies).
    """
    model.eval()
    # no gradients: larger batches are cheap; one sum on the device per batch
    sums = batched(
        lambda xb: per_sample_loss(model, xb, model(xb))["total"].sum(), x, model.input_shape, max(batch_size, 256)
    )
    total = torch.zeros((), device=x.device)
    for s in sums:
        total += s
    return float(total) / len(x)
