"""Build ``report.md`` and a self-contained ``report.html`` from an experiment folder's run folders.

Reports read finished runs only and never train. Content is a list of blocks rendered twice, so the
Markdown and the HTML always say the same thing.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aecompare import __version__
from aecompare.errors import DataNotFoundError
from aecompare.experiments.runner import collect_results, finished_runs, normal_dir, write_results
from aecompare.metrics import POOLED
from aecompare.report import figures
from aecompare.utils import atomic_write_text, read_json


@dataclass
class Block:
    """One piece of a report: a heading, a paragraph, a table or a figure."""

    kind: str  # "h1" | "h2" | "h3" | "p" | "list" | "table" | "figure"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    path: Path | None = None  # figures: the PNG, relative to the report's folder


def write_report(folder: str | Path) -> Path:
    """Write ``report.md``, ``report.html`` and ``figures/`` into an experiment folder.

    Args:
        folder: an experiment folder written by :func:`aecompare.experiments.run_experiment`.

    Returns:
        The path of ``report.html``.

    Raises:
        DataNotFoundError: when the folder holds no finished run.
    """
    folder = Path(folder)
    spec_path = folder / "experiment.json"
    study = read_json(spec_path).get("study") if spec_path.exists() else None
    if study == "convergence":
        return _write_blocks(folder, convergence_blocks(folder), read_json(spec_path)["name"])
    if study == "generate":
        return _write_blocks(folder, generation_blocks(folder), read_json(spec_path)["name"])
    rows = collect_results(folder)
    if not rows:
        raise DataNotFoundError(f"no finished runs in {folder}; run an experiment first, e.g. "
                                f"'aecompare run quick --output {folder.parent}'")
    write_results(folder)  # keep results.csv in step with the run folders
    spec = read_json(folder / "experiment.json") if (folder / "experiment.json").exists() else {}
    name = spec.get("name", folder.name)
    blocks = [Block("h1", f"aecompare report: {name}")]
    if spec.get("description"):
        blocks.append(Block("p", spec["description"]))
    seeds = sorted({r["seed"] for r in rows})
    blocks.append(Block("p", f"{len({(r['dataset'], r['model'], r['normal'], r['seed']) for r in rows})} runs, "
                             f"seeds {', '.join(map(str, seeds))}. AUROC and AUPRC treat anomalies as the positive "
                             "class; thresholds are percentiles of normal validation scores; test labels are used "
                             f"for these metrics only. Written by aecompare {__version__} on "
                             f"{dt.date.today().isoformat()}."))
    blocks += _model_notes([m["name"] for m in spec.get("models", [])])
    model_order = [m["label"] for m in spec.get("models", [])]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        blocks += _dataset_section(folder, dataset, [r for r in rows if r["dataset"] == dataset], model_order,
                                   spec.get("published") or {},
                                   (spec.get("evaluation") or {}).get("threshold_percentile", 95.0))
    return _write_blocks(folder, blocks, name)


def _write_blocks(folder: Path, blocks: list[Block], name: str) -> Path:
    atomic_write_text(folder / "report.md", render_markdown(blocks))
    html_path = folder / "report.html"
    atomic_write_text(html_path, render_html(blocks, folder, title=f"aecompare: {name}"))
    return html_path


def convergence_blocks(folder: Path) -> list[Block]:
    """The convergence study's report: outcome frequencies with 95% intervals beside the paper's, the causes
    found in the initial weights, the analytic probabilities, and A2's spread on the 2x2 set and on lines."""
    from aecompare.convergence import CAUSES, LEVELS, OTHER, wilson_interval
    from aecompare.experiments.convergence import LINES_FOLDER, read_study

    spec = read_json(folder / "experiment.json")
    study = read_study(folder)
    if not study:
        raise DataNotFoundError(f"no finished variant in {folder}; run the study first")
    published = spec.get("published") or {}
    observed = published.get("observed", {})
    blocks = [Block("h1", f"aecompare report: {spec['name']}"), Block("p", spec.get("description", "")),
              Block("p", f"{spec['seeds']} seeds per variant, trained at once as one batched program (full-batch "
                         f"Adam, lr {spec['train']['lr']:g}, {spec['train']['epochs']} epochs). A run's outcome is "
                         "its final mean squared error per pixel (z = the code mean) when within 1/128 of a level, "
                         "else 'other'. Intervals are 95% Wilson intervals. Written by aecompare "
                         f"{__version__} on {dt.date.today().isoformat()}.")]
    blocks += _model_notes([m["name"] for m in spec.get("models", [])])
    variants = {k: v for k, v in study.items() if k != LINES_FOLDER}
    levels = [*LEVELS, OTHER]
    table = Block("table", header=["final loss", *[v[0]["label"] for v in variants.values()],
                                   f"paper ({published.get('source', 'observed')})"])
    for level in levels:
        row = [level]
        for _, arrays in variants.values():
            k, n = int((arrays["outcome"] == level).sum()), len(arrays["outcome"])
            lo, hi = wilson_interval(k, n)
            row.append(f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]")
        row.append(str(observed.get(level, "–")))
        table.rows.append(row)
    seconds = ", ".join(f"{v[0]['label']} {v[0]['train_seconds']:.1f} s" for v in variants.values())
    blocks += [Block("h2", "Outcomes"), table, Block("p", f"Training time for all seeds at once: {seconds}.")]
    for summary, arrays in variants.values():
        causes = [c for c in CAUSES if (arrays["cause"] == c).any()]
        cross = Block("table", header=["cause at initialisation", "runs", *levels])
        for cause in causes:
            mine = arrays["outcome"][arrays["cause"] == cause]
            cross.rows.append([cause, str(len(mine)), *[str(int((mine == lv).sum())) for lv in levels]])
        blocks += [Block("h3", f"{summary['label']}: final loss by the cause found in the initial weights"), cross]
        if "code_std" in arrays:
            blocks.append(Block("p", f"{summary['label']}: with z sampled, the reconstruction MSE is "
                                     f"{np.median(arrays['sampled_mse']):.4f} (median over seeds) against "
                                     f"{np.median(arrays['final_mse']):.4f} with z = the mean."))
    analytic = published.get("analytic", {})
    if analytic and variants:
        first_summary, first = next(iter(variants.values()))
        measured = {"two inputs killed in L1": first["killed_pair"],
                    "L2 and L3 weights of opposite signs": first["opposite_signs"]}
        table = Block("table", header=["condition at initialisation", "paper's value", "measured", "95% interval"])
        for name, value in analytic.items():
            hits = measured.get(name)
            if hits is None:
                continue
            lo, hi = wilson_interval(int(hits.sum()), len(hits))
            table.rows.append([name, f"{value:.3f}", f"{hits.mean():.3f}", f"[{lo:.3f}, {hi:.3f}]"])
        blocks += [Block("h2", f"The paper's probabilities ({first_summary['label']})"),
                   Block("p", "How often each condition holds in the initial weights. 'Two inputs killed in L1': "
                              "at least two inputs whose L1 activations are all zero (the paper's 1 - (15/16)^6, "
                              "which treats the six pairs as independent). 'Opposite signs': both L2 weights of "
                              "one sign and both L3 weights of the other (the paper's 1/8)."),
                   table]
    spreads = [(name, v[0]["label"], v[1]["code_std"]) for name, v in study.items() if "code_std" in v[1]]
    if spreads:
        table = Block("table", header=["model and data", "seeds", "posterior std: median over seeds",
                                       "smallest seed's", "seeds with std < 0.1", "paper"])
        paper_std = published.get("a2_std", {})
        for name, label, std in spreads:
            paper = paper_std.get("lines" if name == LINES_FOLDER else "squares", "–")
            table.rows.append([label, str(len(std)), f"{np.median(std):.4f}", f"{np.min(std):.4f}",
                               f"{int((std < 0.1).sum())}", str(paper)])
        blocks += [Block("h2", "A2's posterior spread: the 2x2 set against the lines set"),
                   Block("p", "Each seed's median posterior standard deviation over its training images. A seed "
                              "near 1 has collapsed to the prior (all-gray outputs)."), table]
    return blocks


def generation_blocks(folder: Path) -> list[Block]:
    """A generation run's report: what was trained on what, and the sample, reconstruction and interpolation
    figures (Fiorino, Sec. 2)."""
    from aecompare.experiments.generation import read_summary

    spec, summary = read_json(folder / "experiment.json"), read_summary(folder)
    train = spec["train"]
    blocks = [Block("h1", f"aecompare report: {spec['name']}"), Block("p", spec.get("description", "")),
              Block("p", f"{summary['model']} trained on {summary['n_train']} images of {spec['images']} "
                         f"({summary['image_size']}x{summary['image_size']}, centre-cropped; {summary['n_val']} held "
                         f"out for validation; {summary['unreadable']} unreadable files left out): "
                         f"{summary['epochs_run']} epochs of at most {train['epochs']} (batch {train['batch_size']}, "
                         f"{train['optimizer']} lr {train['lr']:g}), best validation loss "
                         f"{summary['best_val_loss']:.4g} at epoch {summary['best_epoch']}, "
                         f"{summary['train_seconds']:.1f} s. Written by aecompare {__version__} on "
                         f"{dt.date.today().isoformat()}.")]
    if summary.get("collapsed"):
        blocks.append(Block("p", "Warning: the model gives nearly one reconstruction for every image (it learned "
                                 "the mean); train longer or lower the reconstruction weight's rival, the KL."))
    blocks += _model_notes([m["name"] for m in spec.get("models", [])])
    for name, caption in (("samples", "Samples: the decoder's means for codes drawn from the prior N(0, I)"),
                          ("reconstructions", "Held-out images (top) and their reconstructions (bottom)"),
                          ("interpolation", "The decoder along the straight line between two held-out images' "
                                            "posterior means"),
                          ("training", "Training curves (dotted: training loss; solid: validation loss)")):
        path = folder / "figures" / f"{name}.png"
        if path.exists():
            blocks.append(Block("figure", caption, path=path.relative_to(folder)))
    return blocks


def _model_notes(registry_names: list[str]) -> list[Block]:
    """The choices made where a paper is ambiguous, once for all models that share them."""
    from aecompare.models.registry import MODELS

    notes = list(dict.fromkeys(n for name in registry_names if name in MODELS for n in MODELS[name].notes))
    if not notes:
        return []
    return [Block("h2", "Choices where the paper is ambiguous"), Block("list", rows=[[n] for n in notes])]


def _paper_comparison(published: dict[str, Any], rows: list[dict[str, Any]], models: list[str]) -> list[Block]:
    """The paper's numbers beside ours (mean ± std over seeds) and the difference of the means, per cell."""
    normal, source = str(published.get("normal")), published.get("source", "the paper")
    mine = [r for r in rows if r["normal"] == normal]
    if not mine:
        return [Block("p", f"{source} reports results with {normal} normal; no run here used it, so there is "
                           "nothing to compare.")]
    n_seeds = len({r["seed"] for r in mine})
    blocks = [Block("h3", f"Paper vs ours: {source} (normal: {normal})"),
              Block("p", f"Ours: mean ± std over {n_seeds} seed(s); Δ = our mean − the paper's value. Each anomalous "
                         "class is scored on the normal test images plus that class's test images. The mean row "
                         "averages over the anomalous classes.")]
    for metric, title in (("auroc", "AUROC"), ("auprc", "AUPRC (PR-AUC, average precision)"),
                          ("precision", "Precision at the threshold"), ("recall", "Recall at the threshold"),
                          ("f1", "F1 at the threshold")):
        paper = {m: published.get(metric, {}).get(m, {}) for m in models if published.get(metric, {}).get(m)}
        if not paper:
            continue
        groups = list(dict.fromkeys(g for cells in paper.values() for g in cells))
        table = Block("table", header=["anomalous class", *[f"{m} {what}" for m in paper for what in
                                                            ("paper", "ours", "Δ")]])
        for g in [*groups, None]:
            row = [g if g else "**mean**"]
            for m, cells in paper.items():
                if g is None:  # mean over the classes the paper lists, per seed, then over seeds
                    seeds = sorted({r["seed"] for r in mine if r["model"] == m})
                    ours = [float(np.mean([r[metric] for r in mine if r["model"] == m and r["seed"] == s
                                           and r["group"] in cells])) for s in seeds]
                    value = float(np.mean(list(cells.values())))
                else:
                    ours = [float(r[metric]) for r in mine if r["model"] == m and r["group"] == g]
                    value = cells.get(g)
                if value is None or not ours:
                    row += ["–", _fmt(*_mean_std(ours), digits=4) if ours else "–", "–"]
                    continue
                mean, std = _mean_std(ours)
                row += [f"{value:.4f}", _fmt(mean, std, digits=4), f"{mean - value:+.4f}"]
            table.rows.append(row)
        blocks += [Block("p", f"{title} per anomalous class:"), table]
    seconds = published.get("train_seconds", {})
    if seconds:
        ours = {m: [float(r["train_seconds"]) for r in mine if r["model"] == m and r["group"] == POOLED]
                for m in models if m in seconds}
        ours = {m: v for m, v in ours.items() if v}
        if ours:
            first = next(iter(ours))
            table = Block("table", header=["model", "paper train seconds", f"paper ÷ {first}", "ours (mean ± std)",
                                           f"ours ÷ {first}"])
            for m, values in ours.items():
                table.rows.append([m, f"{seconds[m]:.2f}", f"{seconds[m] / seconds[first]:.2f}",
                                   _fmt(*_mean_std(values), digits=2),
                                   f"{np.mean(values) / np.mean(ours[first]):.2f}"])
            blocks += [Block("p", "Training time. The paper states neither its hardware nor its epochs, so compare "
                                  "the ratios between models, not the seconds:"), table]
    blocks.append(Block("p", "The reconstruction figure below is the analogue of the paper's qualitative "
                             "figures: unseen normal and anomalous test images with each model's reconstruction."))
    return blocks


def _dataset_section(folder: Path, dataset: str, rows: list[dict[str, Any]], model_order: list[str],
                     published: dict[str, Any], percentile: float = 95.0) -> list[Block]:
    present = {r["model"] for r in rows}
    models = [m for m in model_order if m in present] + sorted(present - set(model_order))
    normals = list(dict.fromkeys(r["normal"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    pooled = [r for r in rows if r["group"] == POOLED]
    first_run = {m: next(r for r in rows if r["model"] == m) for m in models}
    scored_by = ", ".join(f"{m} by {_score_name(_run_dir(folder, dataset, m, r['normal'], r['seed']))}"
                          for m, r in first_run.items())
    blocks = [Block("h2", f"Dataset: {dataset}"),
              Block("p", f"Models: {', '.join(models)}. Normal class choices: {len(normals)}. "
                         f"Seeds: {len(seeds)}. Values are mean ± std over seeds. Scores: {scored_by}.")]
    for metric, title in (("auroc", "AUROC"), ("auprc", "AUPRC")):
        blocks += [Block("h3", f"{title} by normal class (all anomalies pooled)"),
                   _metric_table(pooled, metric, models, normals)]
    blocks += [Block("h3", "Training time and decisions at the threshold"),
               Block("p", "Each run's threshold is the "
                          f"{percentile:g}th percentile of its scores on normal validation data (a "
                          f"{100 - percentile:g}% false-alarm rate on normal data, if test normals score alike); a "
                          "test sample scoring above it is called an anomaly. TP/FP/TN/FN count the test samples "
                          "(anomaly = positive), mean over seeds."),
               _cost_table(pooled, models)]
    if published.get("dataset") == dataset:
        blocks += _paper_comparison(published, rows, models)
    if len(normals) == 1:
        groups = [g for g in dict.fromkeys(r["group"] for r in rows) if g != POOLED]
        blocks += [Block("h3", f"AUROC by anomaly group (normal: {normals[0]})"),
                   _group_table(rows, models, groups)]
    blocks += _postprocess_table(folder, dataset, models)
    blocks += _pixel_table(folder, dataset, models)
    best = {m: _best_seed(folder, dataset, m, normals[0], seeds) for m in models}
    blocks += _figures(folder, dataset, models, normals, seeds[0], best)
    blocks += _views_inside(folder, dataset, models, normals[0], best)
    return blocks


def _best_seed(folder: Path, dataset: str, model: str, normal: str, seeds: list[int]) -> int:
    """The seed whose run reached the lowest validation loss (normal data only): the run a user would keep,
    shown in the figures of single models. Runs without a history count as worst."""
    def best_loss(seed: int) -> float:
        path = _run_dir(folder, dataset, model, normal, seed) / "history.json"
        return min((r["val_loss"] for r in read_json(path)), default=np.inf) if path.exists() else np.inf

    return min(seeds, key=best_loss)


def _views_inside(folder: Path, dataset: str, models: list[str], normal: str, best: dict[str, int]) -> list[Block]:
    """Patuzzo's looks inside, for MLP runs with a one-unit bottleneck (where a sweep tells the whole story)."""
    from aecompare.inspection import views_inside

    blocks = []
    for m in models:
        run_dir = _run_dir(folder, dataset, m, normal, best[m])
        if not (run_dir / "latent.npz").exists():
            continue
        saved = read_json(run_dir / "model.json")
        config, shape = saved["config"], saved["input_shape"]
        mlp = config["backbone"] == "mlp" or (config["backbone"] == "auto" and len(shape) == 1)
        if not mlp or config["latent_dim"] != 1:
            continue
        for caption, path in views_inside(run_dir, folder / "figures", prefix=f"{dataset}-{m}-".replace(" ", "_")):
            blocks.append(Block("figure", f"{m}: {caption}", path=path.relative_to(folder)))
    if blocks:
        blocks.insert(0, Block("h3", f"Views inside (normal: {normal}; each model's seed with the lowest validation "
                                     f"loss: {_seed_list(best)})"))
    return blocks


def _postprocess_table(folder: Path, dataset: str, models: list[str]) -> list[Block]:
    """Normal test images' MSE before and after Heaviside post-processing (binary data; Patuzzo's Figs. 9-10)."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _, config, metrics in finished_runs(folder):
        if config["dataset"] == dataset:
            for post, mse in metrics.get("normal_test_mse", {}).items():
                values[config["model"]][post].append(mse)
    if not any("heaviside" in v for v in values.values()):
        return []
    table = Block("table", header=["model", "MSE of the sigmoid outputs", "MSE after Heaviside post-processing"])
    for m in models:
        if values[m]:
            table.rows.append([m, *[_fmt(*_mean_std(values[m][p]), digits=4) if values[m][p] else "–"
                                    for p in ("none", "heaviside")]])
    return [Block("h3", "Reconstruction error of the normal test images, before and after post-processing"),
            Block("p", "Heaviside post-processing replaces each sigmoid output by the step of its logit (1 where "
                       "the output exceeds 0.5): gray pixels near a decision threshold become black or white. "
                       "Mean ± std over seeds of the mean squared error per pixel."), table]


def _pixel_table(folder: Path, dataset: str, models: list[str]) -> list[Block]:
    """Pixel-level AUROC against the defect masks (MVTec-layout data), when runs recorded one."""
    values: dict[str, list[float]] = defaultdict(list)
    for _, config, metrics in finished_runs(folder):
        if config["dataset"] == dataset and metrics.get("pixel_auroc") is not None:
            values[config["model"]].append(metrics["pixel_auroc"])
    if not values:
        return []
    table = Block("table", header=["model", "pixel AUROC"])
    table.rows += [[m, _fmt(*_mean_std(values[m]))] for m in models if values[m]]
    return [Block("h3", "Where the defect is: pixel-level AUROC"),
            Block("p", "Each pixel's squared reconstruction error (averaged over channels) scored against the "
                       "ground-truth defect masks, over all test images with a known mask (good images: no "
                       "defect pixel). Mean ± std over seeds."), table]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values)) if len(values) > 1 else 0.0


def _fmt(mean: float, std: float, bold: bool = False, digits: int = 3) -> str:
    text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"**{text}**" if bold else text


def _metric_table(pooled: list[dict[str, Any]], metric: str, models: list[str], normals: list[str]) -> Block:
    by_cell: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in pooled:
        by_cell[(r["normal"], r["model"])][r["seed"]] = float(r[metric])
    table = Block("table", header=["normal", *models])
    for normal in normals:
        stats = [_mean_std(list(by_cell[(normal, m)].values())) if by_cell[(normal, m)] else None for m in models]
        best = max((s[0] for s in stats if s), default=None)
        table.rows.append([normal, *[_fmt(*s, bold=s[0] == best) if s else "–" for s in stats]])
    if len(normals) > 1:  # the mean over classes, computed per seed, then mean ± std over seeds
        stats = []
        for m in models:
            seeds = set.intersection(*(set(by_cell[(n, m)]) for n in normals))
            per_seed = [np.mean([by_cell[(n, m)][s] for n in normals]) for s in sorted(seeds)]
            stats.append(_mean_std(per_seed) if per_seed else None)
        best = max((s[0] for s in stats if s), default=None)
        table.rows.append(["**mean**", *[_fmt(*s, bold=s[0] == best) if s else "–" for s in stats]])
    return table


def _cost_table(pooled: list[dict[str, Any]], models: list[str]) -> Block:
    counts = ("tp", "fp", "tn", "fn")
    table = Block("table", header=["model", "train seconds per run", "epochs run", "precision", "recall", "F1",
                                   "TP", "FP", "TN", "FN"])
    for m in models:
        mine = [r for r in pooled if r["model"] == m]
        cells = [_fmt(*_mean_std([float(r[k]) for r in mine]), digits=digits)
                 for k, digits in (("train_seconds", 2), ("epochs_run", 1), ("precision", 3), ("recall", 3), ("f1", 3))]
        # confusion counts: the mean over seeds (runs written before they were recorded show –)
        cells += [f"{np.mean([float(r[k]) for r in mine]):.1f}" if all(r.get(k) not in (None, "") for r in mine)
                  else "–" for k in counts]
        table.rows.append([m, *cells])
    return table


def _group_table(rows: list[dict[str, Any]], models: list[str], groups: list[str]) -> Block:
    table = Block("table", header=["anomaly group", *models])
    for g in groups:
        stats = [_mean_std([float(r["auroc"]) for r in rows if r["group"] == g and r["model"] == m]) for m in models]
        best = max(s[0] for s in stats)
        table.rows.append([g, *[_fmt(*s, bold=s[0] == best) for s in stats]])
    return table


def _anomaly_groups(scores: dict, normal: str, models: list[str]) -> list[str]:
    """The anomaly groups of the runs with ``normal`` normal, in the order they first appear."""
    for m in models:
        if (normal, m) in scores:
            d = scores[(normal, m)]
            return [str(g) for g in dict.fromkeys(d["group_test"][d["y_test"] == 1].tolist())]
    return []


def _score_name(run_dir: Path) -> str:
    """The scorer a run used (runs written before per-model scores keep theirs in the evaluation section)."""
    return read_json(run_dir / "config.json")["evaluation"]["score"]


def _run_dir(folder: Path, dataset: str, model: str, normal: str, seed: int) -> Path:
    return folder / dataset / model / normal_dir(normal.split("+")) / f"seed-{seed}"


def _seed_list(best: dict[str, int]) -> str:
    return ", ".join(f"{m} seed {s}" for m, s in best.items())


def _figures(folder: Path, dataset: str, models: list[str], normals: list[str], seed: int,
             best: dict[str, int]) -> list[Block]:
    """ROC curves, score histograms and PR curves of seed ``seed``; reconstructions, anomaly maps and training
    curves of each model's ``best`` seed."""
    fig_dir = folder / "figures"
    scores = {(n, m): np.load(_run_dir(folder, dataset, m, n, seed) / "scores.npz")
              for n in normals for m in models if (_run_dir(folder, dataset, m, n, seed) / "scores.npz").exists()}
    blocks = [Block("h3", f"Figures (curves and histograms: seed {seed})")]
    panels = {n: {m: (scores[(n, m)]["y_test"], scores[(n, m)]["test_scores"]) for m in models if (n, m) in scores}
              for n in normals}
    path = figures.roc_curves(panels, fig_dir / f"{dataset}-roc.png")
    blocks.append(Block("figure", "ROC curves, all anomalies pooled", path=path.relative_to(folder)))
    first = normals[0]
    hist = {m: (scores[(first, m)]["y_test"], scores[(first, m)]["test_scores"], float(scores[(first, m)]["threshold"]),
                _score_name(_run_dir(folder, dataset, m, first, seed))) for m in models if (first, m) in scores}
    path = figures.score_histograms(hist, fig_dir / f"{dataset}-scores.png")
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
        path = figures.pr_curves(panels, fig_dir / f"{dataset}-pr.png")
        blocks.append(Block("figure", "Precision-recall curves per anomaly group (legend: PR-AUC; dotted: the share "
                                      "of anomalies)", path=path.relative_to(folder)))
    examples = {m: np.load(_run_dir(folder, dataset, m, first, best[m]) / "examples.npz") for m in models
                if (_run_dir(folder, dataset, m, first, best[m]) / "examples.npz").exists()}
    if examples:
        any_ex = next(iter(examples.values()))
        recons = {}
        for m, e in examples.items():
            recons[m] = e["recon"]
            if "recon_heaviside" in e:  # binary images: Patuzzo's post-processing beside the raw output
                recons[f"{m} + Heaviside"] = e["recon_heaviside"]
        path = figures.reconstruction_grid(any_ex["inputs"], recons, any_ex["group"],
                                           fig_dir / f"{dataset}-reconstructions.png")
        blocks.append(Block("figure", f"Test inputs (titled by class) and reconstructions (normal: {first}; "
                                      f"each model's seed with the lowest validation loss: {_seed_list(best)})",
                            path=path.relative_to(folder)))
        if any_ex["inputs"].shape[-1] >= 16:  # anomaly maps say little on tiny images
            path = figures.error_maps(any_ex["inputs"], {m: e["recon"] for m, e in examples.items()},
                                      any_ex["group"], fig_dir / f"{dataset}-error-maps.png")
            blocks.append(Block("figure", "Anomaly maps: each model's per-pixel squared error over the input "
                                          "(one colour scale per model)", path=path.relative_to(folder)))
    histories = {m: read_json(_run_dir(folder, dataset, m, first, best[m]) / "history.json") for m in models
                 if (_run_dir(folder, dataset, m, first, best[m]) / "history.json").exists()}
    path = figures.training_curves(histories, fig_dir / f"{dataset}-training.png")
    blocks.append(Block("figure", f"Training curves (normal: {first}; {_seed_list(best)})",
                        path=path.relative_to(folder)))
    return blocks


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "list":
            out.append("\n".join(f"- {item}" for item, in b.rows))
        elif b.kind == "table":
            out.append("\n".join(["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header),
                                  *["| " + " | ".join(r) + " |" for r in b.rows]]))
        elif b.kind == "figure":
            out.append(f"![{b.text}]({b.path.as_posix()})\n\n*{b.text}*")
    return "\n\n".join(out) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}img{max-width:100%}
figcaption{font-style:italic;color:#555}"""


def render_html(blocks: list[Block], folder: Path, title: str) -> str:
    """The blocks as one HTML page with figures embedded as base64 PNGs (no external files)."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{CSS}</style></head><body>"]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"<{b.kind}>{html.escape(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{html.escape(b.text)}</p>")
        elif b.kind == "list":
            out.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item, in b.rows) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "figure":
            data = base64.b64encode((folder / b.path).read_bytes()).decode("ascii")
            out.append(f"<figure><img alt='{html.escape(b.text)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{html.escape(b.text)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escape text, turning Markdown's **bold** into <b>."""
    if text.startswith("**") and text.endswith("**") and len(text) > 4:
        return f"<b>{html.escape(text[2:-2])}</b>"
    return html.escape(text)
