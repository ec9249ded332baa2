"""Measure the CPU training switches: bf16 autocast (``train.precision: bf16``) against fp32, on a table model
and an image model, in one process so the ratio is taken under the same load.

Each case trains the same model from the same seed for ``--epochs`` epochs with each setting, alternating the
settings ``--repeats`` times, and reports the median seconds per epoch, the ratio, and how far the final
validation loss and the test AUROC moved (bf16 changes the numbers, so it stays opt-in).

    python benchmarks/cpu_switches.py [--epochs 3] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys

import numpy as np
import torch
from quick_comparison import machine
from sklearn.metrics import roc_auc_score

from aecompare.core.runtime import seed_everything
from aecompare.data import Scaler, load_dataset, one_class_split
from aecompare.models import build_model
from aecompare.scoring import score
from aecompare.train import TrainConfig, fit

CASES = {  # name: (dataset, its parameters, normal class, model, model overrides, batch size)
    "table: AE on cardio (1,831 x 21)": ("tabular", {"table": "cardio"}, "normal", "ae", {}, 64),
    "table: AE on 4,000 x 512 rows of noise": ("noise", {}, "normal", "ae", {"hidden": [256, 128]}, 256),
    "image: Schneider's CAE on MNIST digit 0 (28x28)": ("mnist", {}, "0", "schneider-mnist-cae", {}, 64),
}


def _noise() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 512)).astype(np.float32)
    y = (rng.random(5000) < 0.1).astype(int)
    x[y == 1] += 0.5
    return x[:4000][y[:4000] == 0], x[:4000][y[:4000] == 0][:800], x[4000:], y[4000:]


def _data(name: str, params: dict, normal: str):
    if name == "noise":
        return _noise()
    split = one_class_split(load_dataset(name, **params), (normal,), val_fraction=0.2, seed=0)
    return split.x_train, split.x_val, split.x_test, split.y_test


def _run(x_train, x_val, x_test, y_test, model_name, overrides, batch, precision, epochs):
    scaler = Scaler.fit(x_train, "standard" if x_train.ndim == 2 else "none")
    xt, xv, xs = (torch.from_numpy(scaler.transform(a)) for a in (x_train, x_val, x_test))
    seed_everything(0)
    model = build_model(model_name, tuple(x_train.shape[1:]), **overrides)
    config = TrainConfig(epochs=epochs, batch_size=batch, device="cpu", precision=precision, early_stopping_patience=0)
    result = fit(model, xt, xv, config, seed=0, progress=False)
    auroc = roc_auc_score(y_test, score(model, xs, "mse"))
    return result.train_seconds / epochs, result.history[-1]["val_loss"], auroc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"## CPU switches: bf16 autocast against fp32 ({dt.date.today().isoformat()})\n")
    print(f"- Command: `{' '.join(['python benchmarks/cpu_switches.py', *sys.argv[1:]])}`")
    print(
        f"- Machine: {machine()}; torch threads {torch.get_num_threads()}; bf16 kernels: "
        f"{torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()}\n"
    )
    print("| case | fp32 s/epoch | bf16 s/epoch | bf16 ÷ fp32 | val loss fp32 → bf16 | test AUROC fp32 → bf16 |")
    print("|---|---|---|---|---|---|")
    for case, (name, params, normal, model_name, overrides, batch) in CASES.items():
        data = _data(name, params, normal)
        runs = {"fp32": [], "bf16": []}
        for _ in range(args.repeats):
            for precision in runs:
                runs[precision].append(_run(*data, model_name, overrides, batch, precision, args.epochs))
        fp32, bf16 = (statistics.median(r[0] for r in runs[p]) for p in ("fp32", "bf16"))
        (_, loss32, auc32), (_, loss16, auc16) = runs["fp32"][-1], runs["bf16"][-1]
        print(
            f"| {case} | {fp32:.3f} | {bf16:.3f} | {bf16 / fp32:.2f} | {loss32:.4g} → {loss16:.4g} | "
            f"{auc32:.4f} → {auc16:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
