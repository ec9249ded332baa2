"""Which kind of synthetic table anomaly, if any, ranks the candidates as the real anomalies do.

For a finished table experiment run with ``evaluation.select: synthetic`` (e.g. by which_wins.py), splits each
run's synthetic scores into its two kinds (``aecompare.data.defects.perturbed_rows``: the first half of the rows
have resampled columns, the second half Gaussian noise of one std) and prints, per table: the Spearman
correlation over the candidates between each kind's synthetic AUROC and the real test AUROC, and the real AUROC
of the candidate each kind would recommend; then each kind's mean recommendation. An analysis of kept runs:
nothing is trained.

    python benchmarks/synthetic_kinds.py RUNS/tabular
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from aecompare.metrics import POOLED
from aecompare.runs import folder as run_folder

KINDS = ("both", "resampled", "noise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    models = [m["label"] for m in json.loads((args.folder / "experiment.json").read_text())["models"]]
    runs: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for scores_file in sorted(args.folder.glob("*/*/*/seed-*/scores.npz")):  # dataset/model/normal/seed
        scores, run_dir = np.load(scores_file), scores_file.parent
        if "synthetic_scores" not in scores:
            continue
        normal, fake = scores["val_scores"], scores["synthetic_scores"]
        half = len(fake) // 2
        real = next(r["auroc"] for r in run_folder.read_metrics(run_dir)["rows"] if r["group"] == POOLED)
        runs[run_dir.parts[-4]][run_dir.parts[-3]].append(
            [_auroc(normal, fake), _auroc(normal, fake[:half]), _auroc(normal, fake[half:]), real]
        )
    print("| table | " + " | ".join(f"{k}: rho, pick (real AUROC)" for k in KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    picked = defaultdict(list)
    for table, by_model in runs.items():
        names = [m for m in models if m in by_model]
        means = np.array([np.mean(by_model[m], axis=0) for m in names])  # (candidates, 4), mean over seeds
        cells = []
        for k, kind in enumerate(KINDS):
            pick = int(np.argmax(means[:, k]))
            picked[kind].append(means[pick, 3])
            cells.append(f"{spearmanr(means[:, k], means[:, 3])[0]:+.2f}, {names[pick]} ({means[pick, 3]:.3f})")
        print(f"| {table} | " + " | ".join(cells) + " |")
    print(
        "\nMean real AUROC of the recommendation by kind: "
        + ", ".join(f"{kind} {np.mean(v):.4f}" for kind, v in picked.items())
    )


def _auroc(normal: np.ndarray, fake: np.ndarray) -> float:
    return float(roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(fake))], np.r_[normal, fake]))


if __name__ == "__main__":
    main()
