"""The convergence study as an experiment (``study: convergence`` in a spec): many seeds of a small MLP
autoencoder trained at once on the 2x2 set, each run classified by its final loss and diagnosed from its
initial weights. One folder per variant, written atomically; a finished variant is not trained again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aecompare.core.io import (
    OutputLock,
    arrays_bytes,
    atomic_write_bytes,
    inside,
    read_arrays,
    read_json,
    replace_folder,
    safe_name,
    write_json,
)
from aecompare.data.sources import load_dataset
from aecompare.errors import ConfigError
from aecompare.runs.folder import EXPERIMENT, PARTIAL, clean_partials, settings_diff
from aecompare.studies.convergence.batched import (
    build_seeds,
    classify_outcomes,
    diagnose_initial,
    killed_pair,
    opposite_signs,
    train_batched,
)
from aecompare.studies.convergence.spec import LINES_FOLDER, ConvergenceSpec, LinesCheck, Variant

OUTCOMES, SUMMARY = "outcomes.npz", "summary.json"


def slug(label: str) -> str:
    """A folder name for a variant's label: ``A1 5-2-5`` -> ``A1_5-2-5``."""
    return safe_name(label, "variant label")


def run_convergence(
    spec: ConvergenceSpec, output: str | Path, data_dir: str | Path | None = None, force: bool = False
) -> Path:
    """Train every variant of ``spec`` not already finished with the same settings, and write
    ``<output>/<name>/<variant>/outcomes.npz``; ``force`` retrains variants finished with other settings."""
    folder = Path(output) / spec.name
    with OutputLock(folder):
        clean_partials(folder)
        write_json(
            folder / EXPERIMENT,
            {
                "name": spec.name,
                "study": "convergence",
                "description": spec.description,
                "seeds": spec.seeds,
                "train": vars(spec.train),
                "dataset": spec.dataset,
                "published": spec.published,
                "models": [{"name": v.name, "label": v.label, **v.overrides} for v in spec.variants],
                "lines": vars(spec.lines) if spec.lines else None,
            },
        )
        params = {k: v for k, v in spec.dataset.items() if k != "name"}
        data = load_dataset(spec.dataset.get("name", "squares"), data_dir, **params)
        x = torch.from_numpy(data.x_train)
        for variant in spec.variants:
            settings = {
                "name": variant.name,
                "overrides": variant.overrides,
                "seeds": spec.seeds,
                "train": vars(spec.train),
                "dataset": spec.dataset,
            }
            _write_variant(
                folder,
                slug(variant.label),
                variant.label,
                settings,
                force,
                lambda v=variant: _train_variant(spec, v, x),
            )
        if spec.lines is not None:
            check = spec.lines
            _write_variant(
                folder,
                LINES_FOLDER,
                f"{check.model} on lines",
                {"lines": vars(check)},
                force,
                lambda: _train_lines(check, data_dir),
            )
    return folder


def _write_variant(folder: Path, name: str, label: str, settings: dict[str, Any], force: bool, train: Any) -> None:
    """Train and write one variant unless it is finished with the same ``settings``."""
    target = inside(folder, folder / name)
    if (target / SUMMARY).exists():
        changes = settings_diff(read_json(target / SUMMARY).get("settings"), settings)
        if not changes:
            return
        if not force:
            raise ConfigError(
                f"{target} was made with other settings than asked for now (stored → asked): "
                f"{'; '.join(changes)}. Rerun with --force to retrain it, or pass another --output."
            )
    arrays, summary = train()
    partial = target.with_name(f".{target.name}{PARTIAL}0")
    partial.mkdir(parents=True)
    atomic_write_bytes(partial / OUTCOMES, arrays_bytes(arrays, compressed=True))
    write_json(partial / SUMMARY, {"label": label, "settings": settings, **summary})  # last: marks it finished
    replace_folder(partial, target)


def _train_variant(spec: ConvergenceSpec, variant: Variant, x: torch.Tensor) -> tuple[dict, dict]:
    start = time.perf_counter()
    net = build_seeds(variant.name, tuple(x.shape[1:]), list(range(spec.seeds)), **variant.overrides)
    causes = diagnose_initial(net, x)
    conditions = {"killed_pair": killed_pair(net, x), "opposite_signs": opposite_signs(net)}
    result = train_batched(net, x, epochs=spec.train.epochs, lr=spec.train.lr)
    arrays = {
        "final_mse": result.final_mse,
        "outcome": classify_outcomes(result.final_mse),
        "cause": causes,
        **conditions,
        "loss_history": result.history[:: max(1, spec.train.epochs // 100)].T,
    }  # (S, ~100) for curves
    if result.sampled_mse is not None:
        arrays["sampled_mse"] = result.sampled_mse
        arrays["code_std"] = result.code_std
    return arrays, {
        "name": variant.name,
        "overrides": variant.overrides,
        "seeds": spec.seeds,
        "epochs": spec.train.epochs,
        "lr": spec.train.lr,
        "train_seconds": result.seconds,
        "total_seconds": time.perf_counter() - start,
    }


def _train_lines(check: LinesCheck, data_dir: str | Path | None) -> tuple[dict, dict]:
    data = load_dataset("lines", data_dir, white=check.white)
    x = torch.from_numpy(data.x_train)
    net = build_seeds(check.model, tuple(x.shape[1:]), list(range(check.seeds)))
    result = train_batched(net, x, epochs=check.epochs, lr=check.lr, batch_size=check.batch_size)
    if result.code_std is None:
        raise ConfigError(f"lines.model must be variational to measure its spread, got {check.model!r}")
    return (
        {"final_mse": result.final_mse, "code_std": result.code_std},
        {
            "name": check.model,
            "seeds": check.seeds,
            "epochs": check.epochs,
            "lr": check.lr,
            "batch_size": check.batch_size,
            "train_seconds": result.seconds,
        },
    )


def read_study(folder: Path) -> dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """``{folder name: (summary, arrays)}`` of every finished variant (and the lines check), in spec order."""
    spec = read_json(folder / EXPERIMENT)
    order = [slug(m["label"]) for m in spec.get("models", [])] + [LINES_FOLDER]
    found = {}
    for name in order:
        if (folder / name / SUMMARY).exists():
            found[name] = (read_json(folder / name / SUMMARY), read_arrays(folder / name / OUTCOMES))
    return found
