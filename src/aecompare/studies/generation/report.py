"""The generation study's report blocks: what was trained on what, and the sample, reconstruction and
interpolation figures (Fiorino, Sec. 2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from aecompare.core.io import read_json
from aecompare.report.document import FIGURES, Block
from aecompare.report.tables import model_notes
from aecompare.runs.folder import EXPERIMENT
from aecompare.studies.generation.run import read_summary
from aecompare.version import __version__


def report_blocks(folder: Path) -> list[Block]:
    """A generation run's report: what was trained on what, and the sample, reconstruction and interpolation
    figures (Fiorino, Sec. 2)."""
    spec, summary = read_json(folder / EXPERIMENT), read_summary(folder)
    train = spec["train"]
    blocks = [
        Block("h1", f"aecompare report: {spec['name']}"),
        Block("p", spec.get("description", "")),
        Block(
            "p",
            f"{summary['model']} trained on {summary['n_train']} images of {spec['images']} "
            f"({summary['image_size']}x{summary['image_size']}, centre-cropped; {summary['n_val']} held "
            f"out for validation; {summary['unreadable']} unreadable files left out): "
            f"{summary['epochs_run']} epochs of at most {train['epochs']} (batch {train['batch_size']}, "
            f"{train['optimizer']} lr {train['lr']:g}), best validation loss "
            f"{summary['best_val_loss']:.4g} at epoch {summary['best_epoch']}, "
            f"{summary['train_seconds']:.1f} s. Written by aecompare {__version__} on "
            f"{dt.date.today().isoformat()}.",
        ),
    ]
    if summary.get("diverged"):
        blocks.append(
            Block(
                "p",
                f"Warning: training diverged ({summary['diverged']}) and was stopped; the samples "
                "below come from the best epoch before that and mean little. Lower the learning "
                "rate.",
            )
        )
    if summary.get("collapsed"):
        blocks.append(
            Block(
                "p",
                "Warning: the model gives nearly one reconstruction for every image (it learned "
                "the mean); train longer or lower the reconstruction weight's rival, the KL.",
            )
        )
    blocks += model_notes([m["name"] for m in spec.get("models", [])])
    for name, caption in (
        ("samples", "Samples: the decoder's means for codes drawn from the prior N(0, I)"),
        ("reconstructions", "Held-out images (top) and their reconstructions (bottom)"),
        ("interpolation", "The decoder along the straight line between two held-out images' posterior means"),
        ("training", "Training curves (dotted: training loss; solid: validation loss)"),
    ):
        path = folder / FIGURES / f"{name}.png"
        if path.exists():
            blocks.append(Block("figure", caption, path=path.relative_to(folder)))
    return blocks
