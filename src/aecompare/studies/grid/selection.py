"""Choosing a model and score without anomaly labels, and measuring how good that choice was.

Each run of an experiment with ``evaluation.select: synthetic`` knows its ``synthetic_auroc``: normal validation
samples against synthetic anomalies made from them (:func:`aecompare.data.defects.synthetic_anomalies`). The
candidate with the highest mean over seeds is the recommendation for a dataset and normal-class choice. Where
the test set has real anomalies, the recommendation's rank among the candidates by their real test AUROC says
how well the label-free choice did, so the method's own quality is measured, not assumed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aecompare.metrics import POOLED
from aecompare.studies.grid.results import RunSummary

RECOMMENDATION_COLUMNS = (
    "dataset",
    "normal",
    "recommended",
    "synthetic_auroc",
    "synthetic_std",
    "runner_up",
    "lead",
    "auroc",
    "rank",
    "candidates",
    "best",
    "best_auroc",
)


def recommendations(
    rows: list[RunSummary], models: list[str], metric: str = "auroc", group: str = POOLED
) -> list[dict[str, Any]]:
    """One recommendation per dataset and normal-class choice, from result rows (results.csv's).

    Args:
        rows: the experiment's result rows (:func:`~aecompare.studies.grid.results.collect_results`, or
            :func:`~aecompare.studies.grid.results.read_results` of a results.csv).
        models: the candidates' labels in the spec's order (ties go to the earlier one).
        metric, group: what ranks the candidates on the real anomalies (the ``auroc`` of all anomalies pooled
            by default; e.g. ``auprc`` of one anomaly group); the output's ``auroc`` columns hold it.

    Returns:
        Rows of :data:`RECOMMENDATION_COLUMNS`: the recommended model label, its mean synthetic AUROC and that
        AUROC's std over seeds (None with one seed), the runner-up by synthetic AUROC and the recommendation's
        lead over it (None with one candidate), its real AUROC, its rank by real AUROC among the candidates
        (1 = best), their number, and the best candidate. A lead within the seeds' spread is no evidence for the
        choice; the report says so. A run that diverged or has no synthetic AUROC is no candidate; a choice with
        none is left out.
    """
    out = []
    pooled = [r for r in rows if r.group == POOLED and not r.diverged]
    scored = [r for r in rows if r.group == group and not r.diverged]
    for dataset in dict.fromkeys(r.dataset for r in pooled):
        for normal in dict.fromkeys(r.normal for r in pooled if r.dataset == dataset):
            mine = [r for r in pooled if r.dataset == dataset and r.normal == normal]
            synthetic = _means(mine, "synthetic_auroc", models)
            if not synthetic:
                continue
            real = {
                m: v
                for m, v in _means(
                    [r for r in scored if r.dataset == dataset and r.normal == normal], metric, models
                ).items()
                if m in synthetic
            }
            order = sorted(synthetic, key=lambda m: (-synthetic[m], models.index(m)))  # best first
            chosen, runner_up = order[0], (order[1] if len(order) > 1 else None)
            spread = [_number(r.synthetic_auroc) for r in mine if r.model == chosen]
            best = max(real, key=lambda m: (real[m], -models.index(m))) if real else chosen
            rank = 1 + sum(v > real[chosen] for v in real.values()) if chosen in real else None
            out.append(
                {
                    "dataset": dataset,
                    "normal": normal,
                    "recommended": chosen,
                    "synthetic_auroc": synthetic[chosen],
                    "synthetic_std": float(np.std(spread, ddof=1)) if len(spread) > 1 else None,
                    "runner_up": runner_up,
                    "lead": None if runner_up is None else synthetic[chosen] - synthetic[runner_up],
                    "auroc": real.get(chosen),
                    "rank": rank,
                    "candidates": len(synthetic),
                    "best": best,
                    "best_auroc": real.get(best),
                }
            )
    return out


def weak_lead(recommendation: dict[str, Any]) -> bool:
    """Whether a recommendation's lead over the runner-up is smaller than its synthetic AUROC's std over seeds:
    the synthetic anomalies then do not tell the two apart (False with one seed or one candidate)."""
    lead, std = recommendation["lead"], recommendation["synthetic_std"]
    return lead is not None and std is not None and lead < std


def _means(rows: list[RunSummary], column: str, models: list[str]) -> dict[str, float]:
    """Mean of ``column`` over seeds per model, for the models with a finite value in every seed."""
    means = {}
    for model in models:
        values = [_number(getattr(r, column)) for r in rows if r.model == model]
        if values and all(v is not None for v in values):
            means[model] = float(np.mean(values))
    return means


def _number(value: Any) -> float | None:
    """A finite float, else None (no synthetic AUROC, or a diverged run's NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
