"""Benchmark issue 15 on any grid experiment: which candidate wins, by how much, and how the label-free
recommendation ranks on the real anomalies.

Runs `aecompare run EXPERIMENT --select` in a fresh process into a kept output folder (a second call resumes),
then prints a Markdown section for benchmarks/RESULTS.md:

- per candidate: the metric's mean over the experiment's units (dataset x normal-class choice), each unit a
  mean over seeds, ± the std over seeds of that mean; collapsed and diverged runs; training seconds per run;
- per unit: the recommended candidate (highest synthetic AUROC, normal data only), its metric, its rank among
  the candidates on the real anomalies and the best candidate; and the recommendation's mean over units.

The metric is the AUROC of all anomalies pooled unless `--metric` / `--group` say otherwise (`--group
def_front --metric auprc`: the castings' real defects); `--group classes` averages over every anomaly group
(Schneider et al.'s mean over the anomalous classes).

    python benchmarks/which_wins.py tabular --seeds 3 --output bench-runs [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from quick_comparison import command_line, machine, run_timed

from aecompare.runs import folder as run_folder
from aecompare.studies.grid.results import RunSummary, read_results
from aecompare.studies.grid.selection import recommendations, weak_lead
from aecompare.studies.grid.spec import load_spec

CLASSES = "classes"  # --group classes: the mean over every anomaly group, per run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--output", default="bench-runs")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--metric", default="auroc", choices=("auroc", "auprc"))
    parser.add_argument(
        "--group", default="all", help="anomaly group scored ('all': pooled; 'classes': mean over the groups)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    wall = run_timed(
        args.experiment, args.output, [*args.overrides, "evaluation.select=synthetic"], args.workers, args.seeds
    )
    folder = Path(args.output) / load_spec(args.experiment).name  # a user's file may name another folder
    spec = json.loads((folder / "experiment.json").read_text())
    models = [m["label"] for m in spec["models"]]
    rows = read_results(folder / "results.csv")
    if args.group == CLASSES:
        rows += _class_means(rows, args.metric)
    print(f"### `{args.experiment}`: which candidate wins ({dt.date.today().isoformat()})\n")
    print(f"Command: `{command_line()}`  ")
    print(f"Machine: {machine()}  ")
    print(f"Wall time of this call: {wall:.1f} s (runs already in {args.output} are resumed, not retrained)\n")
    _candidates(rows, models, args.metric, args.group)
    _members(folder, rows, models, args.metric, args.group)
    _recommendation(rows, models, args.metric, args.group)


def _class_means(rows: list[RunSummary], metric: str) -> list[RunSummary]:
    """One extra row per run: the mean of ``metric`` over its anomaly groups, as group ``classes``."""
    by_run: dict[tuple, list[RunSummary]] = defaultdict(list)
    for r in rows:
        by_run[(r.dataset, r.model, r.normal, r.seed)].append(r)
    out = []
    for members in by_run.values():
        groups = [r for r in members if r.group != "all"]
        out.append(
            dataclasses.replace(
                members[0], group=CLASSES, **{metric: float(np.mean([r.value(metric) for r in groups]))}
            )
        )
    return out


def _candidates(rows: list[RunSummary], models: list[str], metric: str, group: str) -> None:
    scored = [r for r in rows if r.group == group]
    units = list(dict.fromkeys((r.dataset, r.normal) for r in scored))
    seeds = sorted({r.seed for r in scored}, key=int)
    print(
        f"{metric.upper()} ({'mean over the anomaly groups' if group == CLASSES else f'group {group}'}), mean "
        f"over {len(units)} unit(s) (dataset x normal class), each a mean over {len(seeds)} seed(s); ± is the "
        "std over seeds of the mean over units:\n"
    )
    print("| candidate | mean | collapsed runs | diverged runs | train s per run |\n|---|---|---|---|---|")
    for m in models:
        mine = [r for r in scored if r.model == m and not r.diverged]
        per_seed = [
            np.mean([r.value(metric) for r in mine if r.seed == s]) for s in seeds if any(r.seed == s for r in mine)
        ]
        per_unit = [
            np.mean([r.value(metric) for r in mine if (r.dataset, r.normal) == u])
            for u in units
            if any((r.dataset, r.normal) == u for r in mine)
        ]
        runs = [r for r in scored if r.model == m]
        print(
            f"| {m} | {np.mean(per_unit):.4f} ± {np.std(per_seed):.4f} | "
            f"{sum(bool(r.collapsed) for r in runs)} of {len(runs)} | "
            f"{sum(r.diverged for r in runs)} | "
            f"{np.mean([r.train_seconds for r in runs]):.1f} |"
        )
    print()


def _members(folder: Path, rows: list[RunSummary], models: list[str], metric: str, group: str) -> None:
    """Each seed ensemble against its own members: their mean, the member a ``restarts: N`` row would keep
    (the lowest best validation loss: the same seeds train alike) and the best member, an oracle."""
    if group == CLASSES:
        return
    lines = []
    for m in models:
        runs = [r for r in rows if r.model == m and r.group == group and not r.diverged]
        per_run = [
            _member_figures(folder / run_folder.relative_dir(r.dataset, m, r.normal.split("+"), r.seed), metric, group)
            for r in runs
        ]
        if runs and all(per_run):
            units = defaultdict(list)
            for r, figures in zip(runs, per_run):
                units[(r.dataset, r.normal)].append([r.value(metric), *figures])
            means = np.mean([np.mean(v, axis=0) for v in units.values()], axis=0)
            lines.append(f"| {m} | " + " | ".join(f"{v:.4f}" for v in means) + " |")
    if lines:
        print(f"Seed ensembles against their members ({metric.upper()}, mean over units):\n")
        print(
            "| ensemble | itself | members' mean | member with the lowest validation loss (restarts) | best "
            "member (oracle) |\n|---|---|---|---|---|"
        )
        print("\n".join(lines) + "\n")


def _member_figures(run_dir: Path, metric: str, group: str) -> list[float] | None:
    """(members' mean, the lowest-validation-loss member's, the best member's) ``metric``; None for a single
    model."""
    members = run_folder.member_dirs(run_dir)
    values = [next(r[metric] for r in run_folder.read_metrics(m)["rows"] if r["group"] == group) for m in members]
    losses = [min(e["val_loss"] for e in run_folder.read_history(m)) for m in members]
    return [float(np.mean(values)), values[int(np.argmin(losses))], max(values)] if values else None


def _recommendation(rows: list[RunSummary], models: list[str], metric: str, group: str) -> None:
    chosen = recommendations(rows, models, metric=metric, group=group)
    if not chosen:
        print("No recommendation: the runs have no synthetic AUROC.\n")
        return
    print(
        f"Label-free recommendation (highest synthetic AUROC, mean over seeds) and its rank by the real "
        f"{metric.upper()}:\n"
    )
    print("| dataset | normal | recommended | synthetic AUROC | lead over the next | real | rank | best (real) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in chosen:
        spread = "" if c["synthetic_std"] is None else f" ± {c['synthetic_std']:.3f}"
        lead = "–" if c["lead"] is None else f"{c['lead']:+.3f} ({c['runner_up']}){'*' if weak_lead(c) else ''}"
        print(
            f"| {c['dataset']} | {c['normal']} | {c['recommended']} | {c['synthetic_auroc']:.3f}{spread} | {lead} | "
            f"{c['auroc']:.4f} | {c['rank']} of {c['candidates']} | {c['best']} ({c['best_auroc']:.4f}) |"
        )
    print(
        f"\nRecommendation: mean real {metric.upper()} **{np.mean([c['auroc'] for c in chosen]):.4f}** over "
        f"{len(chosen)} unit(s), mean rank {np.mean([c['rank'] for c in chosen]):.2f} of "
        f"{chosen[0]['candidates']}; the best candidate per unit (an oracle) "
        f"{np.mean([c['best_auroc'] for c in chosen]):.4f}; {sum(map(weak_lead, chosen))} of {len(chosen)} "
        "recommendation(s) lead the next candidate by less than their synthetic AUROC's std over seeds (*).\n"
    )


if __name__ == "__main__":
    main()
