"""The grid's plan: which runs an experiment has, what identifies each (its settings), which are still to
train, and how runs that differ only in their scorer share one training.

A run is identified by its resolved settings and its data's fingerprint. Resume skips a finished run only when
its stored settings equal the ones asked for now; otherwise it stops before training and names what differs
(``--force`` retrains the differing runs).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.core.io import canonical_json, check_distinct_names
from aecompare.core.runtime import resolve_device
from aecompare.core.validation import to_dict
from aecompare.data import Dataset, OneClassSplit
from aecompare.data.sources import source_params
from aecompare.errors import ConfigError
from aecompare.fitting import (
    FitSettings,
)
from aecompare.models import config_to_dict, model_config
from aecompare.runs import folder as run_folder
from aecompare.studies.grid.spec import DatasetSpec, ExperimentSpec, ModelSpec
from aecompare.train.loop import GPU_SWITCHES


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
    return json.loads(
        json.dumps(
            {
                "model": {"name": run.model.name, **config_to_dict(model_config(run.model.name, **overrides))},
                "train": train,
                "evaluation": to_dict(dataclasses.replace(spec.evaluation, scorer=spec.scorer_of(run.model))),
                "dataset": {
                    "name": run.dataset.name,
                    "params": source_params(run.dataset.name, run.dataset.params),
                    "scaling": run.dataset.scaling,
                    "normal": list(run.normal),
                    "data": json.loads(run.data),
                },
                "seed": run.seed,
                "aecompare_major": run_folder.major_version(),
                **({"ensemble": run.model.ensemble} if run.model.ensemble > 1 else {}),
                **({"restarts": run.model.restarts} if run.model.restarts > 1 else {}),
            },
            default=str,
        )
    )


MAX_RUNS_UNASKED = 2000  # a grid larger than this needs --yes


MAX_RUNS = 100_000  # no grid is larger, --yes or not: counted before a single run is made


def too_many_runs(spec: ExperimentSpec, n: int, lanes: int) -> str:
    """The refusal of a very large grid: how many runs, and a floor on how long they take."""
    epochs = max(spec.train_config(d).epochs for d in spec.datasets)
    floor_minutes = n * 0.02 * epochs / lanes / 60  # 20 ms an epoch: the quick comparison's smallest runs
    way = f"no grid may have more than {MAX_RUNS:,}: use fewer" if n > MAX_RUNS else "Pass --yes to run them, or fewer"
    return (
        f"{spec.name}: {n:,} runs to train (up to {epochs} epochs each); even at the quick comparison's pace "
        f"that is at least {floor_minutes:,.0f} minutes on {lanes} worker(s), and far longer for image data. "
        f"{way} seeds, models or normal classes"
    )


def count_runs(spec: ExperimentSpec, datasets: dict[str, Dataset]) -> int:
    """How many runs :func:`expand_runs` would make, without making them."""
    return len(spec.seeds) * len(spec.models) * sum(len(_normal_sets(d, datasets[d.key])) for d in spec.datasets)


def _normal_sets(d: DatasetSpec, data: Dataset) -> list[tuple[str, ...]]:
    return d.normal_sets(data.class_names, tuple(data.class_names[i] for i in np.unique(data.y_train)))


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
        changes = (
            ["settings: not recorded (written by an older aecompare)"]
            if old is None
            else run_folder.settings_diff(old, run_settings(spec, run))
        )
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
    files = sorted({c[len(DATA_KEY + "files.") :].split(":")[0] for c in changes if c.startswith(DATA_KEY + "files.")})
    what = f"the file{'s' if len(files) > 1 else ''} {', '.join(files)}" if files else "the dataset's content"
    return (
        f"{folder}: {what} changed since {len(stale)} finished run{'s were' if len(stale) > 1 else ' was'} "
        "trained on it; rerun with --force to retrain on the data as it is now, or pass another --output"
    )


def stale_message(folder: Path, n_finished: int, stale: list[tuple[Run, list[str]]]) -> str:
    """What differs between the finished runs in ``folder`` and the settings asked for, and the ways on."""
    kinds = Counter("; ".join(changes) for _, changes in stale)
    example = {"; ".join(changes): run.relative_dir.as_posix() for run, changes in reversed(stale)}
    lines = [
        f"{folder}: {len(stale)} of {n_finished} finished runs were made with other settings than asked "
        "for now; what differs (stored → asked):"
    ]
    lines += [f"  {what}  ({n} run{'s' if n > 1 else ''}, e.g. {example[what]})" for what, n in kinds.most_common(5)]
    if len(kinds) > 5:
        lines.append(f"  ... and {len(kinds) - 5} more kinds of difference")
    lines.append("Rerun with --force to retrain the differing runs (the others are kept), or pass another --output.")
    return "\n".join(lines)


def _training_key(spec: ExperimentSpec, run: Run, *, seed: bool = True) -> str:
    """What a run's training depends on (with or without its seed), as one string."""
    return json.dumps(
        [
            run.dataset.key,
            run.normal,
            run.seed if seed else None,
            run.model.name,
            run.model.ensemble,
            run.model.restarts,
            spec.model_overrides(run.model, run.dataset),
        ],
        sort_keys=True,
        default=str,
    )


def group_by_training(spec: ExperimentSpec, runs: list[Run]) -> dict[str, list[Run]]:
    """Runs that train the same model on the same data with the same seed, differing only in their score,
    grouped so that one training serves them all."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(_training_key(spec, run), []).append(run)
    return groups


def batch_seeds(spec: ExperimentSpec, groups: list[list[Run]], datasets: dict[str, Dataset]) -> list[list[list[Run]]]:
    """The training groups (:func:`group_by_training`) that differ only in their seed, batched where stacking
    pays (:func:`seeds_stack`): one task trains all of them as one program (``fitting.train_on_splits``), each
    seed on its own split. Other groups stay a task each, so the workers share them out."""
    batches: dict[str, list[list[Run]]] = {}
    for i, group in enumerate(groups):
        together = seeds_stack(spec, group[0], datasets[group[0].dataset.key])
        batches.setdefault(_training_key(spec, group[0], seed=False) if together else str(i), []).append(group)
    return list(batches.values())


def seeds_stack(spec: ExperimentSpec, run: Run, dataset: Dataset) -> bool:
    """Whether ``run``'s cell gains from training its seeds as one program: a dense model, or any model on a GPU,
    without training-time regularisers (as ``train.members.worth_stacking`` decides for the trainings themselves)."""
    config = model_config(run.model.name, **spec.model_overrides(run.model, run.dataset))
    if config.regularised:
        return False
    dense = config.resolved_backbone(tuple(dataset.x_train.shape[1:])) == "mlp"
    return dense or resolve_device(spec.train_config(run.dataset).device).type == "cuda"


def member_seed(run: Run, index: int) -> int:
    """The training seed of member ``index`` of a seed ensemble: distinct for every (seed, member) pair of the
    grid (seed 0's members train with seeds 0..N-1, seed 1's with N..2N-1, ...). Restarts train the same
    seeds (``fitting.train_models``), so a restart and an ensemble member of the same index and N train alike."""
    return run.seed * run.model.trainings + index


def run_name(run: Run) -> str:
    """How warnings name a run: dataset, model, normal classes and seed."""
    return f"{run.dataset.key} / {run.model.label} / normal {'+'.join(run.normal)} / seed {run.seed}"


def fit_settings(spec: ExperimentSpec, run: Run, split: OneClassSplit) -> FitSettings:
    """How ``run``'s detector is fitted, from its spec: the threshold percentile of normal validation scores as
    a contamination, the dataset's scaling."""
    return FitSettings(
        model=run.model.name,
        model_params=spec.model_overrides(run.model, run.dataset),
        train=spec.train_config(run.dataset),
        scorer=spec.scorer_of(run.model),
        contamination=1.0 - spec.evaluation.threshold_percentile / 100.0,
        validation_fraction=spec.evaluation.val_fraction,
        restarts=run.model.restarts,
        scaling=run.dataset.scaler_kind(split.x_train.ndim == 2),
        postprocess=spec.evaluation.postprocess,
        n_samples=spec.evaluation.n_samples,
    )
