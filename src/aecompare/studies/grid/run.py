"""Run an experiment's grid: models x normal-class choices x seeds, one run folder per finished run.

The steps have a module each: :mod:`.plan` (the runs, their settings, what is left to train), :mod:`.train`
(groups of runs on an executor), :mod:`.evaluate` (test scores and metrics of a trained run) and
:mod:`.results` (results.csv). One process writes an experiment folder at a time.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import nullcontext
from pathlib import Path

from aecompare.core.io import OutputLock, write_json
from aecompare.data import Dataset, load_dataset
from aecompare.errors import ConfigError
from aecompare.models import model_config
from aecompare.models.backbones import check_pretrained_available
from aecompare.runs import folder as run_folder
from aecompare.runs.executors import ExecutorOptions, local_lanes
from aecompare.studies.grid.plan import (
    MAX_RUNS,
    MAX_RUNS_UNASKED,
    Run,
    count_runs,
    expand_runs,
    runs_to_do,
    too_many_runs,
)
from aecompare.studies.grid.results import write_results
from aecompare.studies.grid.spec import ExperimentSpec, spec_to_dict
from aecompare.studies.grid.train import execute_grid
from aecompare.train.distributed import is_main, world

log = logging.getLogger(__name__)


def run_experiment(
    spec: ExperimentSpec,
    output: str | Path,
    *,
    data_dir: str | Path | None = None,
    progress: bool | None = None,
    workers: int | None = None,
    force: bool = False,
    yes: bool = False,
    executor: ExecutorOptions | None = None,
) -> Path:
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
        runs, todo = _plan(spec, datasets, folder, force, yes, executor)
        if is_main():
            write_json(
                folder / run_folder.EXPERIMENT,
                {**spec_to_dict(spec), "runs": [r.relative_dir.as_posix() for r in runs]},
            )
        log.info("%s: %d runs, %d already finished", spec.name, len(runs), len(runs) - len(todo))
        execute_grid(spec, todo, datasets, folder, data_dir, progress, executor)
        if is_main():
            write_results(folder)
    return folder


def _plan(
    spec: ExperimentSpec,
    datasets: dict[str, Dataset],
    folder: Path,
    force: bool,
    yes: bool,
    executor: ExecutorOptions,
) -> tuple[list[Run], list[Run]]:
    """Every run of the grid and those still to train, after refusing a grid too large to expand (counted
    first) or too large to train without ``yes``."""
    n_runs = count_runs(spec, datasets)
    if n_runs > MAX_RUNS:
        raise ConfigError(too_many_runs(spec, n_runs, local_lanes(executor, n_runs)[0]))
    runs = list(expand_runs(spec, datasets))
    todo = runs_to_do(spec, runs, folder, force)
    if len(todo) > MAX_RUNS_UNASKED and not yes:
        raise ConfigError(too_many_runs(spec, len(todo), local_lanes(executor, len(todo))[0]))
    return runs, todo
