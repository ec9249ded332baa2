"""The grid comparison's report blocks, read from its run folders (never training): metric tables beside the
paper's numbers, costs, per-group tables, figures and Patuzzo's views inside."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.core.io import read_json
from aecompare.errors import DataNotFoundError
from aecompare.metrics import POOLED
from aecompare.report import figures
from aecompare.report.document import FIGURES, Block
from aecompare.report.tables import flags, fmt, is_best, mean_std, model_notes
from aecompare.report.verdict import ALPHA, TIE_DIGITS, Verdict, headline, margin_text, outcome_text, p_text
from aecompare.runs import folder as run_folder
from aecompare.scoring import pixel_map
from aecompare.studies.grid.results import RunSummary, collect_results, write_results
from aecompare.studies.grid.selection import recommendations, weak_lead
from aecompare.studies.grid.verdicts import ALL_DATASETS, grid_verdicts
from aecompare.version import __version__


def report_blocks(folder: Path) -> list[Block]:
    """The blocks of a grid experiment's report (its figures are written to ``folder/figures``).

    Raises:
        DataNotFoundError: when the folder holds no finished run.
    """
    rows = collect_results(folder)
    if not rows:
        raise DataNotFoundError(
            f"no finished runs in {folder}; run an experiment first, e.g. "
            f"'aecompare run quick --output {folder.parent}'"
        )
    write_results(folder)  # keep results.csv in step with the run folders
    spec = read_json(folder / run_folder.EXPERIMENT) if (folder / run_folder.EXPERIMENT).exists() else {}
    name = spec.get("name", folder.name)
    model_order = [m["label"] for m in spec.get("models", [])]
    verdicts = grid_verdicts(rows, model_order)
    blocks = [Block("h1", f"aecompare report: {name}"), *_verdict_blocks(verdicts, rows)]
    if spec.get("description"):
        blocks.append(Block("p", spec["description"]))
    seeds = sorted({r.seed for r in rows})
    blocks.append(
        Block(
            "p",
            f"{len({(r.dataset, r.model, r.normal, r.seed) for r in rows})} runs, "
            f"seeds {', '.join(map(str, seeds))}. AUROC and AUPRC treat anomalies as the positive "
            "class; thresholds are percentiles of normal validation scores; test labels are used "
            f"for these metrics only. Written by aecompare {__version__} on "
            f"{dt.date.today().isoformat()}.",
        )
    )
    for dataset in dict.fromkeys(r.dataset for r in rows):
        blocks += _dataset_section(
            folder,
            dataset,
            [r for r in rows if r.dataset == dataset],
            model_order,
            spec.get("published") or {},
            (spec.get("evaluation") or {}).get("threshold_percentile", 95.0),
            verdicts.get(dataset),
        )
    present = {r.model for r in rows}  # notes only about the models this report shows, after the results
    used = [m["name"] for m in spec.get("models", []) if m.get("label", m["name"]) in present]
    return blocks + model_notes(used)


def _verdict_blocks(verdicts: dict[str, Verdict], rows: list[RunSummary]) -> list[Block]:
    """The report's first section: who wins on each dataset (and over all of them), by how much, how sure; runs
    that collapsed (kept in the comparison) are counted beside the verdict they are part of."""
    if not verdicts:
        return []
    table = Block("table", header=["dataset", "verdict", "mean AUROC, best first", "margin", "test"])
    for name, v in verdicts.items():
        test = f"{v.test} {p_text(v.p_value)}, n = {v.n_blocks}" if v.test else f"none (n = {v.n_blocks})"
        compared = [
            r
            for r in rows
            if r.group == POOLED and not r.diverged and r.model in v.models and name in (r.dataset, ALL_DATASETS)
        ]
        collapsed = sum(bool(r.collapsed) for r in compared)
        note = f" ({collapsed} of {len(compared)} runs collapsed, kept: see 'Runs that failed')" if collapsed else ""
        means = ", ".join(f"{m} {v.means[m]:.3f}" for m in v.models)
        table.rows.append([name, f"**{outcome_text(v)}**{note}", means, margin_text(v), test])
    return [
        Block("h3", "Verdict"),
        table,
        Block(
            "p",
            "Each model is paired with the others on the same split (normal class and seed) by its AUROC with "
            f"every anomaly pooled; n counts those pairs. Significant means p < {ALPHA:g}; ties are equal at "
            f"{TIE_DIGITS} decimals; the 95% CI is a t-interval of the mean paired difference. Two models: the "
            "Wilcoxon signed-rank test; more: the Friedman test, then Nemenyi's post-hoc test (Demšar 2006); "
            "scipy.stats computes them. With few pairs (one table x 3 seeds is n = 3) only a large, consistent "
            "difference can be significant: more seeds (--seeds) sharpen the verdict. Each dataset's section "
            "says more.",
        ),
    ]


def _paper_comparison(published: dict[str, Any], rows: list[RunSummary], models: list[str]) -> list[Block]:
    """The paper's numbers beside ours (mean ± std over seeds) and the difference of the means, per cell."""
    normal, source = str(published.get("normal")), published.get("source", "the paper")
    mine = [r for r in rows if r.normal == normal]
    if not mine:
        return [
            Block(
                "p",
                f"{source} reports results with {normal} normal; no run here used it, so there is nothing to compare.",
            )
        ]
    n_seeds = len({r.seed for r in mine})
    blocks = [
        Block("h3", f"Paper vs ours: {source} (normal: {normal})"),
        Block(
            "p",
            f"Ours: mean ± std over {n_seeds} seed(s); Δ = our mean − the paper's value. Each anomalous "
            "class is scored on the normal test images plus that class's test images. The mean row "
            "averages over the anomalous classes.",
        ),
    ]
    for metric, title in (
        ("auroc", "AUROC"),
        ("auprc", "AUPRC (PR-AUC, average precision)"),
        ("precision", "Precision at the threshold"),
        ("recall", "Recall at the threshold"),
        ("f1", "F1 at the threshold"),
    ):
        paper = {m: published.get(metric, {}).get(m, {}) for m in models if published.get(metric, {}).get(m)}
        if paper:
            blocks += [Block("p", f"{title} per anomalous class:"), _paper_metric_table(paper, mine, metric)]
    blocks += _paper_seconds(published.get("train_seconds", {}), mine, models)
    blocks.append(
        Block(
            "p",
            "The reconstruction figure below is the analogue of the paper's qualitative "
            "figures: unseen normal and anomalous test images with each model's reconstruction.",
        )
    )
    return blocks


def _paper_metric_table(paper: dict[str, dict[str, float]], mine: list[RunSummary], metric: str) -> Block:
    """One metric per anomalous class: the paper's value, our mean ± std over seeds, and the difference."""
    groups = list(dict.fromkeys(g for cells in paper.values() for g in cells))
    table = Block(
        "table", header=["anomalous class", *[f"{m} {what}" for m in paper for what in ("paper", "ours", "Δ")]]
    )
    for g in [*groups, None]:
        row = [g if g else "**mean**"]
        for m, cells in paper.items():
            if g is None:  # mean over the classes the paper lists, per seed, then over seeds
                seeds = sorted({r.seed for r in mine if r.model == m})
                ours = [
                    float(
                        np.mean([getattr(r, metric) for r in mine if r.model == m and r.seed == s and r.group in cells])
                    )
                    for s in seeds
                ]
                value = float(np.mean(list(cells.values())))
            else:
                ours = [float(getattr(r, metric)) for r in mine if r.model == m and r.group == g]
                value = cells.get(g)
            if value is None or not ours:
                row += ["–", fmt(*mean_std(ours), digits=4) if ours else "–", "–"]
                continue
            mean, std = mean_std(ours)
            row += [f"{value:.4f}", fmt(mean, std, digits=4), f"{mean - value:+.4f}"]
        table.rows.append(row)
    return table


def _paper_seconds(seconds: dict[str, float], mine: list[RunSummary], models: list[str]) -> list[Block]:
    """Training seconds of the paper and ours, each as a ratio to the first model (the hardware differs)."""
    ours = {
        m: [float(r.train_seconds) for r in mine if r.model == m and r.group == POOLED] for m in models if m in seconds
    }
    ours = {m: v for m, v in ours.items() if v}
    if not ours:
        return []
    first = next(iter(ours))
    table = Block(
        "table",
        header=["model", "paper train seconds", f"paper ÷ {first}", "ours (mean ± std)", f"ours ÷ {first}"],
    )
    for m, values in ours.items():
        table.rows.append(
            [
                m,
                f"{seconds[m]:.2f}",
                f"{seconds[m] / seconds[first]:.2f}",
                fmt(*mean_std(values), digits=2),
                f"{np.mean(values) / np.mean(ours[first]):.2f}",
            ]
        )
    return [
        Block(
            "p",
            "Training time. The paper states neither its hardware nor its epochs, so compare "
            "the ratios between models, not the seconds:",
        ),
        table,
    ]


def _dataset_section(
    folder: Path,
    dataset: str,
    rows: list[RunSummary],
    model_order: list[str],
    published: dict[str, Any],
    percentile: float = 95.0,
    verdict: Verdict | None = None,
) -> list[Block]:
    failed = _failed_runs(folder, rows)
    rows = [r for r in rows if not r.diverged]  # a diverged run's numbers mean nothing
    if not rows:
        return [Block("h2", f"Dataset: {dataset}"), *failed]
    present = {r.model for r in rows}
    models = [m for m in model_order if m in present] + sorted(present - set(model_order))
    normals = list(dict.fromkeys(r.normal for r in rows))
    seeds = sorted({r.seed for r in rows})
    pooled = [r for r in rows if r.group == POOLED]
    first_run = {m: next(r for r in rows if r.model == m) for m in models}
    scored_by = ", ".join(
        f"{m} by {_scorer_name(_run_dir(folder, dataset, m, r.normal, r.seed))}" for m, r in first_run.items()
    )
    blocks = [
        Block("h2", f"Dataset: {dataset}"),
        *([Block("p", headline(verdict, "Verdict"))] if verdict else []),
        Block(
            "p",
            f"Models: {', '.join(models)}. Normal class choices: {len(normals)}. "
            f"Seeds: {len(seeds)}. "
            + ("Values are mean ± std over seeds. " if len(seeds) > 1 else "Values are single runs. ")
            + f"Scores: {scored_by}.",
        ),
        *failed,
        *_settings_table(folder, dataset, models, pooled, percentile),
    ]
    for metric, title in (("auroc", "AUROC"), ("auprc", "AUPRC")):
        blocks += [
            Block("h3", f"{title} by normal class (all anomalies pooled)"),
            _metric_table(pooled, metric, models, normals),
        ]
    blocks += _critical_difference(folder, dataset, verdict)
    blocks += _ensembles_against_members(folder, dataset, pooled, models)
    blocks += _recommendation(rows, models)
    blocks += _decisions(pooled, models, percentile)
    if published.get("dataset") == dataset:
        blocks += _paper_comparison(published, rows, models)
    if len(normals) == 1:
        groups = [g for g in dict.fromkeys(r.group for r in rows) if g != POOLED]
        blocks += [Block("h3", f"AUROC by anomaly group (normal: {normals[0]})"), _group_table(rows, models, groups)]
    blocks += _postprocess_table(folder, dataset, models)
    blocks += _pixel_table(folder, dataset, models)
    best = {m: best_seed(folder, dataset, m, normals[0], seeds) for m in models}
    blocks += _figures(folder, dataset, models, normals, seeds[0], best)
    blocks += _views_inside(folder, dataset, models, normals[0], best)
    return blocks


def _critical_difference(folder: Path, dataset: str, verdict: Verdict | None) -> list[Block]:
    """Demšar's diagram of the mean ranks, for three or more models with enough runs for the test."""
    if verdict is None or verdict.critical_difference is None:
        return []
    path = figures.write_critical_difference(
        verdict.mean_ranks, verdict.critical_difference, folder / FIGURES / f"{dataset}-ranks.png"
    )
    return [
        Block(
            "figure",
            f"Mean rank by AUROC over {verdict.n_blocks} paired runs (1 = best; Friedman {p_text(verdict.p_value)}). "
            "Models joined by a thick line are not significantly different (Nemenyi, "
            f"critical difference {verdict.critical_difference:.2f})",
            path=path.relative_to(folder),
        )
    ]


def _decisions(pooled: list[RunSummary], models: list[str], percentile: float) -> list[Block]:
    """Training time and the counts of decisions at each run's threshold."""
    return [
        Block("h3", "Training time and decisions at the threshold"),
        Block(
            "p",
            "Each run's threshold is the "
            f"{percentile:g}th percentile of its scores on normal validation data (a "
            f"{100 - percentile:g}% false-alarm rate on normal data, if test normals score alike); a "
            "test sample scoring above it is called an anomaly. TP/FP/TN/FN count the test samples "
            "(anomaly = positive), mean over seeds.",
        ),
        _cost_table(pooled, models),
    ]


def _ensembles_against_members(folder: Path, dataset: str, pooled: list[RunSummary], models: list[str]) -> list[Block]:
    """Each seed ensemble's AUROC beside its members' as single runs: what the ensemble adds over an average
    training, and over the luckiest one."""
    table = Block(
        "table",
        header=["ensemble", "members per run", "its AUROC", "members' AUROC (mean)", "members' AUROC (min – max)"],
    )
    for m in models:
        runs = [r for r in pooled if r.model == m]
        members = [_member_aurocs(_run_dir(folder, dataset, m, r.normal, r.seed)) for r in runs]
        if not runs or not all(members):
            continue
        flat = [a for run in members for a in run]
        table.rows.append(
            [
                m,
                str(len(members[0])),
                f"{np.mean([float(r.auroc) for r in runs]):.4f}",
                f"{np.mean(flat):.4f}",
                f"{min(flat):.4f} – {max(flat):.4f}",
            ]
        )
    if not table.rows:
        return []
    return [
        Block("h3", "Seed ensembles against their members"),
        Block(
            "p",
            "Each member of an ensemble is a run of its own (member-<i>/ in the run folder); the "
            "members' mean is what one training gives on average, their maximum what the luckiest "
            "seed gives. AUROC of all anomalies pooled, over every normal-class choice and seed.",
        ),
        table,
    ]


def _member_aurocs(run_dir: Path) -> list[float]:
    """The pooled AUROC of each member of the ensemble run in ``run_dir`` (empty for a single model)."""
    return [
        float(next(r["auroc"] for r in run_folder.read_metrics(member)["rows"] if r["group"] == POOLED))
        for member in run_folder.member_dirs(run_dir)
    ]


def _recommendation(rows: list[RunSummary], models: list[str]) -> list[Block]:
    """The label-free recommendation per normal-class choice and how it ranks on the real anomalies."""
    chosen = recommendations(rows, models)
    if not chosen:
        return []
    return [
        Block("h3", "Recommendation without anomaly labels"),
        Block(
            "p",
            "Each candidate scored its normal validation samples against synthetic anomalies made from "
            "them (objects pasted on images, resampled or noisy columns in table rows); the candidate "
            "with the highest synthetic AUROC (mean over seeds) is recommended, using normal data "
            "only. Its rank by the real test AUROC (1 = best), which the choice never saw, measures "
            "how well this works here.",
        ),
        _recommendation_table(chosen),
        *_recommendation_notes(chosen),
    ]


def _recommendation_table(chosen: list[dict[str, Any]]) -> Block:
    """One row per normal-class choice: the recommended candidate and how it fared on the real anomalies."""
    table = Block(
        "table",
        header=[
            "normal",
            "recommended",
            "synthetic AUROC",
            "lead over the next",
            "its test AUROC",
            "rank on test",
            "best on test (AUROC)",
        ],
    )
    for c in chosen:
        table.rows.append(
            [
                c["normal"],
                c["recommended"],
                _with_spread(c["synthetic_auroc"], c["synthetic_std"]),
                "–" if c["lead"] is None else f"{c['lead']:+.4f} ({c['runner_up']})" + _weak(c),
                "–" if c["auroc"] is None else f"{c['auroc']:.4f}",
                "–" if c["rank"] is None else f"{c['rank']} of {c['candidates']}",
                f"{c['best']} ({c['best_auroc']:.4f})" if c["best_auroc"] is not None else "–",
            ]
        )
    return table


def _recommendation_notes(chosen: list[dict[str, Any]]) -> list[Block]:
    """Where the synthetic anomalies cannot tell candidates apart, and how the choices fared on average."""
    blocks = []
    weak = [c for c in chosen if _weak(c)]
    if weak:
        blocks.append(
            Block(
                "p",
                f"In {len(weak)} of {len(chosen)} choices (marked *) the recommendation leads the "
                "next candidate by less than its synthetic AUROC varies over seeds: the synthetic "
                "anomalies do not tell those candidates apart.",
            )
        )
    ranked = [c for c in chosen if c["rank"] is not None]
    if len(ranked) > 1:
        blocks.append(
            Block(
                "p",
                f"Over {len(ranked)} normal-class choices: the recommendations' mean test AUROC is "
                f"{np.mean([c['auroc'] for c in ranked]):.4f}, the best candidate's per choice "
                f"{np.mean([c['best_auroc'] for c in ranked]):.4f}; mean rank "
                f"{np.mean([c['rank'] for c in ranked]):.1f} of {ranked[0]['candidates']}.",
            )
        )
    return blocks


def _with_spread(value: float, std: float | None) -> str:
    return f"{value:.4f}" if std is None else f"{value:.4f} ± {std:.4f}"


def _weak(recommendation: dict[str, Any]) -> str:
    """The table's mark for a lead within the seeds' spread."""
    return "*" if weak_lead(recommendation) else ""


def _settings_table(
    folder: Path, dataset: str, models: list[str], pooled: list[RunSummary], percentile: float
) -> list[Block]:
    """What each model was trained and scored with (from its first run's recorded settings)."""
    table = Block(
        "table",
        header=[
            "model",
            "trainings per run",
            "epochs run (of)",
            "lr",
            "batch",
            "latent size",
            "input",
            "scaling",
            "score",
            "threshold",
        ],
    )
    for m in models:
        first = next(r for r in pooled if r.model == m)
        run_dir = _run_dir(folder, dataset, m, first.normal, first.seed)
        settings, shape = run_folder.read_settings(run_dir), run_folder.read_model_config(run_dir)["input_shape"]
        train, latent = settings["train"], settings["model"]["latent_dim"]
        scaling = run_folder.read_detector_scaling(run_dir)
        runs = [float(r.epochs_run) for r in pooled if r.model == m]
        trainings = (
            f"{settings['ensemble']} (ensemble: their mean)"
            if settings.get("ensemble")
            else f"{settings['restarts']} (restarts: the lowest validation loss kept)"
            if settings.get("restarts")
            else "1"
        )
        table.rows.append(
            [
                m,
                trainings,
                f"{np.mean(runs):.1f} ({train['epochs']})",
                f"{train['lr']:g}",
                str(train["batch_size"]),
                str(latent) if latent else "feature map",
                "x".join(map(str, shape)),
                scaling,
                run_folder.settings_scorer(settings),
                f"{percentile:g}th percentile of normal validation scores",
            ]
        )
    return [Block("h3", "Settings"), table]


def _failed_runs(folder: Path, rows: list[RunSummary]) -> list[Block]:
    """The runs that diverged (left out of every table and mean) or collapsed (kept, flagged); when none did,
    one line says so."""
    pooled = [r for r in rows if r.group == POOLED]
    failed = [r for r in pooled if r.diverged or r.collapsed]
    if not failed:
        return [Block("p", f"None of the {len(pooled)} runs diverged or collapsed to one reconstruction.")]
    n_diverged = sum(bool(r.diverged) for r in failed)
    table = Block("table", header=["model", "normal", "seed", "what happened"])
    table.rows = [
        [
            r.model,
            r.normal,
            str(r.seed),
            f"diverged ({_why_diverged(folder, r)}): left out"
            if r.diverged
            else "collapsed to one reconstruction: kept",
        ]
        for r in failed
    ]
    return [
        Block("h3", "Runs that failed"),
        Block(
            "p",
            f"{n_diverged} of {len(pooled)} runs diverged and are left out of every table and mean below "
            f"(their scores measure nothing); {len(failed) - n_diverged} collapsed (the model gives one "
            "reconstruction for every input, so its scores are distances to the mean) and are kept.",
        ),
        table,
    ]


def _why_diverged(folder: Path, run: RunSummary) -> str:
    """What the run recorded when it diverged (e.g. the loss that grew, the scores that were not finite)."""
    metrics = run_folder.read_metrics(_run_dir(folder, run.dataset, run.model, run.normal, run.seed))
    return str(metrics.get("diverged") or "no reason recorded")


def best_seed(folder: Path, dataset: str, model: str, normal: str, seeds: list[int]) -> int:
    """The seed whose run reached the lowest validation loss (normal data only): the run a user would keep,
    shown in the figures of single models. Runs without a history count as worst."""

    def best_loss(seed: int) -> float:
        history = run_folder.read_history(_run_dir(folder, dataset, model, normal, seed))
        return min((r["val_loss"] for r in history), default=np.inf) if history is not None else np.inf

    return min(seeds, key=best_loss)


def _views_inside(folder: Path, dataset: str, models: list[str], normal: str, best: dict[str, int]) -> list[Block]:
    """Patuzzo's looks inside, for MLP runs with a one-unit bottleneck (where a sweep tells the whole story)."""
    blocks = []
    for m in models:
        run_dir = _run_dir(folder, dataset, m, normal, best[m])
        if run_folder.read_codes(run_dir) is None:
            continue
        saved = run_folder.read_model_config(run_dir)
        config, shape = saved["config"], saved["input_shape"]
        mlp = config["backbone"] == "mlp" or (config["backbone"] == "auto" and len(shape) == 1)
        if not mlp or config["latent_dim"] != 1:
            continue
        model, codes = run_folder.load_run_model(run_dir)
        prefix = f"{dataset}-{m}-".replace(" ", "_")
        for caption, path in figures.write_inspection_figures(model, codes, folder / FIGURES, prefix=prefix):
            blocks.append(Block("figure", f"{m}: {caption}", path=path.relative_to(folder)))
    if blocks:
        blocks.insert(
            0,
            Block(
                "h3",
                f"Views inside (normal: {normal}; each model's seed with the lowest validation "
                f"loss: {_seed_list(best)})",
            ),
        )
    return blocks


def _postprocess_table(folder: Path, dataset: str, models: list[str]) -> list[Block]:
    """Normal test images' MSE before and after Heaviside post-processing (binary data; Patuzzo's Figs. 9-10)."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _, config, metrics in run_folder.finished_runs(folder):
        if config["dataset"] == dataset:
            for post, mse in metrics.get("normal_test_mse", {}).items():
                values[config["model"]][post].append(mse)
    if not any("heaviside" in v for v in values.values()):
        return []
    table = Block("table", header=["model", "MSE of the sigmoid outputs", "MSE after Heaviside post-processing"])
    for m in models:
        if values[m]:
            table.rows.append(
                [m, *[fmt(*mean_std(values[m][p]), digits=4) if values[m][p] else "–" for p in ("none", "heaviside")]]
            )
    return [
        Block("h3", "Reconstruction error of the normal test images, before and after post-processing"),
        Block(
            "p",
            "Heaviside post-processing replaces each sigmoid output by the step of its logit (1 where "
            "the output exceeds 0.5): gray pixels near a decision threshold become black or white. "
            "Mean ± std over seeds of the mean squared error per pixel.",
        ),
        table,
    ]


def _pixel_table(folder: Path, dataset: str, models: list[str]) -> list[Block]:
    """Pixel-level AUROC against the defect masks (MVTec-layout data), when runs recorded one."""
    values: dict[str, list[float]] = defaultdict(list)
    for _, config, metrics in run_folder.finished_runs(folder):
        if config["dataset"] == dataset and metrics.get("pixel_auroc") is not None:
            values[config["model"]].append(metrics["pixel_auroc"])
    if not values:
        return []
    table = Block("table", header=["model", "pixel AUROC"])
    table.rows += [[m, fmt(*mean_std(values[m]))] for m in models if values[m]]
    return [
        Block("h3", "Where the defect is: pixel-level AUROC"),
        Block(
            "p",
            "Each pixel's squared reconstruction error (averaged over channels) scored against the "
            "ground-truth defect masks, over all test images with a known mask (good images: no "
            "defect pixel). Mean ± std over seeds.",
        ),
        table,
    ]


def _metric_table(pooled: list[RunSummary], metric: str, models: list[str], normals: list[str]) -> Block:
    """Mean ± std over seeds per normal-class choice; every entry tied with the best at the printed precision
    in bold, an AUROC below chance and collapsed runs flagged beside the number."""
    by_cell: dict[tuple[str, str], dict[int, RunSummary]] = defaultdict(dict)
    for r in pooled:
        by_cell[(r.normal, r.model)][r.seed] = r
    table = Block("table", header=["normal", *models])
    for normal in normals:
        cells = [list(by_cell[(normal, m)].values()) for m in models]
        stats = [mean_std([float(getattr(r, metric)) for r in runs]) if runs else None for runs in cells]
        best = max((s[0] for s in stats if s), default=None)
        table.rows.append(
            [
                normal,
                *[
                    fmt(*s, bold=is_best(s[0], best))
                    + flags(s[0], sum(bool(r.collapsed) for r in runs), len(runs), metric == "auroc")
                    if s
                    else "–"
                    for s, runs in zip(stats, cells)
                ],
            ]
        )
    if len(normals) > 1:  # the mean over classes, computed per seed, then mean ± std over seeds
        stats = []
        for m in models:
            seeds = set.intersection(*(set(by_cell[(n, m)]) for n in normals))
            per_seed = [np.mean([float(getattr(by_cell[(n, m)][s], metric)) for n in normals]) for s in sorted(seeds)]
            stats.append(mean_std(per_seed) if per_seed else None)
        best = max((s[0] for s in stats if s), default=None)
        table.rows.append(
            [
                "**mean**",
                *[
                    fmt(*s, bold=is_best(s[0], best)) + flags(s[0], auroc=metric == "auroc") if s else "–"
                    for s in stats
                ],
            ]
        )
    return table


def _cost_table(pooled: list[RunSummary], models: list[str]) -> Block:
    counts = ("tp", "fp", "tn", "fn")
    table = Block(
        "table",
        header=["model", "train seconds per run", "epochs run", "precision", "recall", "F1", "TP", "FP", "TN", "FN"],
    )
    for m in models:
        mine = [r for r in pooled if r.model == m]
        cells = [
            fmt(*mean_std([float(getattr(r, k)) for r in mine]), digits=digits)
            for k, digits in (("train_seconds", 2), ("epochs_run", 1), ("precision", 3), ("recall", 3), ("f1", 3))
        ]
        # confusion counts: the mean over seeds (runs written before they were recorded show –)
        cells += [
            f"{np.mean([float(getattr(r, k)) for r in mine]):.1f}"
            if all(getattr(r, k) not in (None, "") for r in mine)
            else "–"
            for k in counts
        ]
        table.rows.append([m, *cells])
    return table


def _group_table(rows: list[RunSummary], models: list[str], groups: list[str]) -> Block:
    table = Block("table", header=["anomaly group", *models])
    for g in groups:
        runs = [[r for r in rows if r.group == g and r.model == m] for m in models]
        stats = [mean_std([float(r.auroc) for r in mine]) for mine in runs]
        best = max(s[0] for s in stats)
        table.rows.append(
            [
                g,
                *[
                    fmt(*s, bold=is_best(s[0], best)) + flags(s[0], sum(bool(r.collapsed) for r in mine), len(mine))
                    for s, mine in zip(stats, runs)
                ],
            ]
        )
    return table


def _anomaly_groups(scores: dict, normal: str, models: list[str]) -> list[str]:
    """The anomaly groups of the runs with ``normal`` normal, in the order they first appear."""
    for m in models:
        if (normal, m) in scores:
            d = scores[(normal, m)]
            return [str(g) for g in dict.fromkeys(d["group_test"][d["y_test"] == 1].tolist())]
    return []


def _scorer_name(run_dir: Path) -> str:
    """The scorer a run used."""
    return run_folder.settings_scorer(run_folder.read_settings(run_dir))


def _run_dir(folder: Path, dataset: str, model: str, normal: str, seed: int) -> Path:
    return folder / run_folder.relative_dir(dataset, model, normal.split("+"), seed)


def _seed_list(best: dict[str, int]) -> str:
    return ", ".join(f"{m} seed {s}" for m, s in best.items())


def _figures(
    folder: Path, dataset: str, models: list[str], normals: list[str], seed: int, best: dict[str, int]
) -> list[Block]:
    """ROC curves, score histograms and PR curves of seed ``seed``; reconstructions, anomaly maps and training
    curves of each model's ``best`` seed."""
    first = normals[0]
    blocks = _score_figures(folder, dataset, models, normals, seed)
    blocks += _example_figures(folder, dataset, models, first, best)
    histories = {m: run_folder.read_history(_run_dir(folder, dataset, m, first, best[m])) for m in models}
    histories = {m: h for m, h in histories.items() if h is not None}
    path = figures.write_training_curves(histories, folder / FIGURES / f"{dataset}-training.png")
    blocks.append(
        Block("figure", f"Training curves (normal: {first}; {_seed_list(best)})", path=path.relative_to(folder))
    )
    return blocks


def _score_figures(folder: Path, dataset: str, models: list[str], normals: list[str], seed: int) -> list[Block]:
    """ROC curves of every normal-class choice, and the first choice's score histograms and PR curves per group."""
    fig_dir = folder / FIGURES
    scores = {(n, m): run_folder.read_scores(_run_dir(folder, dataset, m, n, seed)) for n in normals for m in models}
    scores = {k: v for k, v in scores.items() if v is not None}
    blocks = [Block("h3", f"Figures (curves and histograms: seed {seed})")]
    panels = {
        n: {m: (scores[(n, m)]["y_test"], scores[(n, m)]["test_scores"]) for m in models if (n, m) in scores}
        for n in normals
    }
    path = figures.write_roc_curves(panels, fig_dir / f"{dataset}-roc.png")
    blocks.append(Block("figure", "ROC curves, all anomalies pooled", path=path.relative_to(folder)))
    first = normals[0]
    hist = {
        m: (
            scores[(first, m)]["y_test"],
            scores[(first, m)]["test_scores"],
            float(scores[(first, m)]["threshold"]),
            _scorer_name(_run_dir(folder, dataset, m, first, seed)),
        )
        for m in models
        if (first, m) in scores
    }
    path = figures.write_score_histograms(hist, fig_dir / f"{dataset}-scores.png")
    blocks.append(Block("figure", f"Test scores with the threshold (normal: {first})", path=path.relative_to(folder)))
    groups = _anomaly_groups(scores, first, models)
    if len(normals) == 1 and len(groups) > 1:  # Klimkevicius's Figs. 3-4: one panel per kind of defect
        panels = {}
        for g in groups:
            panels[g] = {}
            for m in models:
                if (first, m) in scores:
                    d = scores[(first, m)]
                    keep = (d["y_test"] == 0) | (d["group_test"] == g)
                    panels[g][m] = (d["y_test"][keep], d["test_scores"][keep])
        path = figures.write_pr_curves(panels, fig_dir / f"{dataset}-pr.png")
        blocks.append(
            Block(
                "figure",
                "Precision-recall curves per anomaly group (legend: PR-AUC; dotted: the share of anomalies)",
                path=path.relative_to(folder),
            )
        )
    return blocks


def _example_figures(folder: Path, dataset: str, models: list[str], first: str, best: dict[str, int]) -> list[Block]:
    """Reconstructions of the example test inputs and, for images of 16 pixels or more, anomaly maps."""
    fig_dir = folder / FIGURES
    blocks: list[Block] = []
    examples = {m: run_folder.read_examples(_run_dir(folder, dataset, m, first, best[m])) for m in models}
    examples = {m: e for m, e in examples.items() if e is not None}
    if examples:
        any_ex = next(iter(examples.values()))
        recons = {}
        for m, e in examples.items():
            recons[m] = e["recon"]
            if "recon_heaviside" in e:  # binary images: Patuzzo's post-processing beside the raw output
                recons[f"{m} + Heaviside"] = e["recon_heaviside"]
        path = figures.write_reconstruction_grid(
            any_ex["inputs"], recons, any_ex["group"], fig_dir / f"{dataset}-reconstructions.png"
        )
        blocks.append(
            Block(
                "figure",
                f"Test inputs (titled by class) and reconstructions (normal: {first}; "
                f"each model's seed with the lowest validation loss: {_seed_list(best)})",
                path=path.relative_to(folder),
            )
        )
        if any_ex["inputs"].shape[-1] >= 16:  # anomaly maps say little on tiny images
            scorers = {m: _scorer_name(_run_dir(folder, dataset, m, first, best[m])) for m in examples}
            maps = {
                f"{m} (1 − SSIM)" if "ssim" in scorers[m].split("+") else m: pixel_map(
                    any_ex["inputs"], e["recon"], scorers[m]
                )
                for m, e in examples.items()
            }
            path = figures.write_error_maps(
                any_ex["inputs"], maps, any_ex["group"], fig_dir / f"{dataset}-error-maps.png"
            )
            blocks.append(
                Block(
                    "figure",
                    "Anomaly maps: each model's per-pixel squared error over the input, or "
                    "1 − SSIM for models scored by SSIM (one colour scale per model)",
                    path=path.relative_to(folder),
                )
            )
    return blocks
