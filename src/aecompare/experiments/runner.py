"""Run an experiment's grid: models x normal-class choices x seeds, one atomic folder per finished run.

A run folder appears only once complete (written under a temporary name, then renamed), so an
interrupted experiment loses nothing that finished, and running it again skips what is there.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from aecompare.config import to_dict
from aecompare.data import Dataset, OneClassSplit, Scaler, load_dataset, one_class_split
from aecompare.experiments.spec import DatasetSpec, ExperimentSpec, ModelSpec, spec_to_dict
from aecompare.inspection import encode_codes
from aecompare.metrics import metrics_by_group, threshold_from_normal
from aecompare.models import build_model, config_to_dict, model_config, save_model
from aecompare.models.backbones import check_pretrained_available
from aecompare.scoring import error_map, heaviside, reconstruct, score
from aecompare.training import fit
from aecompare.utils import atomic_write_text, read_json, seed_everything, write_json

log = logging.getLogger(__name__)

RESULT_COLUMNS = ("experiment", "dataset", "model", "normal", "seed", "group", "auroc", "auprc", "precision",
                  "recall", "f1", "tp", "fp", "tn", "fn", "threshold", "n_normal", "n_anomalous", "train_seconds",
                  "best_epoch", "epochs_run")
N_EXAMPLES = 4  # normal and anomalous test inputs kept per run for reconstruction grids


@dataclass(frozen=True)
class Run:
    """One cell of the grid."""

    dataset: DatasetSpec
    normal: tuple[str, ...]
    model: ModelSpec
    seed: int

    @property
    def relative_dir(self) -> Path:
        """``<dataset>/<model>/normal-<classes>/seed-<n>``."""
        return Path(self.dataset.key, self.model.label, normal_dir(self.normal), f"seed-{self.seed}")


def normal_dir(normal: Sequence[str]) -> str:
    """The folder name of a normal-class choice: ``normal-1``, ``normal-1+7``; Fashion-MNIST's
    ``T-shirt/top`` becomes ``normal-T-shirt_top``, one folder."""
    return "normal-" + safe_name("+".join(normal))


def safe_name(text: str) -> str:
    """``text`` as one folder name: every character other than letters, digits, ``.``, ``+``, ``-``
    becomes ``_``."""
    return re.sub(r"[^\w.+-]", "_", text)


def run_experiment(spec: ExperimentSpec, output: str | Path, *, data_dir: str | Path | None = None,
                   progress: bool | None = None, workers: int | None = None) -> Path:
    """Run every unfinished run of ``spec`` under ``output/<spec.name>`` and write ``results.csv``.

    Args:
        spec: the experiment.
        output: the output folder; the experiment writes into ``output/<spec.name>``.
        data_dir: the folder of file-based datasets.
        progress: show a progress bar; None shows one only on a terminal.
        workers: processes running runs side by side; None picks one per CPU core (at most 4) on the
            CPU and 1 with CUDA. Each run seeds itself, so results do not depend on this.

    Returns:
        The experiment folder.
    """
    for d in spec.datasets:  # a model that cannot be built fails now, not after hours of the others' training
        for m in spec.models:
            check_pretrained_available(model_config(m.name, **spec.model_overrides(m, d)))
    folder = Path(output) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "experiment.json", spec_to_dict(spec))
    show = sys.stderr.isatty() if progress is None else progress
    datasets = {d.key: load_dataset(d.name, data_dir, **d.params) for d in spec.datasets}
    runs = list(expand_runs(spec, datasets))
    todo = [r for r in runs if not (folder / r.relative_dir / "metrics.json").exists()]
    log.info("%s: %d runs, %d already finished", spec.name, len(runs), len(runs) - len(todo))
    groups = list(group_by_training(spec, todo).values())
    workers = default_workers(len(groups)) if workers is None else max(1, workers)
    with tqdm(total=len(todo), desc=spec.name, unit="run", disable=not show) as bar:
        if workers == 1:
            for group in groups:
                execute_runs(spec, group, datasets[group[0].dataset.key], folder)
                bar.update(len(group))
        else:
            _run_in_processes(spec, groups, folder, data_dir, workers, bar)
    write_results(folder)
    return folder


def group_by_training(spec: ExperimentSpec, runs: list[Run]) -> dict[str, list[Run]]:
    """Runs that train the same model on the same data with the same seed, differing only in their score,
    grouped so that one training serves them all."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        key = json.dumps([run.dataset.key, run.normal, run.seed, run.model.name,
                          spec.model_overrides(run.model, run.dataset)], sort_keys=True, default=str)
        groups.setdefault(key, []).append(run)
    return groups


def default_workers(n_runs: int) -> int:
    """One process per CPU core (at most 4) on the CPU; one with CUDA, which runs already use in full."""
    if torch.cuda.is_available():
        return 1
    return max(1, min(n_runs, os.cpu_count() or 1, 4))


_WORKER_DATASETS: dict[str, Dataset] = {}


def _init_worker(spec: ExperimentSpec, data_dir: str | Path | None) -> None:
    torch.set_num_threads(1)  # the processes share the cores; one thread each avoids oversubscription
    for d in spec.datasets:  # load once per process, not once per run
        _WORKER_DATASETS[d.key] = load_dataset(d.name, data_dir, **d.params)


def _worker_runs(spec: ExperimentSpec, runs: list[Run], folder: Path) -> list[Path]:
    return execute_runs(spec, runs, _WORKER_DATASETS[runs[0].dataset.key], folder)


def _run_in_processes(spec: ExperimentSpec, groups: list[list[Run]], folder: Path, data_dir: str | Path | None,
                      workers: int, bar: tqdm) -> None:
    # spawn, not fork: forking a process that has started torch's thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(spec, data_dir)) as pool:
        futures = [pool.submit(_worker_runs, spec, group, folder) for group in groups]
        try:
            for future in as_completed(futures):
                bar.update(len(future.result()))  # re-raises a run's error here, with its message
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def expand_runs(spec: ExperimentSpec, datasets: dict[str, Dataset]) -> Iterator[Run]:
    """Every (dataset, normal classes, seed, model) of the grid, models innermost."""
    for d in spec.datasets:
        data = datasets[d.key]
        for normal in d.normal_sets(data.class_names, tuple(data.class_names[i] for i in np.unique(data.y_train))):
            for seed in spec.seeds:
                for model in spec.models:
                    yield Run(d, normal, model, seed)


def execute_run(spec: ExperimentSpec, run: Run, dataset: Dataset, folder: Path) -> Path:
    """Train, score and evaluate one run; write its folder atomically. Returns the folder."""
    return execute_runs(spec, [run], dataset, folder)[0]


def execute_runs(spec: ExperimentSpec, runs: list[Run], dataset: Dataset, folder: Path) -> list[Path]:
    """Train once for ``runs`` (which differ only in their score: see :func:`group_by_training`), then score,
    evaluate and write each run's folder atomically. Returns the folders."""
    run = runs[0]
    split = one_class_split(dataset, run.normal, val_fraction=spec.evaluation.val_fraction, seed=run.seed)
    scaler = Scaler.fit(split.x_train, run.dataset.scaler_kind(dataset.kind == "table"))  # normal data only
    x_train, x_val, x_test = (torch.from_numpy(scaler.transform(a)) for a in (split.x_train, split.x_val, split.x_test))

    seed_everything(run.seed)  # weight initialisation
    model = build_model(run.model.name, split.input_shape, **spec.model_overrides(run.model, run.dataset))
    train_config = spec.train_config(run.dataset)
    result = fit(model, x_train, x_val, train_config, seed=run.seed, progress=False)

    binary_sigmoid = (model.config.resolved_output_activation(split.input_shape) == "sigmoid"
                      and bool(torch.all((x_train == 0) | (x_train == 1))))
    normal_test = x_test[torch.from_numpy(split.y_test == 0)]
    # Patuzzo's Figs. 9-10: the normal test images' error before and after post-processing (binary data only)
    normal_recon = reconstruct(model, normal_test)
    normal_test_mse = {"none": float((normal_recon - normal_test).pow(2).mean())}
    if binary_sigmoid:
        normal_test_mse["heaviside"] = float((heaviside(normal_recon) - normal_test).pow(2).mean())
    examples = None
    if dataset.kind == "image":
        idx = example_indices(split)
        extra = {"recon_heaviside": reconstruct(model, x_test[idx], postprocess="heaviside").numpy()
                 } if binary_sigmoid else {}
        examples = dict(index=idx, inputs=x_test[idx].numpy(),  # as the model saw them
                        recon=reconstruct(model, x_test[idx]).numpy(), group=split.group_test[idx].astype(str), **extra)
    pixel_auroc = pixel_level_auroc(model, x_test, split.masks_test) if split.masks_test is not None else None
    # for the views inside; a feature-map code (latent_dim 0, e.g. 64x64x64 per image) is too big to keep
    codes = encode_codes(model, x_train) if model.config.latent_dim > 0 else None

    finished = []
    for run in runs:
        method, post = spec.score_of(run.model), spec.evaluation.postprocess
        options = dict(postprocess=post, n_samples=spec.evaluation.n_samples, seed=run.seed)
        val_scores = score(model, x_val if len(x_val) else x_train, method, **options)
        test_scores = score(model, x_test, method, **options)
        threshold = threshold_from_normal(val_scores, spec.evaluation.threshold_percentile)
        rows = metrics_by_group(split.y_test, test_scores, split.group_test, threshold)

        final = folder / run.relative_dir
        partial = final.with_name(f".{final.name}.partial-{os.getpid()}")
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        write_json(partial / "config.json", {
            "experiment": spec.name, "dataset": run.dataset.key, "source": run.dataset.name,
            "dataset_params": run.dataset.params, "normal": list(run.normal), "model": run.model.label,
            "registry_name": run.model.name, "model_config": config_to_dict(model.config),
            "train": to_dict(train_config), "evaluation": {**to_dict(spec.evaluation), "score": method},
            "seed": run.seed, "scaler": scaler.to_dict(),
            "n_train": len(x_train), "n_val": len(x_val), "n_test": len(x_test),
        })
        write_json(partial / "history.json", result.history)
        np.savez_compressed(partial / "scores.npz", test_scores=test_scores, y_test=split.y_test,
                            group_test=split.group_test.astype(str), val_scores=val_scores, threshold=threshold)
        if examples is not None:
            np.savez_compressed(partial / "examples.npz", **examples)
        if codes is not None:
            np.savez_compressed(partial / "latent.npz", **codes)
        save_model(model, partial)
        write_json(partial / "metrics.json", {
            "rows": rows, "score": method, "threshold": threshold, "train_seconds": result.train_seconds,
            "best_epoch": result.best_epoch, "epochs_run": len(result.history), "stopped_early": result.stopped_early,
            "output_spread": result.output_spread, "collapsed": result.collapsed, "normal_test_mse": normal_test_mse,
            "pixel_auroc": pixel_auroc,
        })  # written last: its presence marks a finished run
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # a stale, unfinished folder from an older layout or a crash during rename
            shutil.rmtree(final)
        os.replace(partial, final)
        finished.append(final)
    return finished


def pixel_level_auroc(model: torch.nn.Module, x_test: torch.Tensor, masks: np.ndarray) -> float | None:
    """ROC-AUC of the per-pixel squared error (averaged over channels) against the defect masks, over every
    test image whose mask is known (good images count with all-zero masks); None without any defect pixel."""
    known = ~np.isnan(masks).any(axis=(1, 2))
    truth = masks[known]
    if not known.any() or truth.min() == truth.max():
        return None
    maps = error_map(model, x_test[torch.from_numpy(known)]).mean(1).numpy()  # (n, H, W)
    return float(roc_auc_score(truth.reshape(-1).astype(int), maps.reshape(-1)))


def example_indices(split: OneClassSplit) -> np.ndarray:
    """Fixed test indices for reconstruction grids: the same across models and seeds of a split."""
    rng = np.random.default_rng(0)
    normal = np.flatnonzero(split.y_test == 0)
    anomalous = np.flatnonzero(split.y_test == 1)
    # Spread the anomalous examples over groups: one per group in turn, at random within each.
    by_group = [rng.permutation(anomalous[split.group_test[anomalous] == g]).tolist()
                for g in np.unique(split.group_test[anomalous])]
    picked: list[int] = []
    while len(picked) < N_EXAMPLES and any(by_group):
        for members in by_group:
            if members and len(picked) < N_EXAMPLES:
                picked.append(members.pop())
    chosen_normal = rng.choice(normal, size=min(N_EXAMPLES, len(normal)), replace=False)
    return np.concatenate([np.sort(chosen_normal), np.asarray(picked, dtype=int)])


def finished_runs(folder: Path) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(run folder, config, metrics) for every finished run under an experiment folder, in a stable order."""
    for metrics_path in sorted(folder.glob("*/*/normal-*/seed-*/metrics.json")):
        run_dir = metrics_path.parent
        yield run_dir, read_json(run_dir / "config.json"), read_json(metrics_path)


def collect_results(folder: Path) -> list[dict[str, Any]]:
    """The long-form result rows (one per run and group) of every finished run."""
    rows = []
    for _, config, metrics in finished_runs(folder):
        for r in metrics["rows"]:
            rows.append({
                "experiment": config["experiment"], "dataset": config["dataset"], "model": config["model"],
                "normal": "+".join(config["normal"]), "seed": config["seed"], "threshold": metrics["threshold"],
                "train_seconds": metrics["train_seconds"], "best_epoch": metrics["best_epoch"],
                "epochs_run": metrics["epochs_run"], **r,
            })
    return rows


def write_results(folder: Path) -> Path:
    """Write ``results.csv`` (long form, one row per run and anomaly group) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(collect_results(folder))
    path = folder / "results.csv"
    atomic_write_text(path, buffer.getvalue())
    return path
