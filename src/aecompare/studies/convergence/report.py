"""The convergence study's report blocks: outcome frequencies with 95% intervals beside the paper's, the
causes found in the initial weights, the analytic probabilities, and A2's spread on the 2x2 set and on lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.core.io import read_json
from aecompare.errors import DataNotFoundError
from aecompare.report.document import Block
from aecompare.report.tables import model_notes
from aecompare.runs.folder import EXPERIMENT
from aecompare.studies.convergence.batched import CAUSES, LEVELS, OTHER, wilson_interval
from aecompare.studies.convergence.run import read_study
from aecompare.studies.convergence.spec import LINES_FOLDER
from aecompare.version import __version__


def report_blocks(folder: Path) -> list[Block]:
    """The convergence study's report: outcome frequencies with 95% intervals beside the paper's, the causes
    found in the initial weights, the analytic probabilities, and A2's spread on the 2x2 set and on lines."""
    spec = read_json(folder / EXPERIMENT)
    study = read_study(folder)
    if not study:
        raise DataNotFoundError(f"no finished variant in {folder}; run the study first")
    published = spec.get("published") or {}
    blocks = [
        Block("h1", f"aecompare report: {spec['name']}"),
        Block("p", spec.get("description", "")),
        Block(
            "p",
            f"{spec['seeds']} seeds per variant, trained at once as one batched program (full-batch "
            f"Adam, lr {spec['train']['lr']:g}, {spec['train']['epochs']} epochs). A run's outcome is "
            "its final mean squared error per pixel (z = the code mean) when within 1/128 of a level, "
            "else 'other'. Intervals are 95% Wilson intervals. Written by aecompare "
            f"{__version__} on {dt.date.today().isoformat()}.",
        ),
    ]
    blocks += model_notes([m["name"] for m in spec.get("models", [])])
    variants = {k: v for k, v in study.items() if k != LINES_FOLDER}
    blocks += _outcome_blocks(variants, published)
    blocks += _analytic_blocks(variants, published.get("analytic", {}))
    blocks += _spread_blocks(study, published.get("a2_std", {}))
    return blocks


def _outcome_blocks(variants: dict[str, tuple[dict, dict]], published: dict[str, Any]) -> list[Block]:
    """Outcome frequencies with 95% intervals beside the paper's, and each variant's causes by outcome."""
    observed = published.get("observed", {})
    levels = [*LEVELS, OTHER]
    table = Block(
        "table",
        header=[
            "final loss",
            *[v[0]["label"] for v in variants.values()],
            f"paper ({published.get('source', 'observed')})",
        ],
    )
    for level in levels:
        row = [level]
        for _, arrays in variants.values():
            k, n = int((arrays["outcome"] == level).sum()), len(arrays["outcome"])
            lo, hi = wilson_interval(k, n)
            row.append(f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]")
        row.append(str(observed.get(level, "–")))
        table.rows.append(row)
    seconds = ", ".join(f"{v[0]['label']} {v[0]['train_seconds']:.1f} s" for v in variants.values())
    blocks = [Block("h2", "Outcomes"), table, Block("p", f"Training time for all seeds at once: {seconds}.")]
    for summary, arrays in variants.values():
        causes = [c for c in CAUSES if (arrays["cause"] == c).any()]
        cross = Block("table", header=["cause at initialisation", "runs", *levels])
        for cause in causes:
            mine = arrays["outcome"][arrays["cause"] == cause]
            cross.rows.append([cause, str(len(mine)), *[str(int((mine == lv).sum())) for lv in levels]])
        blocks += [Block("h3", f"{summary['label']}: final loss by the cause found in the initial weights"), cross]
        if "code_std" in arrays:
            blocks.append(
                Block(
                    "p",
                    f"{summary['label']}: with z sampled, the reconstruction MSE is "
                    f"{np.median(arrays['sampled_mse']):.4f} (median over seeds) against "
                    f"{np.median(arrays['final_mse']):.4f} with z = the mean.",
                )
            )
    return blocks


def _analytic_blocks(variants: dict[str, tuple[dict, dict]], analytic: dict[str, float]) -> list[Block]:
    """How often the paper's conditions hold in the initial weights, beside its probabilities."""
    blocks: list[Block] = []
    if analytic and variants:
        first_summary, first = next(iter(variants.values()))
        measured = {
            "two inputs killed in L1": first["killed_pair"],
            "L2 and L3 weights of opposite signs": first["opposite_signs"],
        }
        table = Block("table", header=["condition at initialisation", "paper's value", "measured", "95% interval"])
        for name, value in analytic.items():
            hits = measured.get(name)
            if hits is None:
                continue
            lo, hi = wilson_interval(int(hits.sum()), len(hits))
            table.rows.append([name, f"{value:.3f}", f"{hits.mean():.3f}", f"[{lo:.3f}, {hi:.3f}]"])
        blocks += [
            Block("h2", f"The paper's probabilities ({first_summary['label']})"),
            Block(
                "p",
                "How often each condition holds in the initial weights. 'Two inputs killed in L1': "
                "at least two inputs whose L1 activations are all zero (the paper's 1 - (15/16)^6, "
                "which treats the six pairs as independent). 'Opposite signs': both L2 weights of "
                "one sign and both L3 weights of the other (the paper's 1/8).",
            ),
            table,
        ]
    return blocks


def _spread_blocks(study: dict[str, tuple[dict, dict]], paper_std: dict[str, Any]) -> list[Block]:
    """A2's posterior spread on the 2x2 set against the lines set."""
    blocks: list[Block] = []
    spreads = [(name, v[0]["label"], v[1]["code_std"]) for name, v in study.items() if "code_std" in v[1]]
    if spreads:
        table = Block(
            "table",
            header=[
                "model and data",
                "seeds",
                "posterior std: median over seeds",
                "smallest seed's",
                "seeds with std < 0.1",
                "paper",
            ],
        )
        for name, label, std in spreads:
            paper = paper_std.get("lines" if name == LINES_FOLDER else "squares", "–")
            table.rows.append(
                [
                    label,
                    str(len(std)),
                    f"{np.median(std):.4f}",
                    f"{np.min(std):.4f}",
                    f"{int((std < 0.1).sum())}",
                    str(paper),
                ]
            )
        blocks += [
            Block("h2", "A2's posterior spread: the 2x2 set against the lines set"),
            Block(
                "p",
                "Each seed's median posterior standard deviation over its training images. A seed "
                "near 1 has collapsed to the prior (all-gray outputs).",
            ),
            table,
        ]
    return blocks
