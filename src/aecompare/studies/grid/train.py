"""Training the grid: groups of runs sent to an executor (the local pool or Ray), each group trained once and
returned as run-folder files, which the driver writes as they arrive."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch
from tqdm.auto import tqdm

from aecompare.data import Dataset, OneClassSplit, load_dataset, one_class_split
from aecompare.fitting import TrainedModel, train_on_splits
from aecompare.runs import folder as run_folder
from aecompare.runs.executors import ExecutorOptions, require_ray, run_tasks
from aecompare.studies.grid.evaluate import evaluate_ensemble, evaluate_run, run_extras
from aecompare.studies.grid.plan import Run, batch_seeds, fit_settings, group_by_training, member_seed, run_name
from aecompare.studies.grid.spec import ExperimentSpec
from aecompare.train.distributed import is_main


def execute_grid(
    spec: ExperimentSpec,
    todo: list[Run],
    datasets: dict[str, Dataset],
    folder: Path,
    data_dir: str | Path | None,
    progress: bool | None,
    executor: ExecutorOptions,
) -> None:
    """Train ``todo`` where ``executor`` says and write each run folder here, under the lock, as it arrives."""
    show = sys.stderr.isatty() if progress is None else progress
    groups = batch_seeds(spec, list(group_by_training(spec, todo).values()), datasets)
    _DATASETS.update(datasets)  # in-process runs use the driver's copy
    if executor.kind == "ray":
        ray = require_ray()
        refs = {key: ray.put(data) for key, data in datasets.items()} if groups else {}  # no shared filesystem
        tasks = [(spec, batch, refs[batch[0][0].dataset.key], None) for batch in groups]
    else:
        tasks = [(spec, batch, batch[0][0].dataset.key, data_dir) for batch in groups]
    with tqdm(total=len(todo), desc=spec.name, unit="run", disable=not show) as bar:

        def write(_: int, files: list[tuple[str, dict[str, bytes]]]) -> None:
            for relative, contents in files:
                if is_main():
                    run_folder.write_files(folder, Path(relative), contents)
            bar.update(len(files))

        run_tasks(train_group, tasks, write, executor, init=partial(_load_datasets, spec, data_dir))


_DATASETS: dict[str, Dataset] = {}  # this process's loaded datasets, by key


def _load_datasets(spec: ExperimentSpec, data_dir: str | Path | None) -> None:
    for d in spec.datasets:  # a worker process loads each dataset once, not once per run
        if d.key not in _DATASETS:
            _DATASETS[d.key] = load_dataset(d.name, data_dir, **d.params)


def train_group(
    spec: ExperimentSpec, groups: list[list[Run]], dataset: Dataset | str, data_dir: str | Path | None
) -> list[tuple[str, dict[str, bytes]]]:
    """A task: train once for each group of ``groups`` (a group's runs differ only in their scorer; the groups
    only in their seed) and return each run folder's files (relative folder, {name: bytes}). Every seed's
    trainings (an ensemble's members, restarts) run as one program, each seed on its own split.

    ``dataset`` is the data itself (sent by the driver) or its key in this process's cache.
    """
    if isinstance(dataset, str):
        _load_datasets(spec, data_dir)
        dataset = _DATASETS[dataset]
    with _failures_summarised():
        return _train_and_evaluate(spec, groups, dataset)


@contextmanager
def _failures_summarised() -> Iterator[None]:
    """Training's per-run warnings (collapsed, diverged) and notes held back: the grid says how many runs failed
    once, at the end (a line on the terminal, the report's 'Runs that failed'), instead of a line per run."""
    logger = logging.getLogger("aecompare.train")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _train_and_evaluate(
    spec: ExperimentSpec, groups: list[list[Run]], dataset: Dataset
) -> list[tuple[str, dict[str, bytes]]]:
    firsts = [runs[0] for runs in groups]
    splits = [
        one_class_split(dataset, run.normal, val_fraction=spec.evaluation.val_fraction, seed=run.seed) for run in firsts
    ]
    settings = fit_settings(spec, firsts[0], splits[0])
    # an ensemble's members train seeds seed * N + i; one model (restarts too: fitting derives theirs) the run's
    seeds = [
        [member_seed(run, i) for i in range(run.model.ensemble)] if run.model.ensemble > 1 else [run.seed]
        for run in firsts
    ]
    trainings = train_on_splits(
        [(split.x_train, split.x_val) for split in splits],
        settings,
        seeds=seeds,
        transform=dataset.transform,
        feature_names=dataset.feature_names,
        names=[
            [run_name(run) + (f" / member seed {s}" if len(group) > 1 else "") for s in group]
            for run, group in zip(firsts, seeds)
        ],
    )
    files = []
    for runs, split, members in zip(groups, splits, trainings):
        files += _evaluate_group(spec, runs, split, members, dataset)
    return files


def _evaluate_group(
    spec: ExperimentSpec, runs: list[Run], split: OneClassSplit, trainings: list[TrainedModel], dataset: Dataset
) -> list[tuple[str, dict[str, bytes]]]:
    """Every run of one seed's group scored from its trainings: its run folder's files."""
    x_test = torch.from_numpy(trainings[0].scaler.transform(split.x_test))  # members share the scaler
    extras = [run_extras(t, split, x_test, dataset.kind == "image") for t in trainings]
    files = []
    for run in runs:
        members = [evaluate_run(spec, run, split, t, x_test, e) for t, e in zip(trainings, extras)]
        record = members[0] if len(members) == 1 else evaluate_ensemble(spec, run, split, members, trainings)
        files.append((run.relative_dir.as_posix(), run_folder.run_files(record)))
    return files
