"""Experiment specs: YAML files naming datasets, models, training, seeds and evaluation, validated on load.

A spec is a grid: every model x every normal-class choice of every dataset x every seed is one run.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aecompare.core.io import check_distinct_names, safe_name
from aecompare.core.validation import from_dict
from aecompare.data.preprocessing import SCALINGS
from aecompare.data.sources import check_source_params
from aecompare.errors import ConfigError, unknown_name
from aecompare.fitting import MAX_TRAININGS
from aecompare.models.registry import MODELS, model_config
from aecompare.scoring import MAX_SAMPLES, POSTPROCESSES, score_components
from aecompare.studies.specfile import check_keys, read_spec
from aecompare.train import TrainConfig

SELECTIONS = ("none", "synthetic")
MAX_ENSEMBLE = MAX_TRAININGS  # trainings per run, for ensemble and restarts alike
MAX_SEEDS = 1000  # seeds of one experiment
MAX_SEED = 2**31 // MAX_ENSEMBLE  # restarts train seed * N + i, which must stay a valid torch seed


@dataclass(frozen=True)
class EvaluationConfig:
    """How runs are scored and thresholded; everything here uses normal data only."""

    scorer: str = "mse"  # one of scoring.SCORERS, or several joined by "+"
    threshold_percentile: float = 95.0  # of normal validation scores
    val_fraction: float = 0.2  # of normal training data, held out for early stopping and the threshold
    postprocess: str = "none"  # or "heaviside": step the sigmoid outputs' logits before scoring (binary images)
    n_samples: int = 100  # posterior draws of the reconstruction probability (An & Cho's L)
    # "synthetic": also score synthetic anomalies made from normal validation data, so the report can
    # recommend a model and score without anomaly labels; "none" skips that
    select: str = "none"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the comparison: a registry name, a label for tables, config overrides, and the scorer
    (None: the experiment's). Models that differ only in their scorer share one training per run."""

    name: str
    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    scorer: str | None = None
    ensemble: int = 1  # N > 1: each run trains N seeds and scores by the mean of their standardised scores
    restarts: int = 1  # N > 1: each run trains N seeds and keeps the one with the lowest validation loss

    @property
    def trainings(self) -> int:
        """Trainings per run: the ensemble's members or the restarts (at most one of them is above 1)."""
        return self.ensemble * self.restarts


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the comparison and the normal-class choices to run on it."""

    name: str
    label: str = ""  # names the dataset in folders and tables; the source's name when empty
    normal: Any = "each"  # "each": every class normal in turn; or a list, one entry (class or list) per run
    params: dict[str, Any] = field(default_factory=dict)  # the source's parameters
    model: dict[str, Any] = field(default_factory=dict)  # model overrides for this dataset
    train: dict[str, Any] = field(default_factory=dict)  # training overrides for this dataset
    scaling: str = "auto"  # auto: standard for tables, none for images; or a Scaler kind

    @property
    def key(self) -> str:
        """The dataset's name in run folders, result tables and reports."""
        return self.label or self.name

    def scaler_kind(self, is_table: bool) -> str:
        """The :class:`~aecompare.data.Scaler` kind for this dataset's runs."""
        if self.scaling != "auto":
            return self.scaling
        return "standard" if is_table else "none"

    def normal_sets(self, class_names: tuple[str, ...], train_classes: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        """The normal-class tuples to run, one per run. A class is its name, or its index when no class
        has that name (``normal: 5`` is CIFAR-10's ``dog``); ``normal: train`` is one run with every class
        the training partition holds (an image folder's ``train/`` classes: ``good``, ``ok_front``).

        Raises:
            ConfigError: for a class the dataset does not have (the valid ones are listed).
        """
        if self.normal == "each":
            return [(c,) for c in class_names]
        if self.normal == "train" and "train" not in class_names:
            return [tuple(train_classes)]
        entries = self.normal if isinstance(self.normal, list) else [self.normal]
        return [
            tuple(_class_name(c, class_names, self.name) for c in (e if isinstance(e, list) else [e])) for e in entries
        ]


def _class_name(entry: Any, class_names: tuple[str, ...], dataset: str) -> str:
    if str(entry) in class_names:
        return str(entry)
    if isinstance(entry, int) and not isinstance(entry, bool) and 0 <= entry < len(class_names):
        return class_names[entry]
    raise ConfigError(
        f"dataset {dataset!r}: unknown normal class {entry!r}; classes are: "
        f"{', '.join(class_names)} (or their indices 0-{len(class_names) - 1})"
    )


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment."""

    name: str
    description: str
    seeds: tuple[int, ...]
    models: tuple[ModelSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    model: dict[str, Any] = field(default_factory=dict)  # model overrides for every run
    train: dict[str, Any] = field(default_factory=dict)
    evaluation: EvaluationConfig = EvaluationConfig()
    published: dict[str, Any] = field(default_factory=dict)  # paper numbers to show beside ours

    def train_config(self, dataset: DatasetSpec) -> TrainConfig:
        """The training settings for runs on ``dataset``."""
        return from_dict(TrainConfig, {**self.train, **dataset.train}, f"{self.name}: train")

    def scorer_of(self, model: ModelSpec) -> str:
        """The scorer of ``model``'s runs: its own, else the experiment's."""
        return model.scorer or self.evaluation.scorer

    def model_overrides(self, model: ModelSpec, dataset: DatasetSpec) -> dict[str, Any]:
        """Model config overrides for ``model`` on ``dataset``: shared, then dataset, then model's own."""
        return {**self.model, **dataset.model, **model.overrides}


# "normal", when given, replaces every dataset's normal-class choice (``--set normal=7``).
TOP_KEYS = (
    "name",
    "description",
    "seeds",
    "models",
    "model",
    "train",
    "evaluation",
    "datasets",
    "normal",
    "published",
    "study",
)


def load_spec(name_or_path: str | Path, overrides: list[str] | None = None, seeds: int | None = None) -> ExperimentSpec:
    """Load a shipped experiment by name or a user's YAML file, apply ``key=value`` overrides, validate.

    Args:
        name_or_path: ``"quick"`` or a path to a YAML file.
        overrides: ``["train.epochs=5", "seeds=2"]``; values are parsed as YAML.
        seeds: if given, run seeds ``0 .. seeds-1``.

    Raises:
        ConfigError: unknown experiment, malformed YAML, unknown key or bad value (says where).
    """
    raw, where = read_spec(name_or_path, TOP_KEYS, overrides)
    _let_top_level_overrides_win(raw, overrides or [])
    if seeds is not None:
        raw["seeds"] = seeds
    return parse_spec(raw, where)


def _let_top_level_overrides_win(raw: dict[str, Any], overrides: list[str]) -> None:
    """``--set train.epochs=2`` means every run: drop the same key from each dataset's own section."""
    for item in overrides:
        parts = item.partition("=")[0].split(".")
        if len(parts) == 2 and parts[0] in ("train", "model") and isinstance(raw.get("datasets"), list):
            for dataset in raw["datasets"]:
                if isinstance(dataset, dict) and isinstance(dataset.get(parts[0]), dict):
                    dataset[parts[0]].pop(parts[1], None)


def parse_spec(raw: dict[str, Any], where: str) -> ExperimentSpec:
    """Validate a spec's plain values and build the :class:`ExperimentSpec`."""
    check_keys(raw, TOP_KEYS, where)
    name = raw.get("name") or Path(where).stem
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"{where}: name must be letters, digits, '-' or '_', got {name!r}")
    seeds = _parse_seeds(raw.get("seeds", 1), where)
    for section in ("model", "train", "published"):
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"{where}: {section} must be a mapping")
    models = tuple(_parse_model(m, f"{where}: models[{i}]") for i, m in enumerate(_as_list(raw, "models", where)))
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{where}: model labels must be unique, got {labels}; give each a 'label'")
    check_distinct_names({m: safe_name(m, f"{where}: model label") for m in labels}, "model label")
    dataset_entries = _as_list(raw, "datasets", where)
    if "normal" in raw:
        dataset_entries = [
            {**(d if isinstance(d, dict) else {"name": d}), "normal": raw["normal"]} for d in dataset_entries
        ]
    datasets = tuple(_parse_dataset(d, f"{where}: datasets[{i}]") for i, d in enumerate(dataset_entries))
    keys = [d.key for d in datasets]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{where}: datasets must have distinct names, got {keys}; give each a 'label'")
    check_distinct_names({k: safe_name(k, f"{where}: dataset label") for k in keys}, "dataset label")
    evaluation = _parse_evaluation(raw.get("evaluation"), models, where)
    spec = ExperimentSpec(
        name=name,
        description=str(raw.get("description", "")),
        seeds=seeds,
        models=models,
        datasets=datasets,
        model=dict(raw.get("model", {})),
        train=dict(raw.get("train", {})),
        evaluation=evaluation,
        published=dict(raw.get("published", {})),
    )
    _check_published(spec.published, labels, where)
    for d in spec.datasets:  # check every combination now, not an hour into the run
        from_dict(TrainConfig, {**spec.train, **d.train}, f"{where}: train")
        for m in spec.models:
            model_config(m.name, **spec.model_overrides(m, d))
    return spec


def _parse_seeds(value: Any, where: str) -> tuple[int, ...]:
    """A spec's seeds: a count N (seeds 0..N-1) or a list; the count is bounded before anything is built."""
    if isinstance(value, bool) or not isinstance(value, (int, list)):
        raise ConfigError(f"{where}: seeds must be a count or a list of integers, got {value!r}")
    count = value if isinstance(value, int) else len(value)
    if not 1 <= count <= MAX_SEEDS:  # before range(): a count of 10**9 would fill the memory
        raise ConfigError(f"{where}: seeds must be 1 to {MAX_SEEDS} seeds, got {count:,}")
    seeds = tuple(range(value)) if isinstance(value, int) else tuple(value)
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < MAX_SEED for s in seeds):
        raise ConfigError(f"{where}: seeds must be a count or a list of integers from 0 to {MAX_SEED - 1}")
    return seeds


def _parse_evaluation(raw: Any, models: tuple[ModelSpec, ...], where: str) -> EvaluationConfig:
    """The evaluation section, with every scorer the experiment names checked."""
    evaluation = from_dict(EvaluationConfig, _renamed_score(raw, f"{where}: evaluation"), f"{where}: evaluation")
    for method in {evaluation.scorer, *(m.scorer for m in models if m.scorer)}:
        score_components(method)
    if not 1 <= evaluation.n_samples <= MAX_SAMPLES:
        raise ConfigError(f"{where}: evaluation.n_samples must be 1 to {MAX_SAMPLES}, got {evaluation.n_samples}")
    if evaluation.select not in SELECTIONS:
        raise unknown_name("evaluation.select", evaluation.select, SELECTIONS)
    if evaluation.postprocess not in POSTPROCESSES:
        raise unknown_name("postprocess", evaluation.postprocess, POSTPROCESSES)
    return evaluation


PUBLISHED_METRICS = ("auroc", "auprc", "precision", "recall", "f1")  # {model label: {anomaly group: value}}
PUBLISHED_KEYS = ("source", "dataset", "normal", *PUBLISHED_METRICS, "train_seconds")


def _check_published(published: dict[str, Any], labels: list[str], where: str) -> None:
    """Paper numbers: ``auroc``/``auprc`` as {model label: {anomaly group: value}}, ``train_seconds`` as
    {model label: seconds}, for the ``dataset`` with class ``normal`` normal."""
    for key, value in published.items():
        if key not in PUBLISHED_KEYS:
            raise ConfigError(f"{where}: published: unknown key {key!r}; valid keys are: {', '.join(PUBLISHED_KEYS)}")
        if key in (*PUBLISHED_METRICS, "train_seconds"):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: published.{key} must map model labels to values")
            # a spec that extends another may run a subset of its models, but not none of them (a typo)
            if value and not set(value) & set(labels):
                raise ConfigError(
                    f"{where}: published.{key}: none of {', '.join(map(repr, value))} is a model "
                    f"label; labels are: {', '.join(labels)}"
                )
            for label, cells in value.items():
                numbers = cells.values() if isinstance(cells, dict) else [cells]
                if (
                    key != "train_seconds"
                    and not isinstance(cells, dict)
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)
                ):
                    raise ConfigError(
                        f"{where}: published.{key}.{label} must be "
                        + ("a number" if key == "train_seconds" else "{group: number}")
                    )
    if any(k in published for k in PUBLISHED_METRICS) and not {"dataset", "normal"} <= set(published):
        raise ConfigError(f"{where}: published needs 'dataset' and 'normal' (the setting the numbers are for)")


def _as_list(raw: dict[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty list")
    return value


def _parse_model(entry: Any, where: str) -> ModelSpec:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{where}: a model is a registry name or a mapping with a 'name'")
    name = entry["name"]
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    entry = _renamed_score(entry, where)
    overrides = {k: v for k, v in entry.items() if k not in ("name", "label", "scorer", "ensemble", "restarts")}
    scorer = entry.get("scorer")
    if scorer is not None and not isinstance(scorer, str):
        raise ConfigError(f"{where}: scorer must be a scorer's name, got {scorer!r}")
    ensemble, restarts = (_trainings(entry, key, where) for key in ("ensemble", "restarts"))
    if ensemble > 1 and restarts > 1:
        raise ConfigError(
            f"{where}: a model has either ensemble (the mean of N trainings) or restarts (the best of "
            f"N by validation loss), not both"
        )
    return ModelSpec(
        name=name,
        label=str(entry.get("label", name)),
        overrides=overrides,
        scorer=scorer,
        ensemble=ensemble,
        restarts=restarts,
    )


def _renamed_score(entry: Any, where: str) -> Any:
    """``entry`` with the key ``score`` (aecompare 0.2's name) as ``scorer``, and a warning saying so."""
    if not isinstance(entry, dict) or "score" not in entry:
        return entry
    if "scorer" in entry:
        raise ConfigError(f"{where}: give scorer only (score is its old name)")
    warnings.warn(
        f"{where}: 'score' is now 'scorer'; the old name stops working in the next major version",
        FutureWarning,
        stacklevel=2,
    )
    return {("scorer" if k == "score" else k): v for k, v in entry.items()}


def _trainings(entry: dict[str, Any], key: str, where: str) -> int:
    value = entry.get(key, 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ENSEMBLE:
        raise ConfigError(f"{where}: {key} must be a number of seeds from 1 to {MAX_ENSEMBLE}, got {value!r}")
    return value


def _parse_dataset(entry: Any, where: str) -> DatasetSpec:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: a dataset is a name or a mapping with a 'name'")
    valid = [f.name for f in dataclasses.fields(DatasetSpec)]
    unknown = [k for k in entry if k not in valid]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(valid)}")
    name = entry.get("name")
    params = entry.get("params", {}) or {}
    check_source_params(name, params, f"{where}: ")
    normal = entry.get("normal", "each")
    if not (normal == "each" or isinstance(normal, (str, int, list))):
        raise ConfigError(f"{where}: normal must be 'each', a class, or a list of classes / class lists")
    for section in ("model", "train"):
        if not isinstance(entry.get(section, {}), dict):
            raise ConfigError(f"{where}: {section} must be a mapping")
    scaling = entry.get("scaling", "auto")
    if scaling != "auto" and scaling not in SCALINGS:
        raise unknown_name("scaling", scaling, ("auto", *SCALINGS))
    label = entry.get("label", "")
    if not isinstance(label, str):
        raise ConfigError(f"{where}: label must be a string, got {label!r}")
    return DatasetSpec(
        name=name,
        label=label,
        normal=normal,
        params=dict(params),
        model=dict(entry.get("model", {})),
        train=dict(entry.get("train", {})),
        scaling=scaling,
    )


def spec_to_dict(spec: ExperimentSpec) -> dict[str, Any]:
    """A spec as plain values (for the run folder's record of what ran)."""
    d = dataclasses.asdict(spec)
    d["seeds"] = list(spec.seeds)
    d["models"] = [
        {
            "name": m.name,
            "label": m.label,
            **m.overrides,
            **({"scorer": m.scorer} if m.scorer else {}),
            **({"ensemble": m.ensemble} if m.ensemble > 1 else {}),
            **({"restarts": m.restarts} if m.restarts > 1 else {}),
        }
        for m in spec.models
    ]
    return d
