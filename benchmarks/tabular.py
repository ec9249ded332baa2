"""Benchmark the `tabular` experiment: AE vs VAE (error) vs VAE (reconstruction probability) on the ODDS tables.

Runs `aecompare run tabular` in a fresh process into a kept output folder (a second call resumes), then prints
a Markdown section for benchmarks/RESULTS.md: AUROC and AUPRC mean ± std over seeds per table and scoring,
their mean over tables, the runs whose model collapsed to the mean, and the wall time.

    python benchmarks/tabular.py --output bench-runs [--seeds 3] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from quick_comparison import command_line, machine, run_timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="tabular")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output", default="bench-runs")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    wall = run_timed(args.experiment, args.output, args.overrides, args.workers, args.seeds)

    folder = Path(args.output) / args.experiment
    spec = json.loads((folder / "experiment.json").read_text())
    models = [m["label"] for m in spec["models"]]
    with open(folder / "results.csv") as f:
        pooled = [r for r in csv.DictReader(f) if r["group"] == "all"]
    cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in pooled:
        for metric in ("auroc", "auprc"):
            cells[(r["dataset"], r["model"], metric)].append(float(r[metric]))
    tables = list(dict.fromkeys(r["dataset"] for r in pooled))
    collapsed = [
        f"{p.parts[-4]}/{p.parts[-3]}/{p.parts[-1]}"
        for p in sorted(folder.glob("*/*/normal-*/seed-*"))
        if (p / "metrics.json").exists() and json.loads((p / "metrics.json").read_text())["collapsed"]
    ]

    print(f"### `{args.experiment}` ({args.seeds} seeds) — {dt.date.today().isoformat()}\n")
    print(f"Command: `{command_line()}`  ")
    print(f"Machine: {machine()}  ")
    print(f"Wall time of this call: {wall:.1f} s (runs already in {args.output} are resumed, not retrained)\n")
    for metric, title in (("auroc", "AUROC"), ("auprc", "AUPRC")):
        print(f"{title}, mean ± std over seeds:\n")
        print("| table | " + " | ".join(models) + " |\n|---|" + "---|" * len(models))
        for t in tables:
            print(f"| {t} | " + " | ".join(_cell(cells[(t, m, metric)]) for m in models) + " |")
        means = [np.mean([np.mean(cells[(t, m, metric)]) for t in tables]) for m in models]
        print("| **mean over tables** | " + " | ".join(f"{v:.3f}" for v in means) + " |\n")
    print(
        f"Runs whose model collapsed to the mean (output spread < 1% of the inputs'): {', '.join(collapsed) or 'none'}."
    )


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "–"


if __name__ == "__main__":
    main()
