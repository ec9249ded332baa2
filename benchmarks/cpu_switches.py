"""Measure the CPU training switches against plain fp32 training, in one process so the ratios are taken under
the same load: bf16 autocast (``train.precision: bf16``), channels_last memory for conv nets, ``torch.compile``
(``nn.Module.compile``) and one thread instead of torch's default.

For each case and switch: an untimed warm-up fit of one epoch (imports, first-use set-up, compiling), then a
timed fit of the same model from seed 0 for ``--epochs`` epochs (early stopping off) whose mean gives the
seconds per epoch once running; the warm-up's time beyond one such epoch is the one-off cost. Also
reported: whether the final validation loss moved (a switch that changes numbers stays opt-in).

    python benchmarks/cpu_switches.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable

import numpy as np
import torch
from quick_comparison import command_line, machine

from aecompare.core.runtime import seed_everything
from aecompare.data import Scaler, load_dataset, one_class_split
from aecompare.models import Autoencoder, build_model
from aecompare.train import TrainConfig, fit

CASES = {  # name: (dataset, its parameters, normal class, model, model overrides, batch size)
    "AE on cardio (1,831 x 21)": ("tabular", {"table": "cardio"}, "normal", "ae", {}, 64),
    "AE on 4,000 x 512 rows of noise": ("noise", {}, "normal", "ae", {"hidden": [256, 128]}, 256),
    "Schneider's CAE, MNIST digit 0 (28x28)": ("mnist", {}, "0", "schneider-mnist-cae", {}, 64),
}


def _channels_last(model: Autoencoder, x: torch.Tensor) -> tuple[Autoencoder, torch.Tensor]:
    return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)


def _compiled(model: Autoencoder, x: torch.Tensor) -> tuple[Autoencoder, torch.Tensor]:
    model.compile()
    return model, x


# switch: (what it changes in TrainConfig, how it prepares the model and inputs, torch threads or None, images only)
Prepare = Callable[[Autoencoder, torch.Tensor], tuple[Autoencoder, torch.Tensor]] | None
SWITCHES: dict[str, tuple[dict, Prepare, int | None, bool]] = {
    "fp32 (default)": ({}, None, None, False),
    "bf16 autocast": ({"precision": "bf16"}, None, None, False),
    "1 thread": ({}, None, 1, False),
    "channels_last": ({}, _channels_last, None, True),
    "torch.compile": ({}, _compiled, None, False),
}


def _noise() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(4000, 512)).astype(np.float32), rng.normal(size=(800, 512)).astype(np.float32)


def _data(name: str, params: dict, normal: str) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "noise":
        x_train, x_val = _noise()
    else:
        split = one_class_split(load_dataset(name, **params), (normal,), val_fraction=0.2, seed=0)
        x_train, x_val = split.x_train, split.x_val
    scaler = Scaler.fit(x_train, "standard" if x_train.ndim == 2 else "none")
    return torch.from_numpy(scaler.transform(x_train)), torch.from_numpy(scaler.transform(x_val))


def _seconds(xt, xv, model_name, overrides, batch, switch, epochs) -> tuple[float, float]:
    """Wall seconds of one fit of ``epochs`` epochs with ``switch``, and its final validation loss."""
    changes, prepare, threads, _ = SWITCHES[switch]
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        seed_everything(0)
        model = build_model(model_name, tuple(xt.shape[1:]), **overrides)
        if prepare is not None:
            model, xt = prepare(model, xt)
        config = TrainConfig(epochs=epochs, batch_size=batch, device="cpu", early_stopping_patience=0, **changes)
        start = time.perf_counter()
        result = fit(model, xt, xv, config, seed=0, progress=False)
        return time.perf_counter() - start, result.history[-1]["val_loss"]
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    print(f"## CPU switches against fp32 ({dt.date.today().isoformat()})\n")
    print(f"- Command: `{command_line()}`")
    print(
        f"- Machine: {machine()}; torch threads by default {torch.get_num_threads()}; bf16 kernels: "
        f"{torch.ops.mkldnn._is_mkldnn_bf16_supported()}\n"
    )
    print("| case | switch | s per epoch | ÷ fp32 | one-off s | final val loss | numbers |")
    print("|---|---|---|---|---|---|---|")
    for case, (name, params, normal, model_name, overrides, batch) in CASES.items():
        xt, xv = _data(name, params, normal)
        base = None
        for switch, (_, _, _, images_only) in SWITCHES.items():
            if images_only and xt.ndim != 4:
                continue
            warmup, _ = _seconds(xt, xv, model_name, overrides, batch, switch, 1)
            timed, loss = _seconds(xt, xv, model_name, overrides, batch, switch, args.epochs)
            per_epoch = timed / args.epochs
            base = base or (per_epoch, loss)
            moved = "unchanged" if loss == base[1] else f"moved ({loss / base[1] - 1:+.1%})"
            print(
                f"| {case} | {switch} | {per_epoch:.3f} | {per_epoch / base[0]:.2f} | "
                f"{max(0.0, warmup - per_epoch):.1f} | {loss:.5g} | {moved} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
