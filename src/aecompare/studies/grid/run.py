"""Run an experiment's grid: models x normal-class choices x seeds, one run folder per finished run.

A run is identified by its resolved settings. Resume skips a finished run only when its stored settings equal
the ones asked for now; otherwise it stops before training and names what differs (``--force`` retrains the
differing runs). One process writes an experiment folder at a time.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from aecompare.core.io import OutputLock, atomic_write_text, canonical_json, check_distinct_names, write_json
from aecompare.core.runtime import resolve_device
from aecompare.core.validation import to_dict
from aecompare.data import Dataset, OneClassSplit, load_dataset, one_class_split
from aecompare.data.sources import source_params
from aecompare.errors import ConfigError
from aecompare.fitting import (
    FitSettings,
    TrainedModel,
    divergence,
    finish_detector,
    normal_threshold,
    separation,
    train_model,
)
from aecompare.metrics import metrics_by_group
from aecompare.models import config_to_dict, model_config
from aecompare.models.backbones import check_pretrained_available
from aecompare.runs import folder as run_folder
from aecompare.runs.executors import ExecutorOptions, local_lanes, require_ray, run_tasks
from aecompare.runs.folder import RunRecord
from aecompare.scoring import error_map, fit_standardisation, heaviside, reconstruct, score, standardise
from aecompare.studies.grid.spec import DatasetSpec, ExperimentSpec, ModelSpec, spec_to_dict
from aecompare.train.distributed import is_main, world
from aecompare.train.loop import GPU_SWITCHES

log = logging.getLogger(__name__)

RESULT_COLUMNS = ("experiment", "dataset", "model", "normal", "seed", "group", "auroc", "auprc", "precision",
                  "recall", "f1", "tp", "fp", "tn", "fn", "threshold", "n_normal", "n_anomalous", "train_seconds",
                  "best_epoch", "epochs_run", "collapsed", "diverged", "synthetic_auroc", "settings_hash")
N_EXAMPLES = 4  # normal and anomalous test inputs kept per run for reconstruction grids


@dataclass(frozen=True)
class Run:
    """One cell of the grid."""

    dataset: DatasetSpec
    normal: tuple[str, ...]
    model: ModelSpec
    seed: int
    data: str = "{}"  # the loaded data's fingerprint (Dataset.fingerprint) as canonical JSON

    @property
    def relative_dir(self) -> Path:
        """``<dataset>/<model>/normal-<classes>/seed-<n>``, through the one safe-name function."""
        return run_folder.relative_dir(self.dataset.key, self.model.label, self.normal, self.seed)


def run_settings(spec: ExperimentSpec, run: Run) -> dict[str, Any]:
    """What identifies a run: its resolved model config, training, evaluation and dataset settings, the data's
    fingerprint, its seed and the package's major version. Two runs with equal settings give the same numbers
    on the CPU, and settings that cannot change a number are left out or resolved: the dataset's parameters
    with their defaults, the device as the one used (``auto`` is ``cpu`` on a CPU machine), and the GPU
    switches only where a GPU trains."""
    overrides = spec.model_overrides(run.model, run.dataset)
    train = to_dict(spec.train_config(run.dataset))
    train["device"] = resolve_device(train["device"]).type
    if train["device"] == "cpu":
        for switch in GPU_SWITCHES:
            train.pop(switch)
    return json.loads(json.dumps({
        "model": {"name": run.model.name, **config_to_dict(model_config(run.model.name, **overrides))},
        "train": train,
        "evaluation": to_dict(dataclasses.replace(spec.evaluation, scorer=spec.scorer_of(run.model))),
        "dataset": {"name": run.dataset.name, "params": source_params(run.dataset.name, run.dataset.params),
                    "scaling": run.dataset.scaling, "normal": list(run.normal), "data": json.loads(run.data)},
        "seed": run.seed, "aecompare_major": run_folder.major_version(),
        **({"ensemble": run.model.ensemble} if run.model.ensemble > 1 else {}),
        **({"restarts": run.model.restarts} if run.model.restarts > 1 else {}),
    }, default=str))


MAX_RUNS_UNASKED = 2000  # a grid larger than this needs --yes
MAX_RUNS = 100_000  # no grid is larger, --yes or not: counted before a single run is made


def run_experiment(spec: ExperimentSpec, output: str | Path, *, data_dir: str | Path | None = None,
                   progress: bool | None = None, workers: int | None = None, force: bool = False,
                   yes: bool = False, executor: ExecutorOptions | None = None) -> Path:
    """Run every run of ``spec`` not already finished with the same settings under ``output/<spec.name>``,
    and write ``results.csv``.

    Args:
        spec: the experiment.
        output: the output folder; the experiment writes into ``output/<spec.name>``.
        data_dir: the folder of file-based datasets.
        progress: show a progress bar; None shows one only on a terminal.
        workers: processes running runs side by side; None picks one per CPU core (at most 4) on the
            CPU and 1 with CUDA. Each run seeds itself, so results do not depend on this.
        force: retrain finished runs whose stored settings differ from ``spec``'s (else that is an error).
        yes: run a grid of more than :data:`MAX_RUNS_UNASKED` runs (else that is an error saying how many).
        executor: where runs execute (the local pool by default; Ray); ``workers`` overrides its pool size.

    Returns:
        The experiment folder.

    Raises:
        ConfigError: when finished runs were made with other settings and ``force`` is off (names what
            differs), or when another process is writing the folder.
    """
    for d in spec.datasets:  # a model that cannot be built fails now, not after hours of the others' training
        for m in spec.models:
            check_pretrained_available(model_config(m.name, **spec.model_overrides(m, d)))
    folder = Path(output) / spec.name
    executor = dataclasses.replace(executor or ExecutorOptions(), **({"workers": workers} if workers else {}))
    if world()[1] > 1:  # under torchrun every process trains each run together; the first one writes
        executor = dataclasses.replace(executor, kind="local", workers=1)
    with OutputLock(folder) if is_main() else nullcontext():
        if is_main() and run_folder.clean_partials(folder):
            log.info("%s: removed the unfinished runs of an interrupted process", folder)
        datasets = {d.key: load_dataset(d.name, data_dir, **d.params) for d in spec.datasets}
        n_runs = count_runs(spec, datasets)
        if n_runs > MAX_RUNS or n_runs > MAX_RUNS_UNASKED and not yes:
            raise ConfigError(too_many_runs(spec, n_runs, local_lanes(executor, n_runs)[0]))
        runs = list(expand_runs(spec, datasets))
        todo = runs_to_do(spec, runs, folder, force)
        if len(todo) > MAX_RUNS_UNASKED and not yes:
            raise ConfigError(too_many_runs(spec, len(todo), local_lanes(executor, len(todo))[0]))
        if is_main():
            write_json(folder / run_folder.EXPERIMENT, {**spec_to_dict(spec),
                                                         "runs": [r.relative_dir.as_posix() for r in runs]})
        log.info("%s: %d runs, %d already finished", spec.name, len(runs), len(runs) - len(todo))
        execute_grid(spec, todo, datasets, folder, data_dir, progress, executor)
        if is_main():
            write_results(folder)
    return folder


def runs_to_do(spec: ExperimentSpec, runs: list[Run], folder: Path, force: bool) -> list[Run]:
    """The runs to train: unfinished ones, and (with ``force``) finished ones whose settings differ.

    Raises:
        ConfigError: for finished runs with other settings when ``force`` is off.
    """
    todo, stale = [], []
    for run in runs:
        run_dir = folder / run.relative_dir
        if not run_folder.is_finished(run_dir):
            todo.append(run)
            continue
        old = run_folder.read_config(run_dir).get("settings")
        changes = (["settings: not recorded (written by an older aecompare)"] if old is None
                   else run_folder.settings_diff(old, run_settings(spec, run)))
        if changes:
            stale.append((run, changes))
    if stale and not force:
        n_finished = sum(run_folder.is_finished(folder / r.relative_dir) for r in runs)
        raise ConfigError(data_changed_message(folder, stale) or stale_message(folder, n_finished, stale))
    return todo + [run for run, _ in stale]


DATA_KEY = "dataset.data."  # where run_settings keeps the data's fingerprint


def data_changed_message(folder: Path, stale: list[tuple[Run, list[str]]]) -> str:
    """One line naming the changed files (or the changed content) when only the data differs; "" otherwise."""
    changes = [c for _, run_changes in stale for c in run_changes]
    if not all(c.startswith(DATA_KEY) for c in changes):
        return ""
    files = sorted({c[len(DATA_KEY + "files."):].split(":")[0] for c in changes if c.startswith(DATA_KEY + "files.")})
    what = f"the file{'s' if len(files) > 1 else ''} {', '.join(files)}" if files else "the dataset's content"
    return (f"{folder}: {what} changed since {len(stale)} finished run{'s were' if len(stale) > 1 else ' was'} "
            "trained on it; rerun with --force to retrain on the data as it is now, or pass another --output")


def too_many_runs(spec: ExperimentSpec, n: int, lanes: int) -> str:
    """The refusal of a very large grid: how many runs, and a floor on how long they take."""
    epochs = max(spec.train_config(d).epochs for d in spec.datasets)
    floor_minutes = n * 0.02 * epochs / lanes / 60  # 20 ms an epoch: the quick comparison's smallest runs
    way = (f"no grid may have more than {MAX_RUNS:,}: use fewer" if n > MAX_RUNS else "Pass --yes to run them, "
           "or fewer")
    return (f"{spec.name}: {n:,} runs to train (up to {epochs} epochs each); even at the quick comparison's pace "
            f"that is at least {floor_minutes:,.0f} minutes on {lanes} worker(s), and far longer for image data. "
            f"{way} seeds, models or normal classes")


def count_runs(spec: ExperimentSpec, datasets: dict[str, Dataset]) -> int:
    """How many runs :func:`expand_runs` would make, without making them."""
    return len(spec.seeds) * len(spec.models) * sum(len(_normal_sets(d, datasets[d.key])) for d in spec.datasets)


def _normal_sets(d: DatasetSpec, data: Dataset) -> list[tuple[str, ...]]:
    return d.normal_sets(data.class_names, tuple(data.class_names[i] for i in np.unique(data.y_train)))


def stale_message(folder: Path, n_finished: int, stale: list[tuple[Run, list[str]]]) -> str:
    """What differs between the finished runs in ``folder`` and the settings asked for, and the ways on."""
    kinds = Counter("; ".join(changes) for _, changes in stale)
    example = {"; ".join(changes): run.relative_dir.as_posix() for run, changes in reversed(stale)}
    lines = [f"{folder}: {len(stale)} of {n_finished} finished runs were made with other settings than asked "
             "for now; what differs (stored → asked):"]
    lines += [f"  {what}  ({n} run{'s' if n > 1 else ''}, e.g. {example[what]})"
              for what, n in kinds.most_common(5)]
    if len(kinds) > 5:
        lines.append(f"  ... and {len(kinds) - 5} more kinds of difference")
    lines.append("Rerun with --force to retrain the differing runs (the others are kept), or pass another --output.")
    return "\n".join(lines)


def execute_grid(spec: ExperimentSpec, todo: list[Run], datasets: dict[str, Dataset], folder: Path,
                 data_dir: str | Path | None, progress: bool | None, executor: ExecutorOptions) -> None:
    """Train ``todo`` where ``executor`` says and write each run folder here, under the lock, as it arrives."""
    show = sys.stderr.isatty() if progress is None else progress
    groups = list(group_by_training(spec, todo).values())
    _DATASETS.update(datasets)  # in-process runs use the driver's copy
    if executor.kind == "ray":
        ray = require_ray()
        refs = {key: ray.put(data) for key, data in datasets.items()} if groups else {}  # no shared filesystem
        tasks = [(spec, group, refs[group[0].dataset.key], None) for group in groups]
    else:
        tasks = [(spec, group, group[0].dataset.key, data_dir) for group in groups]
    with tqdm(total=len(todo), desc=spec.name, unit="run", disable=not show) as bar:
        def write(_: int, files: list[tuple[str, dict[str, bytes]]]) -> None:
            for relative, contents in files:
                if is_main():
                    run_folder.write_files(folder, Path(relative), contents)
            bar.update(len(files))

        run_tasks(train_group, tasks, write, executor, init=partial(_load_datasets, spec, data_dir))


def group_by_training(spec: ExperimentSpec, runs: list[Run]) -> dict[str, list[Run]]:
    """Runs that train the same model on the same data with the same seed, differing only in their score,
    grouped so that one training serves them all."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        key = json.dumps([run.dataset.key, run.normal, run.seed, run.model.name, run.model.ensemble,
                          run.model.restarts, spec.model_overrides(run.model, run.dataset)], sort_keys=True,
                         default=str)
        groups.setdefault(key, []).append(run)
    return groups


_DATASETS: dict[str, Dataset] = {}  # this process's loaded datasets, by key


def _load_datasets(spec: ExperimentSpec, data_dir: str | Path | None) -> None:
    for d in spec.datasets:  # a worker process loads each dataset once, not once per run
        if d.key not in _DATASETS:
            _DATASETS[d.key] = load_dataset(d.name, data_dir, **d.params)


def train_group(spec: ExperimentSpec, runs: list[Run], dataset: Dataset | str,
                data_dir: str | Path | None) -> list[tuple[str, dict[str, bytes]]]:
    """A task: train once for ``runs`` (which differ only in their scorer) and return each run folder's files
    (relative folder, {name: bytes}).

    ``dataset`` is the data itself (sent by the driver) or its key in this process's cache.
    """
    if isinstance(dataset, str):
        _load_datasets(spec, data_dir)
        dataset = _DATASETS[dataset]
    first = runs[0]
    split = one_class_split(dataset, first.normal, val_fraction=spec.evaluation.val_fraction, seed=first.seed)
    settings = fit_settings(spec, first, split)
    seeds = [member_seed(first, i) for i in range(first.model.ensemble)] if first.model.ensemble > 1 else [first.seed]
    trainings = [train_model(split.x_train, split.x_val, settings, seed=seed, transform=dataset.transform,
                             feature_names=dataset.feature_names,
                             name=run_name(first) + (f" / member seed {seed}" if len(seeds) > 1 else ""))
                 for seed in seeds]
    x_test = torch.from_numpy(trainings[0].scaler.transform(split.x_test))  # members share the scaler
    extras = [run_extras(t, split, x_test, dataset.kind == "image") for t in trainings]
    files = []
    for run in runs:
        members = [evaluate_run(spec, run, split, t, x_test, e) for t, e in zip(trainings, extras)]
        record = members[0] if len(members) == 1 else evaluate_ensemble(spec, run, split, members, trainings)
        files.append((run.relative_dir.as_posix(), run_folder.run_files(record)))
    return files


def fit_settings(spec: ExperimentSpec, run: Run, split: OneClassSplit) -> FitSettings:
    """How ``run``'s detector is fitted, from its spec: the threshold percentile of normal validation scores as
    a contamination, the dataset's scaling."""
    return FitSettings(
        model=run.model.name, model_params=spec.model_overrides(run.model, run.dataset),
        train=spec.train_config(run.dataset), scorer=spec.scorer_of(run.model),
        contamination=1.0 - spec.evaluation.threshold_percentile / 100.0,
        validation_fraction=spec.evaluation.val_fraction, restarts=run.model.restarts,
        scaling=run.dataset.scaler_kind(split.x_train.ndim == 2), postprocess=spec.evaluation.postprocess,
        n_samples=spec.evaluation.n_samples)


def member_seed(run: Run, index: int) -> int:
    """The training seed of member ``index`` of a seed ensemble: distinct for every (seed, member) pair of the
    grid (seed 0's members train with seeds 0..N-1, seed 1's with N..2N-1, ...). Restarts train the same
    seeds (``fitting.train_restarts``), so a restart and an ensemble member of the same index and N train alike."""
    return run.seed * run.model.trainings + index


def expand_runs(spec: ExperimentSpec, datasets: dict[str, Dataset]) -> Iterator[Run]:
    """Every (dataset, normal classes, seed, model) of the grid, models innermost.

    Raises:
        ConfigError: when two normal-class choices of a dataset would share one folder (``"a b"``, ``"a_b"``).
    """
    for d in spec.datasets:
        data = datasets[d.key]
        normals = _normal_sets(d, data)
        check_distinct_names({repr(n): run_folder.normal_dir(n) for n in normals}, f"{d.key}: normal class choice")
        fingerprint = canonical_json(data.fingerprint())
        for normal in normals:
            for seed in spec.seeds:
                for model in spec.models:
                    yield Run(d, normal, model, seed, fingerprint)


def run_extras(trained: TrainedModel, split: OneClassSplit, x_test: torch.Tensor, images: bool) -> dict[str, Any]:
    """What a run keeps beside its scores: the normal test MSE before and after Heaviside post-processing
    (binary data: Patuzzo's Figs. 9-10), example reconstructions (images), the pixel AUROC (masks) and the
    training codes (dense codes; a feature-map code, e.g. 64x64x64 per image, is too big to keep)."""
    model, x_train = trained.model, trained.xt
    binary_sigmoid = (model.config.resolved_output_activation(split.input_shape) == "sigmoid"
                      and bool(torch.all((x_train == 0) | (x_train == 1))))
    normal_test = x_test[torch.from_numpy(split.y_test == 0)]
    normal_recon = reconstruct(model, normal_test)
    normal_test_mse = {"none": float((normal_recon - normal_test).pow(2).mean())}
    if binary_sigmoid:
        normal_test_mse["heaviside"] = float((heaviside(normal_recon) - normal_test).pow(2).mean())
    examples = None
    if images:
        idx = example_indices(split)
        extra = {"recon_heaviside": reconstruct(model, x_test[idx], postprocess="heaviside").numpy()
                 } if binary_sigmoid else {}
        examples = dict(index=idx, inputs=x_test[idx].numpy(),  # as the model saw them
                        recon=reconstruct(model, x_test[idx]).numpy(), group=split.group_test[idx].astype(str), **extra)
    return {"normal_test_mse": normal_test_mse, "examples": examples,
            "pixel_auroc": pixel_level_auroc(model, x_test, split.masks_test) if split.masks_test is not None else None,
            "codes": trained.codes()}


def run_name(run: Run) -> str:
    """How warnings name a run: dataset, model, normal classes and seed."""
    return f"{run.dataset.key} / {run.model.label} / normal {'+'.join(run.normal)} / seed {run.seed}"


def evaluate_run(spec: ExperimentSpec, run: Run, split: OneClassSplit, trained: TrainedModel, x_test: torch.Tensor,
                 extras: dict[str, Any]) -> RunRecord:
    """Finish ``trained`` as ``run``'s detector (its scorer, the threshold on normal validation scores), score the
    test data and gather its record (an ensemble member's record when ``trained`` is one)."""
    fitted = finish_detector(trained, fit_settings(spec, run, split),
                             synthetic_seed=run.seed if spec.evaluation.select == "synthetic" else None)
    detector, result = fitted.files, trained.result
    test_scores = score(trained.model, x_test, detector.scorer, **detector.score_options, reference=detector.reference)
    diverged = divergence(result, [fitted.val_scores, test_scores, fitted.train_scores], detector.threshold)
    if diverged and not result.diverged:
        log.warning("%s: diverged: %s; its metrics are left out of the report's means", run_name(run), diverged)
    settings = run_settings(spec, run)
    config = {  # the labels and sizes; everything that identifies the run is in its settings, once
        "format_version": run_folder.FORMAT_VERSION, "settings": settings,
        "settings_hash": run_folder.settings_hash(settings), "experiment": spec.name, "dataset": run.dataset.key,
        "model": run.model.label, "n_train": len(trained.xt), "n_val": len(trained.xv), "n_test": len(x_test),
        **({"train_seed": trained.train_seed} if trained.train_seed != run.seed else {}),
    }
    metrics = {
        "rows": _metric_rows(split, test_scores, detector.threshold, bool(diverged)), "scorer": detector.scorer,
        "diverged": diverged, "threshold": detector.threshold, "train_seconds": trained.train_seconds,
        **({"restarts": trained.restarts} if trained.restarts else {}), "best_epoch": result.best_epoch,
        "epochs_run": len(result.history), "stopped_early": result.stopped_early,
        "output_spread": result.output_spread, "collapsed": result.collapsed,
        "synthetic_auroc": fitted.synthetic_auroc,
        "normal_test_mse": extras["normal_test_mse"], "pixel_auroc": extras["pixel_auroc"]}
    scores = dict(test_scores=test_scores, y_test=split.y_test, group_test=split.group_test.astype(str),
                  val_scores=fitted.val_scores, threshold=detector.threshold,
                  **({"synthetic_scores": fitted.synthetic_scores} if fitted.synthetic_scores is not None else {}))
    return RunRecord(config, detector, scores, metrics, extras["examples"], extras["codes"])


def evaluate_ensemble(spec: ExperimentSpec, run: Run, split: OneClassSplit, members: list[RunRecord],
                      trainings: list[TrainedModel]) -> RunRecord:
    """A seed ensemble's record: its ``members`` each evaluated as a run of its own (kept in ``member-<i>/``), and
    the ensemble scoring by the mean of the members' scores, each standardised on its normal validation scores."""
    def mean_standardised(key: str) -> np.ndarray:
        return np.mean([standardise(m.scores[key], fit_standardisation({key: m.scores["val_scores"]})[key])
                        for m in members], axis=0)

    val, test = mean_standardised("val_scores"), mean_standardised("test_scores")
    threshold = normal_threshold(val, 1.0 - spec.evaluation.threshold_percentile / 100.0)
    fakes = mean_standardised("synthetic_scores") if all("synthetic_scores" in m.scores for m in members) else None
    diverged = next((f"member {i} (seed {t.train_seed}): {m.metrics['diverged']}" for i, (m, t)
                     in enumerate(zip(members, trainings)) if m.metrics["diverged"]), "")
    settings = run_settings(spec, run)
    config = {**members[0].config, "settings": settings, "settings_hash": run_folder.settings_hash(settings),
              "ensemble": len(members)}
    config.pop("train_seed", None)
    metrics = {
        "rows": _metric_rows(split, test, threshold, bool(diverged)), "scorer": spec.scorer_of(run.model),
        "diverged": diverged, "threshold": threshold, "ensemble": len(members),
        "train_seconds": sum(m.metrics["train_seconds"] for m in members), "best_epoch": None,
        "epochs_run": float(np.mean([m.metrics["epochs_run"] for m in members])),
        "stopped_early": all(m.metrics["stopped_early"] for m in members),
        "output_spread": min(m.metrics["output_spread"] for m in members),
        "collapsed": any(m.metrics["collapsed"] for m in members),
        "synthetic_auroc": separation(val, fakes) if fakes is not None else None,
        "normal_test_mse": {}, "pixel_auroc": None}
    scores = dict(test_scores=test, y_test=split.y_test, group_test=split.group_test.astype(str), val_scores=val,
                  threshold=threshold, **({"synthetic_scores": fakes} if fakes is not None else {}))
    return RunRecord(config, None, scores, metrics, members=members)


def _metric_rows(split: OneClassSplit, scores: np.ndarray, threshold: float, diverged: bool) -> list[dict]:
    """Per-group metrics; a diverged run's are NaN (scores that are not numbers rank nothing)."""
    if not diverged:
        return metrics_by_group(split.y_test, scores, split.group_test, threshold)
    rows = metrics_by_group(split.y_test, np.zeros(len(scores)), split.group_test, 0.0)  # the groups and counts
    return [{**r, **{k: float("nan") for k in ("auroc", "auprc", "precision", "recall", "f1", "tp", "fp", "tn",
                                                "fn")}} for r in rows]


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


def collect_results(folder: Path) -> list[dict[str, Any]]:
    """The long-form result rows (one per run and group) of the experiment's finished runs."""
    rows = []
    for run_dir, config, metrics in run_folder.finished_runs(folder):
        settings = run_folder.read_settings(run_dir)
        for r in metrics["rows"]:
            rows.append({
                "experiment": config["experiment"], "dataset": config["dataset"], "model": config["model"],
                "normal": "+".join(settings["dataset"]["normal"]), "seed": settings["seed"],
                "threshold": metrics["threshold"],
                "train_seconds": metrics["train_seconds"], "best_epoch": metrics["best_epoch"],
                "epochs_run": metrics["epochs_run"], "collapsed": metrics.get("collapsed"),
                "diverged": bool(metrics.get("diverged")), "synthetic_auroc": metrics.get("synthetic_auroc"),
                "settings_hash": config.get("settings_hash", ""), **r,
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
