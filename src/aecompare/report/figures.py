"""Report figures (matplotlib, Agg backend): ROC curves, score histograms, reconstruction grids, training curves.

Each function takes data read from run folders and returns a closed figure saved to a PNG path.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from aecompare.core.io import atomic_write_bytes  # noqa: E402
from aecompare.inspection import bottleneck_sweep, decoder_linears, output_logit, sweep_range  # noqa: E402
from aecompare.metrics import roc_points  # noqa: E402
from aecompare.models import Autoencoder  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _literal(text: object) -> str:
    """A name from the data or a user, shown as written: ``$`` would start matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def _save(fig: plt.Figure, path: Path, **options: Any) -> Path:
    """Write ``fig`` as a PNG atomically: a link planted at ``path`` is replaced, never written through."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, **({"bbox_inches": "tight"} | options))
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _grid(n: int, max_cols: int = 5) -> tuple[int, int]:
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols


def write_roc_curves(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path) -> Path:
    """One panel per normal-class choice, one curve per model.

    Args:
        panels: ``{normal: {model: (labels, scores)}}``.
        path: where to write the PNG.
    """
    rows, cols = _grid(len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False, sharex=True, sharey=True)
    for ax, (normal, models) in zip(axes.flat, panels.items()):
        for i, (model, (labels, scores)) in enumerate(models.items()):
            fpr, tpr = roc_points(labels, scores)
            ax.plot(fpr, tpr, color=COLORS[i % len(COLORS)], label=_literal(model), lw=1.3)
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
        ax.set_title(f"normal: {_literal(normal)}", fontsize=9)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("false-positive rate")
    for ax in axes[:, 0]:
        ax.set_ylabel("true-positive rate")
    axes.flat[0].legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def write_pr_curves(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path) -> Path:
    """Precision-recall curves, one panel per anomaly group (its anomalies against all normals), one curve
    per model (Klimkevicius's Figs. 3-4). The dotted line is the share of anomalies, a random scorer's level.

    Args:
        panels: ``{group: {model: (labels, scores)}}``.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    rows, cols = _grid(len(panels), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (group, curves) in zip(axes.flat, panels.items()):
        for i, (model, (labels, scores)) in enumerate(curves.items()):
            precision, recall, _ = precision_recall_curve(labels, scores)
            ap = average_precision_score(labels, scores)
            ax.plot(recall, precision, color=COLORS[i % len(COLORS)], lw=1.3, label=f"{_literal(model)} ({ap:.3f})")
        base = float(np.mean(next(iter(curves.values()))[0]))
        ax.axhline(base, color="gray", lw=0.8, ls=":")
        ax.set_title(_literal(group), fontsize=9)
        ax.set_xlabel("recall")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("precision")
    return _save(fig, path)


def write_error_maps(inputs: np.ndarray, maps: dict[str, np.ndarray], groups: np.ndarray, path: Path) -> Path:
    """Per-pixel anomaly maps (K, H, W) per model, e.g. the squared reconstruction error or 1 - SSIM, drawn
    over each input in gray, one row per model, columns titled by group: where each model thinks the defect is."""
    k = len(inputs)
    fig, axes = plt.subplots(1 + len(maps), k, figsize=(1.2 * k, 1.25 * (1 + len(maps))), squeeze=False)
    gray = np.clip(inputs, 0.0, 1.0).mean(1)  # (K, H, W)
    for c in range(k):
        axes[0, c].imshow(
            np.transpose(np.clip(inputs[c], 0, 1), (1, 2, 0)) if inputs.shape[1] == 3 else gray[c],
            cmap=None if inputs.shape[1] == 3 else "gray",
            vmin=0,
            vmax=1,
        )
        axes[0, c].set_title(_literal(groups[c]), fontsize=7)
    for r, (model, heat) in enumerate(maps.items(), start=1):
        top = float(np.percentile(heat, 99.5)) or 1.0  # one scale per model, so columns compare
        for c in range(k):
            axes[r, c].imshow(gray[c], cmap="gray", vmin=0, vmax=1)
            shown = axes[r, c].imshow(heat[c], cmap="inferno", alpha=0.6, vmin=0, vmax=top)
        axes[r, 0].set_ylabel(_literal(model), fontsize=8)
        bar = fig.colorbar(shown, ax=list(axes[r]), fraction=0.02, pad=0.01)  # the model's error scale
        bar.ax.tick_params(labelsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=8)
    return _save(fig, path)


def write_score_histograms(models: dict[str, tuple[np.ndarray, np.ndarray, float, str]], path: Path) -> Path:
    """Test scores of normals and anomalies per model, with the threshold set on normal validation data.

    The reconstruction probability is drawn as Fiorino's Sec. 3 does, as the log reconstruction probability
    (the score's negative: anomalies to the left). The axis spans the 0.5-99.5% range of the scores; values
    beyond it are counted in the end bins, so a few extreme anomalies do not squash the rest.

    Args:
        models: ``{model: (labels, scores, threshold, score name)}``.
    """
    fig, axes = plt.subplots(1, len(models), figsize=(3.4 * len(models), 2.6), squeeze=False)
    for ax, (model, (labels, scores, threshold, method)) in zip(axes[0], models.items()):
        if method == "reconstruction_probability":
            scores, threshold, xlabel = -np.asarray(scores), -threshold, "log reconstruction probability"
        else:
            xlabel = f"score ({method})"
        lo, hi = np.percentile(scores, [0.5, 99.5])
        lo, hi = min(lo, threshold), max(hi, threshold)
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
        shown = np.clip(scores, bins[0], bins[-1])
        ax.hist(shown[labels == 0], bins=bins, alpha=0.6, density=True, label="normal", color=COLORS[0])
        ax.hist(shown[labels == 1], bins=bins, alpha=0.6, density=True, label="anomalous", color=COLORS[3])
        ax.axvline(threshold, color="k", lw=1.0, ls="--", label="threshold")
        ax.set_title(_literal(model), fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("density", fontsize=8)
    axes[0, 0].legend(fontsize=8, framealpha=0.9)
    return _save(fig, path)


def write_reconstruction_grid(
    inputs: np.ndarray, recons: dict[str, np.ndarray], groups: np.ndarray, path: Path
) -> Path:
    """Rows: the test inputs, then each model's reconstructions; columns: examples titled by group.

    Args:
        inputs: (K, C, H, W) in [0, 1].
        recons: ``{model: (K, C, H, W)}``.
        groups: (K,) each example's group.
    """
    rows = [("input", inputs), *recons.items()]
    k = len(inputs)
    fig, axes = plt.subplots(len(rows), k, figsize=(1.1 * k, 1.15 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c in range(k):
            ax = axes[r, c]
            img = np.clip(images[c], 0.0, 1.0)
            if img.shape[0] == 1:
                ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(np.transpose(img, (1, 2, 0)))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(_literal(groups[c]), fontsize=8)
            if c == 0:
                ax.set_ylabel(_literal(name), fontsize=8)
    return _save(fig, path)


def write_image_grid(images: np.ndarray, cols: int, path: Path) -> Path:
    """Images (N, C, H, W) in [0, 1] tiled ``cols`` to a row, without gaps or axes (samples, reconstructions
    above their inputs, interpolation strips)."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    n, c, h, w = images.shape
    rows = (n + cols - 1) // cols
    canvas = np.ones((rows * h, cols * w, c), dtype=np.float32)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        canvas[r * h : (r + 1) * h, k * w : (k + 1) * w] = img.transpose(1, 2, 0)
    scale = max(1.0, 64.0 / h)  # small images drawn at least 64 pixels a side
    fig = plt.figure(figsize=(cols * w * scale / 90, rows * h * scale / 90), dpi=90)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(
        canvas[:, :, 0] if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0, vmax=1, interpolation="nearest"
    )
    ax.axis("off")
    return _save(fig, path, bbox_inches=None)


def write_training_curves(histories: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """Training and validation loss per epoch for each model (log scale)."""
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    for i, (model, history) in enumerate(histories.items()):
        epochs = [h["epoch"] for h in history]
        every = max(1, len(epochs) // 15)  # markers stay readable at 5 epochs or 500
        ax.plot(epochs, [h["train_loss"] for h in history], color=COLORS[i % len(COLORS)], lw=1.0, ls=":")
        ax.plot(
            epochs,
            [h["val_loss"] for h in history],
            color=COLORS[i % len(COLORS)],
            lw=1.3,
            marker="o",
            markersize=3,
            markevery=every,
            label=_literal(model),
        )
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs on a linear axis
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (dotted: train, solid: validation)", fontsize=8)
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_critical_difference(mean_ranks: dict[str, float], critical_difference: float, path: Path) -> Path:
    """Demšar's critical-difference diagram: each model at its mean rank (1 = best, on the left), a bar as long
    as the critical difference, and a thick line joining models whose ranks differ by less (not significantly
    different)."""
    order = sorted(mean_ranks, key=mean_ranks.get)
    k = len(order)
    fig, ax = plt.subplots(figsize=(5.2, 0.9 + 0.28 * k))
    ax.set_xlim(0.8, k + 0.2)
    ax.set_ylim(-(k + 1) * 0.3, 0.9)
    ax.axhline(0, color="0.2", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.08], color="0.2", lw=1)
        ax.text(r, 0.14, str(r), ha="center", va="bottom", fontsize=8)
    ax.plot([1, 1 + critical_difference], [0.6, 0.6], color="0.2", lw=1.5)
    ax.text(1 + critical_difference / 2, 0.66, f"CD = {critical_difference:.2f}", ha="center", fontsize=8)
    for i, m in enumerate(order):  # the better half labelled on the left, the rest on the right
        y, left = -(i % ((k + 1) // 2) + 1) * 0.3, i < (k + 1) // 2
        x_text = 0.85 if left else k + 0.15
        ax.plot([mean_ranks[m], mean_ranks[m], x_text], [0, y, y], color=COLORS[i % len(COLORS)], lw=1)
        label = f"{_literal(m)} ({mean_ranks[m]:.2f})"
        ax.text(x_text, y, label, ha="left" if not left else "right", va="center", fontsize=8)
    groups = [
        (mean_ranks[a], max(mean_ranks[b] for b in order if mean_ranks[b] - mean_ranks[a] < critical_difference))
        for a in order
    ]
    groups = [g for g in dict.fromkeys(groups) if g[1] > g[0]]
    groups = [g for g in groups if not any(o != g and o[0] <= g[0] and g[1] <= o[1] for o in groups)]
    for j, (low, high) in enumerate(groups):  # cliques: not significantly different from each other
        ax.plot([low - 0.03, high + 0.03], [-0.12 - 0.08 * j] * 2, color="0.1", lw=3, solid_capstyle="round")
    ax.axis("off")
    return _save(fig, path)


def write_sweep_figure(sweep, image_shape: tuple[int, ...], path: Path) -> Path:
    """Patuzzo's Figs. 4-8: for up to 16 outputs, each output against the bottleneck with its flip points;
    for images, decoded images along the sweep and a histogram of where the pixels flip."""
    n_out = sweep.outputs.shape[1]
    if n_out <= 16:
        fig, ax = plt.subplots(figsize=(5.5, 3.0))
        for d in range(n_out):
            ax.plot(sweep.z, sweep.outputs[:, d], color=COLORS[d % len(COLORS)], lw=1.3, label=f"output {d + 1}")
            for f in sweep.flips[d]:
                ax.axvline(f, color=COLORS[d % len(COLORS)], lw=0.6, ls=":")
        ax.axhline(0.5, color="0.7", lw=0.8)
        ax.set_xlabel("bottleneck value")
        ax.set_ylabel("output")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        return _save(fig, path)
    picks = np.linspace(0, len(sweep.z) - 1, 9).round().astype(int)
    fig, axes = plt.subplots(1, 10, figsize=(13, 1.8), gridspec_kw={"width_ratios": [1] * 9 + [2.2]})
    for ax, k in zip(axes[:9], picks):
        img = sweep.outputs[k].reshape(image_shape)
        ax.imshow(img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0)), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"z = {sweep.z[k]:.2f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    flips = np.concatenate([f for f in sweep.flips if len(f)]) if any(len(f) for f in sweep.flips) else np.array([])
    axes[9].hist(flips, bins=40, color=COLORS[0])
    axes[9].set_xlim(sweep.z[0], sweep.z[-1])
    axes[9].set_title("where pixels flip", fontsize=8)
    axes[9].tick_params(labelsize=7)
    return _save(fig, path)


def write_output_weights_figure(
    z: np.ndarray, logits: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], path: Path
) -> Path:
    """Patuzzo's Figs. 4-7: per output neuron, its pre-sigmoid value against the bottleneck (a sign change
    is a flip), titled with the weights and biases from the bottleneck into it.

    Args:
        z: (K,) bottleneck values.
        logits: (K, D) pre-sigmoid outputs.
        layers: the decoder's (weight (out, in), bias (out,)) pairs, L3 first.
    """
    n_out = logits.shape[1]
    fig, axes = plt.subplots(1, n_out, figsize=(2.7 * n_out, 2.6), squeeze=False, sharey=True)
    (w3, b3), (w4, b4) = layers[0], layers[-1]

    def numbers(values: np.ndarray) -> str:
        return "(" + ", ".join(f"{float(v):.1f}" for v in values) + ")"

    for d, ax in enumerate(axes[0]):
        ax.plot(z, logits[:, d], color=COLORS[d % len(COLORS)], lw=1.4)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(f"output {d + 1}: L4 w {numbers(w4[d])}, b {float(b4[d]):.1f}", fontsize=7)
        ax.set_xlabel("bottleneck value", fontsize=8)
    axes[0, 0].set_ylabel("pre-sigmoid output")
    fig.suptitle(f"L3 (bottleneck -> hidden): w {numbers(w3[:, 0])}, b {numbers(b3)}", fontsize=8, y=1.04)
    return _save(fig, path)


def write_code_histograms(codes: dict[str, np.ndarray], path: Path) -> Path:
    """Patuzzo's Figs. 12-13: histograms of the codes (each unit) and, for a VAE, of the posterior spreads."""
    keys = [k for k in ("mu", "std") if k in codes]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 2.6), squeeze=False)
    titles = {"mu": "code (posterior mean)", "std": "posterior standard deviation"}
    for ax, key in zip(axes[0], keys):
        values = codes[key]
        for u in range(min(values.shape[1], 8)):
            ax.hist(values[:, u], bins=40, alpha=0.6, color=COLORS[u % len(COLORS)], label=f"unit {u}")
        ax.set_title(titles[key], fontsize=9)
        if values.shape[1] > 1:
            ax.legend(fontsize=7)
    return _save(fig, path)


def write_inspection_figures(
    model: Autoencoder, codes: dict[str, np.ndarray], out_dir: Path, prefix: str = ""
) -> list[tuple[str, Path]]:
    """Patuzzo's views inside one trained model; returns (caption, path) pairs.

    Figures: the decoder's outputs as the first bottleneck unit sweeps the training codes' range, with
    each output's flip points; for at most 16 outputs and a one-unit bottleneck, each output's pre-sigmoid
    value against the bottleneck with the weights into it; histograms of the codes (and a VAE's spreads).

    Args:
        model: a trained :class:`~aecompare.models.Autoencoder`.
        codes: its normal training codes, ``mu`` (N, L) and for a VAE ``std`` (N, L).
        out_dir: the folder for the PNGs.
        prefix: put before each file name.
    """
    out_dir = Path(out_dir)
    sweep = bottleneck_sweep(model, *sweep_range(codes["mu"]), base=codes["mu"].mean(0))
    written = [
        (
            "outputs as bottleneck unit 0 sweeps the training codes' range (others at their mean)",
            write_sweep_figure(sweep, model.input_shape, out_dir / f"{prefix}sweep.png"),
        )
    ]
    if (
        model.config.latent_dim == 1
        and int(np.prod(model.input_shape)) <= 16
        and model.config.resolved_backbone(model.input_shape) == "mlp"
    ):
        logits = np.stack([output_logit(model, sweep.z, d) for d in range(sweep.outputs.shape[1])], 1)
        layers = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in decoder_linears(model)]
        written.append(
            (
                "each output's pre-sigmoid value against the bottleneck, with the weights into it",
                write_output_weights_figure(sweep.z, logits, layers, out_dir / f"{prefix}weights.png"),
            )
        )
    written.append(
        (
            "the codes of the normal training images" + (" and their posterior spreads" if "std" in codes else ""),
            write_code_histograms(codes, out_dir / f"{prefix}codes.png"),
        )
    )
    return written
