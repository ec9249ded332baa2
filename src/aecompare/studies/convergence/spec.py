"""The convergence study's spec (``study: convergence``): the variants, seeds, training and the lines check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aecompare.core.io import check_distinct_names, safe_name
from aecompare.core.validation import check_int, from_dict
from aecompare.data.sources import check_source_params
from aecompare.errors import ConfigError
from aecompare.models.registry import MODELS, model_config
from aecompare.studies.specfile import read_spec

LINES_FOLDER = "lines-check"
KEYS = ("name", "study", "description", "seeds", "train", "dataset", "variants", "lines", "published")


@dataclass(frozen=True)
class StudyTrain:
    """Full-batch Adam on the training set, the same for every variant and seed."""

    epochs: int = 3000
    lr: float = 0.01


@dataclass(frozen=True)
class LinesCheck:
    """A2's posterior spread on the lines set, to set beside the 2x2 set's (batched too, minibatches)."""

    model: str = "patuzzo-a2"
    seeds: int = 10
    epochs: int = 100
    batch_size: int = 32
    lr: float = 0.001
    white: str = "below"  # the lines set as the paper draws it: one image per slope


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConvergenceSpec:
    name: str
    description: str
    seeds: int
    train: StudyTrain
    dataset: dict[str, Any]
    variants: tuple[Variant, ...]
    lines: LinesCheck | None
    published: dict[str, Any]


def load_convergence_spec(
    name_or_path: str | Path, overrides: list[str] | None = None, seeds: int | None = None
) -> ConvergenceSpec:
    """Load and validate a convergence study; ``overrides`` as for :func:`~aecompare.studies.grid.spec.load_spec`."""
    raw, where = read_spec(name_or_path, KEYS, overrides)
    if seeds is not None:
        raw["seeds"] = seeds
    n_seeds = check_int(raw.get("seeds", 1000), f"{where}: seeds")
    train = from_dict(StudyTrain, raw.get("train"), f"{where}: train")
    check_int(train.epochs, f"{where}: train.epochs")
    if not train.lr > 0:
        raise ConfigError(f"{where}: train.lr must be positive, got {train.lr}")
    variants = []
    for i, entry in enumerate(raw.get("variants") or []):
        if not isinstance(entry, dict) or entry.get("name") not in MODELS:
            raise ConfigError(f"{where}: variants[{i}] needs a 'name' from the model registry, e.g. patuzzo-a1")
        overrides_i = {k: v for k, v in entry.items() if k not in ("name", "label")}
        model_config(entry["name"], **overrides_i)  # unknown settings fail now, with the valid ones listed
        variants.append(Variant(entry["name"], str(entry.get("label", entry["name"])), overrides_i))
    check_distinct_names({v.label: safe_name(v.label, f"{where}: variant label") for v in variants}, "variant label")
    if not variants:
        raise ConfigError(f"{where}: variants must list at least one model")
    dataset = dict(raw.get("dataset") or {"name": "squares"})
    check_source_params(dataset.get("name"), {k: v for k, v in dataset.items() if k != "name"}, f"{where}: ")
    lines = raw.get("lines")
    return ConvergenceSpec(
        name=str(raw.get("name") or Path(where).stem),
        description=str(raw.get("description", "")),
        seeds=n_seeds,
        train=train,
        dataset=dataset,
        variants=tuple(variants),
        lines=from_dict(LinesCheck, lines, f"{where}: lines") if lines else None,
        published=dict(raw.get("published") or {}),
    )
