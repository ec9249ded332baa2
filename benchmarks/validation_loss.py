"""Compare trainings by what normal validation data says, for choosing a setting without test labels.

For each grid experiment folder given, prints per model: the best validation loss of each run (the one early
stopping keeps), averaged over the folder's datasets, normal classes and seeds; the runs flagged as collapsed
(output spread under 1% of the inputs'); and the epoch of the best validation loss. Test metrics are not read.

    python benchmarks/validation_loss.py RUNS/oneclass-mnist RUNS/lr-choice-oneclass-mnist
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    print("| experiment | model | runs | mean best validation loss | collapsed | mean best epoch |")
    print("|---|---|---|---|---|---|")
    for folder in args.folders:
        by_model: dict[str, list[tuple[float, bool, int]]] = defaultdict(list)
        for history_file in sorted(folder.glob("*/*/*/*/history.json")):  # dataset/model/normal/seed
            history = json.loads(history_file.read_text())
            metrics = json.loads((history_file.parent / "metrics.json").read_text())
            best = min(history, key=lambda epoch: epoch["val_loss"])
            by_model[history_file.parts[-4]].append((best["val_loss"], bool(metrics["collapsed"]), best["epoch"]))
        for model, runs in by_model.items():
            losses, collapsed, epochs = zip(*runs)
            print(
                f"| {folder.name} | {model} | {len(runs)} | {np.mean(losses):.4f} | {sum(collapsed)} | "
                f"{np.mean(epochs):.1f} |"
            )


if __name__ == "__main__":
    main()
