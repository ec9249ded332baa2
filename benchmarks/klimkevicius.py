"""Benchmark a Klimkevicius experiment: wall time, and precision / recall / F1 / PR-AUC per defect kind beside the
paper's Tables 1-3.

Runs `aecompare run EXPERIMENT` in a fresh process into a kept output folder (a second call resumes), then prints
a Markdown section for benchmarks/RESULTS.md.

    python benchmarks/klimkevicius.py klimkevicius-casting-cpu --output bench-runs [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
from pathlib import Path

from quick_comparison import command_line, machine, run_timed

METRICS = (("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("auprc", "PR-AUC"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default="klimkevicius-casting-cpu")
    parser.add_argument("--output", default="bench-runs")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    wall = run_timed(args.experiment, args.output, args.overrides, args.workers)

    folder = Path(args.output) / args.experiment
    spec = json.loads((folder / "experiment.json").read_text())
    published = spec.get("published") or {}
    with open(folder / "results.csv") as f:
        rows = list(csv.DictReader(f))
    models = [m["label"] for m in spec["models"]]
    groups = [g for g in dict.fromkeys(r["group"] for r in rows) if g != "all"]
    print(f"### `{args.experiment}` — {dt.date.today().isoformat()}\n")
    print(f"Command: `{command_line()}`  ")
    print(f"Machine: {machine()}  ")
    print(f"Wall time of this call: {wall:.1f} s (runs already in {args.output} are resumed, not retrained)\n")
    print("| model | train s | epochs run (best) | collapsed |\n|---|---|---|---|")
    for run in sorted(folder.glob("*/*/normal-*/seed-*/metrics.json")):
        m = json.loads(run.read_text())
        print(
            f"| {run.parts[-4]} | {m['train_seconds']:.1f} | {m['epochs_run']} ({m['best_epoch']}) | {m['collapsed']} |"
        )
    print("\nOurs (paper) per defect kind, at the threshold from the validation normals:\n")
    header = " | ".join(f"{m} {title}" for m in models for _, title in METRICS)
    print(f"| defects | {header} |\n|---|" + "---|" * (len(models) * len(METRICS)))
    for g in groups:
        cells = []
        for m in models:
            mine = [r for r in rows if r["model"] == m and r["group"] == g]
            for key, _ in METRICS:
                ours = sum(float(r[key]) for r in mine) / len(mine) if mine else float("nan")
                paper = published.get(key, {}).get(m, {}).get(g)
                cells.append(f"{ours:.3f}" + (f" ({paper:g})" if paper is not None else ""))
        print(f"| {g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
