"""Pieces of report tables shared by the studies: mean ± std cells and the registry's notes on models."""

from __future__ import annotations

import numpy as np

from aecompare.models.registry import GENERIC_VAE_NOTES, MODELS
from aecompare.report.document import Block


def mean_std(values: list[float]) -> tuple[float, float]:
    """The mean and (population) standard deviation; NaN for the spread of one value (there is none)."""
    return float(np.mean(values)), float(np.std(values)) if len(values) > 1 else float("nan")


def fmt(mean: float, std: float, bold: bool = False, digits: int = 3) -> str:
    """``mean ± std`` (just the value when there is one seed), in Markdown bold when ``bold``."""
    text = f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"**{text}**" if bold else text


def model_notes(registry_names: list[str]) -> list[Block]:
    """The choices made where a paper is ambiguous, once for all models that share them; reports put them after
    the results. Experiments of the generic models only get their notes under a title that names no paper."""
    notes = list(dict.fromkeys(n for name in registry_names if name in MODELS for n in MODELS[name].notes))
    if not notes:
        return []
    from_papers = any(n not in GENERIC_VAE_NOTES for n in notes)
    title = "Choices where the paper is ambiguous" if from_papers else "Notes on the models"
    return [Block("h2", title), Block("list", rows=[[n] for n in notes])]


def is_best(mean: float, best: float | None, digits: int = 3) -> bool:
    """Whether ``mean`` ties the best at the printed precision (every such entry is bold, not just one)."""
    return best is not None and f"{mean:.{digits}f}" == f"{best:.{digits}f}"


BELOW_CHANCE = "below 0.5"  # an AUROC that ranks anomalies as more normal than the normal data


def flags(mean: float, collapsed: int = 0, runs: int = 0, auroc: bool = True) -> str:
    """What a reader must know beside a number: an AUROC below chance, runs collapsed to one reconstruction."""
    marks = [BELOW_CHANCE] if auroc and mean < 0.5 else []
    if collapsed:
        marks.append(f"{collapsed} of {runs} collapsed")
    return f" ({'; '.join(marks)})" if marks else ""
