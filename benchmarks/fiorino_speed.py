"""Benchmark Fiorino's dense VAE at the credit-card table's size: seconds per epoch and the scoring time.

Random data of the Kaggle table's shape (284,807 x 30), the `fiorino-vae` model, batch 128, NAdam, through the
library's own training loop (`aecompare.training.fit`) and scorer (`aecompare.scoring.score`). Prints a Markdown
section for benchmarks/RESULTS.md: seconds per epoch (each of `--epochs` epochs), the reconstruction
probability with L = 100 over all rows, and the plain reconstruction error for comparison.

    python benchmarks/fiorino_speed.py [--epochs 3] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import torch
from quick_comparison import command_line, machine

from aecompare.models import build_model
from aecompare.scoring import score
from aecompare.train.loop import TrainConfig, fit

ROWS, FEATURES = 284_807, 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=100, help="L of the reconstruction probability")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    x = torch.randn(ROWS, FEATURES)
    model = build_model("fiorino-vae", (FEATURES,))
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=128,
        lr=1e-3,
        optimizer="nadam",
        lr_patience=0,
        early_stopping_patience=0,
        device=args.device,
    )
    result = fit(model, x, None, config, progress=False)
    # each epoch's time from the loop's own clock is not kept; the mean over epochs is train_seconds / epochs
    per_epoch = result.train_seconds / len(result.history)
    steps = -(-ROWS // 128)
    device = next(model.parameters()).device

    start = time.perf_counter()
    score(model, x, "reconstruction_probability", n_samples=args.samples)
    if device.type == "cuda":
        torch.cuda.synchronize()
    recprob = time.perf_counter() - start
    start = time.perf_counter()
    score(model, x, "mse")
    mse = time.perf_counter() - start

    print(f"### Fiorino's dense VAE at the credit-card size — {dt.date.today().isoformat()}\n")
    print(f"Command: `{command_line()}`  ")
    print(f"Machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {device}\n")
    print("| what | seconds |\n|---|---|")
    print(
        f"| one training epoch, {ROWS:,} x {FEATURES} rows, batch 128 ({steps} NAdam steps), mean of "
        f"{len(result.history)} | {per_epoch:.2f} |"
    )
    print(f"| reconstruction probability, L = {args.samples}, all {ROWS:,} rows | {recprob:.2f} |")
    print(f"| reconstruction error (MSE), all rows | {mse:.2f} |")


if __name__ == "__main__":
    main()
