"""The convergence study as an experiment (``study: convergence`` in a spec): many seeds of a small MLP
autoencoder trained at once on the 2x2 set, each run classified by its final loss and diagnosed from its
initial weights. One folder per variant, written atomically; a finished variant is not trained again.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aecompare.config import from_dict
from aecompare.convergence import (
    build_seeds,
    classify_outcomes,
    diagnose_initial,
    killed_pair,
    opposite_signs,
    train_batched,
)
from aecompare.data.sources import check_source_params, load_dataset
from aecompare.errors import ConfigError
from aecompare.experiments.runner import safe_name
from aecompare.experiments.spec import apply_overrides, read_spec_mapping
from aecompare.models.registry import MODELS, model_config
from aecompare.utils import read_json, write_json

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


def load_convergence_spec(name_or_path: str | Path, overrides: list[str] | None = None,
                          seeds: int | None = None) -> ConvergenceSpec:
    """Load and validate a convergence study; ``overrides`` as for :func:`~aecompare.experiments.load_spec`."""
    raw, where = read_spec_mapping(name_or_path, KEYS)
    raw = apply_overrides(raw, overrides or [])
    if seeds is not None:
        raw["seeds"] = seeds
    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(KEYS)}")
    n_seeds = raw.get("seeds", 1000)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ConfigError(f"{where}: seeds must be a positive count, got {n_seeds!r}")
    train = from_dict(StudyTrain, raw.get("train"), f"{where}: train")
    if train.epochs < 1 or not train.lr > 0:
        raise ConfigError(f"{where}: train needs epochs >= 1 and lr > 0")
    variants = []
    for i, entry in enumerate(raw.get("variants") or []):
        if not isinstance(entry, dict) or entry.get("name") not in MODELS:
            raise ConfigError(f"{where}: variants[{i}] needs a 'name' from the model registry, e.g. patuzzo-a1")
        overrides_i = {k: v for k, v in entry.items() if k not in ("name", "label")}
        model_config(entry["name"], **overrides_i)  # unknown settings fail now, with the valid ones listed
        variants.append(Variant(entry["name"], str(entry.get("label", entry["name"])), overrides_i))
    if not variants:
        raise ConfigError(f"{where}: variants must list at least one model")
    dataset = dict(raw.get("dataset") or {"name": "squares"})
    check_source_params(dataset.get("name"), {k: v for k, v in dataset.items() if k != "name"}, f"{where}: ")
    lines = raw.get("lines")
    return ConvergenceSpec(
        name=str(raw.get("name") or Path(where).stem), description=str(raw.get("description", "")), seeds=n_seeds,
        train=train, dataset=dataset, variants=tuple(variants),
        lines=from_dict(LinesCheck, lines, f"{where}: lines") if lines else None,
        published=dict(raw.get("published") or {}))


def slug(label: str) -> str:
    """A folder name for a label: ``A1 5-2-5`` -> ``A1_5-2-5``."""
    return safe_name(label)


def run_convergence(spec: ConvergenceSpec, output: str | Path, data_dir: str | Path | None = None) -> Path:
    """Train every unfinished variant of ``spec`` and write ``<output>/<name>/<variant>/outcomes.npz``."""
    folder = Path(output) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "experiment.json", {"name": spec.name, "study": "convergence", "description": spec.description,
                                            "seeds": spec.seeds, "train": vars(spec.train),
                                            "dataset": spec.dataset, "published": spec.published,
                                            "models": [{"name": v.name, "label": v.label, **v.overrides}
                                                       for v in spec.variants],
                                            "lines": vars(spec.lines) if spec.lines else None})
    params = {k: v for k, v in spec.dataset.items() if k != "name"}
    data = load_dataset(spec.dataset.get("name", "squares"), data_dir, **params)
    x = torch.from_numpy(data.x_train)
    for variant in spec.variants:
        _write_variant(folder / slug(variant.label), variant.label, lambda v=variant: _train_variant(spec, v, x))
    if spec.lines is not None:
        check = spec.lines
        _write_variant(folder / LINES_FOLDER, f"{check.model} on lines", lambda: _train_lines(check, data_dir))
    return folder


def _write_variant(target: Path, label: str, train: Any) -> None:
    if (target / "summary.json").exists():
        return
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    arrays, summary = train()
    partial.mkdir(parents=True)
    np.savez_compressed(partial / "outcomes.npz", **arrays)
    write_json(partial / "summary.json", {"label": label, **summary})  # written last: marks it finished
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)


def _train_variant(spec: ConvergenceSpec, variant: Variant, x: torch.Tensor) -> tuple[dict, dict]:
    start = time.perf_counter()
    net = build_seeds(variant.name, tuple(x.shape[1:]), list(range(spec.seeds)), **variant.overrides)
    causes = diagnose_initial(net, x)
    conditions = {"killed_pair": killed_pair(net, x), "opposite_signs": opposite_signs(net)}
    result = train_batched(net, x, epochs=spec.train.epochs, lr=spec.train.lr)
    arrays = {"final_mse": result.final_mse, "outcome": classify_outcomes(result.final_mse), "cause": causes,
              **conditions,
              "loss_history": result.history[:: max(1, spec.train.epochs // 100)].T}  # (S, ~100) for curves
    if result.sampled_mse is not None:
        arrays["sampled_mse"] = result.sampled_mse
        arrays["code_std"] = result.code_std
    return arrays, {"name": variant.name, "overrides": variant.overrides, "seeds": spec.seeds,
                    "epochs": spec.train.epochs, "lr": spec.train.lr, "train_seconds": result.seconds,
                    "total_seconds": time.perf_counter() - start}


def _train_lines(check: LinesCheck, data_dir: str | Path | None) -> tuple[dict, dict]:
    data = load_dataset("lines", data_dir, white=check.white)
    x = torch.from_numpy(data.x_train)
    net = build_seeds(check.model, tuple(x.shape[1:]), list(range(check.seeds)))
    result = train_batched(net, x, epochs=check.epochs, lr=check.lr, batch_size=check.batch_size)
    if result.code_std is None:
        raise ConfigError(f"lines.model must be variational to measure its spread, got {check.model!r}")
    return ({"final_mse": result.final_mse, "code_std": result.code_std},
            {"name": check.model, "seeds": check.seeds, "epochs": check.epochs, "lr": check.lr,
             "batch_size": check.batch_size, "train_seconds": result.seconds})


def read_study(folder: Path) -> dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """``{folder name: (summary, arrays)}`` of every finished variant (and the lines check), in spec order."""
    spec = read_json(folder / "experiment.json")
    order = [slug(m["label"]) for m in spec.get("models", [])] + [LINES_FOLDER]
    found = {}
    for name in order:
        if (folder / name / "summary.json").exists():
            with np.load(folder / name / "outcomes.npz", allow_pickle=False) as f:
                found[name] = (read_json(folder / name / "summary.json"), {k: f[k] for k in f.files})
    return found
