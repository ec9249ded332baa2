"""Pieces of report tables shared by the studies: mean ± std cells and the registry's notes on models."""

from __future__ import annotations

import numpy as np

from aecompare.models.registry import MODELS
from aecompare.report.document import Block


def mean_std(values: list[float]) -> tuple[float, float]:
    """The mean and (population) standard deviation; NaN for the spread of one value (there is none)."""
    return float(np.mean(values)), float(np.std(values)) if len(values) > 1 else float("nan")


def fmt(mean: float, std: float, bold: bool = False, digits: int = 3) -> str:
    """``mean ± std`` (just the value when there is one seed), in Markdown bold when ``bold``."""
    text = f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"**{text}**" if bold else text


def model_notes(registry_names: list[str]) -> list[Block]:
    """The choices made where a paper is ambiguous, once for all models that share them."""
    notes = list(dict.fromkeys(n for name in registry_names if name in MODELS for n in MODELS[name].notes))
    if not notes:
        return []
    return [Block("h2", "Choices where the paper is ambiguous"), Block("list", rows=[[n] for n in notes])]
