"""The grid's verdicts: each dataset's models compared on the pooled AUROC of the same normal-class choice
and seed (:mod:`aecompare.report.verdict` does the statistics), and the whole experiment's over every dataset."""

from __future__ import annotations

import math

from aecompare.metrics import POOLED
from aecompare.report.verdict import Verdict, compare
from aecompare.studies.grid.results import RunSummary

ALL_DATASETS = "all datasets"


def grid_verdicts(rows: list[RunSummary], model_order: list[str], metric: str = "auroc") -> dict[str, Verdict]:
    """``{dataset: verdict}`` for every dataset with two or more models that share a block, then (with two or
    more such datasets sharing their models) ``{ALL_DATASETS: verdict}`` over every dataset's blocks. Diverged
    runs count as missing: their block is left out (and counted); a model with no run left is not compared
    (the report's 'Runs that failed' says why)."""
    pooled = [r for r in rows if r.group == POOLED]
    verdicts: dict[str, Verdict] = {}
    for dataset in dict.fromkeys(r.dataset for r in pooled):
        verdict = _compare(_values([r for r in pooled if r.dataset == dataset], model_order, metric))
        if verdict is not None:
            verdicts[dataset] = verdict
    shared = {tuple(sorted(v.models)) for v in verdicts.values()}
    if len(verdicts) >= 2 and len(shared) == 1:
        models = set(next(iter(shared)))
        overall = _values([r for r in pooled if r.dataset in verdicts and r.model in models], model_order, metric)
        verdict = _compare(overall)
        if verdict is not None:
            verdicts[ALL_DATASETS] = verdict
    return verdicts


def _compare(values: dict[str, dict[tuple, float]]) -> Verdict | None:
    """The verdict of the models with at least one finite value, or None when fewer than two share a block."""
    values = {m: v for m, v in values.items() if any(math.isfinite(x) for x in v.values())}
    if len(values) < 2:
        return None
    try:
        return compare(values)
    except ValueError:  # no block that every model has (e.g. each model ran other normal classes)
        return None


def _values(rows: list[RunSummary], model_order: list[str], metric: str) -> dict[str, dict[tuple, float]]:
    """``{model: {(dataset, normal, seed): value}}`` in the spec's model order; a diverged run is NaN."""
    present = {r.model for r in rows}
    models = [m for m in model_order if m in present] + sorted(present - set(model_order))
    values: dict[str, dict[tuple, float]] = {m: {} for m in models}
    for r in rows:
        values[r.model][(r.dataset, r.normal, r.seed)] = float("nan") if r.diverged else r.value(metric)
    return values
