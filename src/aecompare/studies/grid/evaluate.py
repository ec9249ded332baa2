"""Evaluating a trained run: its detector finished by the one fitting path, test scores, per-group metrics and
the extras the report shows (examples, pixel AUROC, codes); a seed ensemble from its members."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from aecompare.data import OneClassSplit
from aecompare.fitting import (
    EnsembleFiles,
    TrainedModel,
    divergence,
    finish_detector,
    mean_standardised,
    member_standardisation,
    normal_threshold,
    separation,
)
from aecompare.metrics import metrics_by_group
from aecompare.runs import folder as run_folder
from aecompare.runs.folder import RunRecord
from aecompare.scoring import error_map, heaviside, reconstruct
from aecompare.studies.grid.plan import Run, fit_settings, run_name, run_settings
from aecompare.studies.grid.spec import ExperimentSpec

log = logging.getLogger(__name__)

N_EXAMPLES = 4  # normal and anomalous test inputs kept per run for reconstruction grids


def run_extras(trained: TrainedModel, split: OneClassSplit, x_test: torch.Tensor, images: bool) -> dict[str, Any]:
    """What a run keeps beside its scores: the normal test MSE before and after Heaviside post-processing
    (binary data: Patuzzo's Figs. 9-10), example reconstructions (images), the pixel AUROC (masks) and the
    training codes (dense codes; a feature-map code, e.g. 64x64x64 per image, is too big to keep)."""
    model, x_train = trained.model, trained.xt
    binary_sigmoid = model.config.resolved_output_activation(split.input_shape) == "sigmoid" and bool(
        torch.all((x_train == 0) | (x_train == 1))
    )
    normal_test = x_test[torch.from_numpy(split.y_test == 0)]
    normal_recon = reconstruct(model, normal_test)
    normal_test_mse = {"none": float((normal_recon - normal_test).pow(2).mean())}
    if binary_sigmoid:
        normal_test_mse["heaviside"] = float((heaviside(normal_recon) - normal_test).pow(2).mean())
    examples = None
    if images:
        idx = example_indices(split)
        extra = (
            {"recon_heaviside": reconstruct(model, x_test[idx], postprocess="heaviside").numpy()}
            if binary_sigmoid
            else {}
        )
        examples = dict(
            index=idx,
            inputs=x_test[idx].numpy(),  # as the model saw them
            recon=reconstruct(model, x_test[idx]).numpy(),
            group=split.group_test[idx].astype(str),
            **extra,
        )
    return {
        "normal_test_mse": normal_test_mse,
        "examples": examples,
        "pixel_auroc": pixel_level_auroc(model, x_test, split.masks_test) if split.masks_test is not None else None,
        "codes": trained.codes(),
    }


def evaluate_run(
    spec: ExperimentSpec,
    run: Run,
    split: OneClassSplit,
    trained: TrainedModel,
    x_test: torch.Tensor,
    extras: dict[str, Any],
) -> RunRecord:
    """Finish ``trained`` as ``run``'s detector (its scorer, the threshold on normal validation scores), score the
    test data and gather its record (an ensemble member's record when ``trained`` is one)."""
    fitted = finish_detector(
        trained,
        fit_settings(spec, run, split),
        synthetic_seed=run.seed if spec.evaluation.select == "synthetic" else None,
    )
    detector, result = fitted.files, trained.result
    test_scores = trained.scores("test", x_test, detector.scorer, detector.score_options)
    diverged = divergence(result, [fitted.val_scores, test_scores, fitted.train_scores], detector.threshold)
    if diverged and not result.diverged:
        # the grid counts diverged runs once, at the end; the run records why
        log.debug("%s: diverged: %s; its metrics are left out of the report's means", run_name(run), diverged)
    settings = run_settings(spec, run)
    config = {  # the labels and sizes; everything that identifies the run is in its settings, once
        "format_version": run_folder.FORMAT_VERSION,
        "settings": settings,
        "settings_hash": run_folder.settings_hash(settings),
        "experiment": spec.name,
        "dataset": run.dataset.key,
        "model": run.model.label,
        "n_train": len(trained.xt),
        "n_val": len(trained.xv),
        "n_test": len(x_test),
        **({"train_seed": trained.train_seed} if trained.train_seed != run.seed else {}),
    }
    metrics = {
        "rows": _metric_rows(split, test_scores, detector.threshold, bool(diverged)),
        "scorer": detector.scorer,
        "diverged": diverged,
        "threshold": detector.threshold,
        "train_seconds": trained.train_seconds,
        **({"restarts": trained.restarts} if trained.restarts else {}),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "output_spread": result.output_spread,
        "collapsed": result.collapsed,
        "synthetic_auroc": fitted.synthetic_auroc,
        "normal_test_mse": extras["normal_test_mse"],
        "pixel_auroc": extras["pixel_auroc"],
    }
    scores = dict(
        test_scores=test_scores,
        y_test=split.y_test,
        group_test=split.group_test.astype(str),
        val_scores=fitted.val_scores,
        threshold=detector.threshold,
        **({"synthetic_scores": fitted.synthetic_scores} if fitted.synthetic_scores is not None else {}),
    )
    return RunRecord(config, detector, scores, metrics, extras["examples"], extras["codes"])


def evaluate_ensemble(
    spec: ExperimentSpec, run: Run, split: OneClassSplit, members: list[RunRecord], trainings: list[TrainedModel]
) -> RunRecord:
    """A seed ensemble's record: its ``members`` each evaluated as a run of its own (kept in ``member-<i>/``), and
    the ensemble scoring by the mean of the members' scores, each standardised on its normal validation scores."""

    standardisation = [member_standardisation(m.scores["val_scores"]) for m in members]

    def mean(key: str) -> np.ndarray:
        return mean_standardised([m.scores[key] for m in members], standardisation)

    val, test = mean("val_scores"), mean("test_scores")
    threshold = normal_threshold(val, 1.0 - spec.evaluation.threshold_percentile / 100.0)
    fakes = mean("synthetic_scores") if all("synthetic_scores" in m.scores for m in members) else None
    diverged = next(
        (
            f"member {i} (seed {t.train_seed}): {m.metrics['diverged']}"
            for i, (m, t) in enumerate(zip(members, trainings))
            if m.metrics["diverged"]
        ),
        "",
    )
    settings = run_settings(spec, run)
    config = {
        **members[0].config,
        "settings": settings,
        "settings_hash": run_folder.settings_hash(settings),
        "ensemble": len(members),
    }
    config.pop("train_seed", None)
    metrics = {
        "rows": _metric_rows(split, test, threshold, bool(diverged)),
        "scorer": spec.scorer_of(run.model),
        "diverged": diverged,
        "threshold": threshold,
        "ensemble": len(members),
        "train_seconds": sum(m.metrics["train_seconds"] for m in members),
        "best_epoch": None,
        "epochs_run": float(np.mean([m.metrics["epochs_run"] for m in members])),
        "stopped_early": all(m.metrics["stopped_early"] for m in members),
        "output_spread": min(m.metrics["output_spread"] for m in members),
        "collapsed": any(m.metrics["collapsed"] for m in members),
        "synthetic_auroc": separation(val, fakes) if fakes is not None else None,
        "normal_test_mse": {},
        "pixel_auroc": None,
    }
    scores = dict(
        test_scores=test,
        y_test=split.y_test,
        group_test=split.group_test.astype(str),
        val_scores=val,
        threshold=threshold,
        **({"synthetic_scores": fakes} if fakes is not None else {}),
    )
    files = _ensemble_files(run, members, standardisation, threshold, metrics["train_seconds"])
    return RunRecord(config, None, scores, metrics, members=members, ensemble=files)


def _ensemble_files(
    run: Run, members: list[RunRecord], standardisation: list[list[float]], threshold: float, seconds: float
) -> EnsembleFiles:
    """What the ensemble's run folder saves beside its members, so that it loads as one Detector."""
    detectors = [m.detector for m in members]
    return EnsembleFiles(
        members=detectors,
        standardisation=standardisation,
        threshold=threshold,
        params={**detectors[0].params, "ensemble": len(members), "random_state": run.seed},
        decision_scores=mean_standardised([d.decision_scores for d in detectors], standardisation),
        train_seconds=seconds,
    )


def _metric_rows(split: OneClassSplit, scores: np.ndarray, threshold: float, diverged: bool) -> list[dict]:
    """Per-group metrics; a diverged run's are NaN (scores that are not numbers rank nothing)."""
    if not diverged:
        return metrics_by_group(split.y_test, scores, split.group_test, threshold)
    rows = metrics_by_group(split.y_test, np.zeros(len(scores)), split.group_test, 0.0)  # the groups and counts
    return [
        {**r, **{k: float("nan") for k in ("auroc", "auprc", "precision", "recall", "f1", "tp", "fp", "tn", "fn")}}
        for r in rows
    ]


def pixel_level_auroc(model: torch.nn.Module, x_test: torch.Tensor, masks: np.ndarray) -> float | None:
    """ROC-AUC of the per-pixel squared error (averaged over channels) against the defect masks, over every
    test image whose mask is known (good images count with all-zero masks); None without any defect pixel."""
    known = ~np.isnan(masks).any(axis=(1, 2))
    truth = masks[known]
    if not known.any() or truth.min() == truth.max():
        return None
    maps = error_map(model, x_test[torch.from_numpy(known)]).mean(1).numpy()  # (n, H, W)
    return float(roc_auc_score(truth.reshape(-1).astype(int), maps.reshape(-1)))


def example_indices(split: OneClassSplit) -> np.ndarray:
    """Fixed test indices for reconstruction grids: the same across models and seeds of a split."""
    rng = np.random.default_rng(0)
    normal = np.flatnonzero(split.y_test == 0)
    anomalous = np.flatnonzero(split.y_test == 1)
    # Spread the anomalous examples over groups: one per group in turn, at random within each.
    by_group = [
        rng.permutation(anomalous[split.group_test[anomalous] == g]).tolist()
        for g in np.unique(split.group_test[anomalous])
    ]
    picked: list[int] = []
    while len(picked) < N_EXAMPLES and any(by_group):
        for members in by_group:
            if members and len(picked) < N_EXAMPLES:
                picked.append(members.pop())
    chosen_normal = rng.choice(normal, size=min(N_EXAMPLES, len(normal)), replace=False)
    return np.concatenate([np.sort(chosen_normal), np.asarray(picked, dtype=int)])
