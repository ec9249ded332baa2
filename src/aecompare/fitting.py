"""Fitting a detector: the one path from normal data to a trained, scored and thresholded detector.

``Detector.fit`` and every run of a grid call :func:`fit_detector`; the grid adds only test scores and what its
report shows. One function therefore decides, for both, how the input is scaled (on the normal training part),
how restarts choose a training (the lowest validation loss), which codes the latent scores compare with (the
normal training data's), how a combination of scores is standardised and where the threshold lies (normal
validation scores), and how synthetic anomalies of the validation part rank a candidate without labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from aecompare.core.runtime import seed_everything
from aecompare.data.defects import synthetic_anomalies
from aecompare.data.preprocessing import InputRange, LoaderTransform, Scaler
from aecompare.errors import DataError
from aecompare.inspection import encode_codes
from aecompare.models import Autoencoder, build_model
from aecompare.scoring import (
    combine_components,
    component_scores,
    fit_standardisation,
    needs_reference,
    score_components,
    standardise,
)
from aecompare.train import TrainConfig, TrainResult, fit
from aecompare.train.members import fit_members, worth_stacking

MAX_TRAININGS = 100  # trainings of one fit, for ensemble and restarts alike
SCORE_BOUND = 1e30  # a score beyond this (or not finite) comes from a diverged model


@dataclass(frozen=True)
class FitSettings:
    """How a detector is fitted: its model, training, score and threshold. A grid run's settings come from its
    spec; a Detector's from its constructor (:func:`settings_from_params`)."""

    model: str = "vae"
    model_params: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    train: TrainConfig = field(default_factory=TrainConfig)
    scorer: str = "mse"  # one of scoring.SCORERS, or several joined by "+"
    contamination: float = 0.05  # the threshold is the 1 - contamination quantile of normal validation scores
    validation_fraction: float = 0.2  # recorded for the Detector's parameters; callers make the split
    restarts: int = 1  # N > 1: train seeds seed*N .. seed*N+N-1 and keep the lowest best validation loss
    ensemble: int = 1  # N > 1: train seeds seed*N .. seed*N+N-1 and score by their standardised scores' mean
    scaling: str = "standard"  # a Scaler kind, fitted on the normal training part
    postprocess: str = "none"  # or "heaviside" (binary images)
    n_samples: int = 100  # posterior draws of the sampling scores


@dataclass
class DetectorFiles:
    """What a saved detector is: the model, how its inputs are prepared, the score and the threshold on it.
    ``runs.folder`` writes and reads these; a run folder and a ``Detector.save`` folder hold the same."""

    model: Autoencoder
    scaler: Scaler
    threshold: float
    scorer: str
    score_options: dict[str, Any]  # postprocess, n_samples, seed; a combination's standardisation
    params: dict[str, Any]  # the Detector's constructor arguments
    decision_scores: np.ndarray  # (N,) scores of the normal training data
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    reference: np.ndarray | None = None  # (M, L) normal training codes, for the latent scores
    transform: LoaderTransform = field(default_factory=LoaderTransform)  # the dataset loader's, for raw inputs
    feature_names: tuple[str, ...] | None = None  # a table's column names, where its file had them
    input_range: InputRange | None = None  # of the training inputs after the transform
    selection: list[dict[str, Any]] | None = None  # model="auto": every candidate's synthetic AUROC
    # what the fitting saw: the model gives nearly one reconstruction for every input / its loss or scores
    # blew up; None in files saved before these were recorded
    collapsed: bool | None = None
    diverged: bool | None = None


@dataclass
class TrainedModel:
    """A trained model and the data as it saw it: what every scorer of one training shares (a grid scores one
    training several ways; ``model="auto"`` ranks scorers of one training)."""

    model: Autoencoder
    result: TrainResult  # the kept training
    seed: int  # the seed asked for (restarts train seed * N + i)
    train_seed: int  # the kept training's seed
    scaler: Scaler
    x_train: np.ndarray  # (N, ...) normal training inputs as the loader gave them
    x_val: np.ndarray  # (M, ...) normal validation inputs; may be empty
    xt: torch.Tensor  # x_train scaled
    xv: torch.Tensor  # x_val scaled
    restarts: dict[str, Any] | None = None  # kept, train_seconds, best_val_losses (restarts > 1)
    transform: LoaderTransform = field(default_factory=LoaderTransform)
    feature_names: tuple[str, ...] | None = None
    input_range: InputRange | None = None  # of x_train
    _codes: dict[str, np.ndarray] | None = None
    _scores: dict[tuple, np.ndarray] = field(default_factory=dict)  # (data, component, options) -> scores

    def scores(self, data: str, x: torch.Tensor, scorer: str, options: dict[str, Any]) -> np.ndarray:
        """:func:`aecompare.scoring.score` of ``x`` by ``scorer`` with ``options`` (a :class:`DetectorFiles`'
        score options), each component computed once per training and data: the runs of a grid cell share
        one training and score the same data by overlapping scorers. ``data`` names ``x`` (``"test"``, ...)."""
        parts = score_components(scorer)
        key = (options.get("postprocess", "none"), options.get("n_samples", 100), options.get("seed", 0))
        missing = [p for p in parts if (data, p, key) not in self._scores]
        if missing:
            reference = self.codes()["mu"] if any(needs_reference(p) for p in missing) else None
            computed = component_scores(
                self.model, x, "+".join(missing), postprocess=key[0], n_samples=key[1], seed=key[2], reference=reference
            )
            self._scores.update({(data, p, key): v for p, v in computed.items()})
        values = {p: self._scores[(data, p, key)] for p in parts}
        # a copy: the cached arrays serve every run of the training, so none may change them through a result
        return np.array(combine_components(values, scorer, options.get("standardisation")), copy=True)

    @property
    def train_seconds(self) -> float:
        """Training time, every restart counted."""
        return self.restarts["train_seconds"] if self.restarts else self.result.train_seconds

    def codes(self) -> dict[str, np.ndarray] | None:
        """The training data's codes (``mu``, and ``std`` for a VAE), computed once; None without a dense code."""
        if self._codes is None and self.model.config.latent_dim > 0:
            self._codes = encode_codes(self.model, self.xt)
        return self._codes


@dataclass
class FittedDetector:
    """A fitted detector and what its fitting saw: the training, its normal scores and, when asked for, the
    scores of synthetic anomalies."""

    files: DetectorFiles
    trained: TrainedModel
    train_scores: np.ndarray  # (N,)
    val_scores: np.ndarray  # (M,) the validation part's scores; the training part's when there is none
    diverged: str  # why the fitting counts as diverged ("" when it does not)
    synthetic_scores: np.ndarray | None = None  # one per validation sample, anomalous by construction

    @property
    def synthetic_auroc(self) -> float | None:
        """How well the scores separate the validation samples from synthetic anomalies made from them (no
        label of a real anomaly is used); None without them or when a score is not finite."""
        if self.synthetic_scores is None:
            return None
        return separation(self.val_scores, self.synthetic_scores)


@dataclass
class EnsembleFiles:
    """What a saved seed ensemble is: its members' detectors (one split and scaler), each member's
    standardisation (its normal validation scores' [mean, std]) and the threshold on the mean of the
    standardised scores. ``runs.folder`` writes and reads these."""

    members: list[DetectorFiles]
    standardisation: list[list[float]]  # (K, 2)
    threshold: float
    params: dict[str, Any]  # the Detector's constructor arguments
    decision_scores: np.ndarray  # (N,) the ensemble's scores of the normal training data
    train_seconds: float = 0.0
    selection: list[dict[str, Any]] | None = None  # model="auto": every candidate's synthetic AUROC


@dataclass
class FittedEnsemble:
    """A fitted seed ensemble: its files, its members as fitted, and the ensemble's own scores."""

    files: EnsembleFiles
    members: list[FittedDetector]
    train_scores: np.ndarray  # (N,)
    val_scores: np.ndarray  # (M,)
    diverged: str  # the first diverged member's reason ("" when none diverged)
    synthetic_scores: np.ndarray | None = None

    @property
    def synthetic_auroc(self) -> float | None:
        """As :attr:`FittedDetector.synthetic_auroc`, for the ensemble's scores."""
        return None if self.synthetic_scores is None else separation(self.val_scores, self.synthetic_scores)


def fit_detector(
    x_train: np.ndarray,
    x_val: np.ndarray,
    settings: FitSettings,
    *,
    seed: int,
    synthetic_seed: int | None = None,
    transform: LoaderTransform | None = None,
    feature_names: tuple[str, ...] | None = None,
    progress: bool = False,
    name: str = "",
) -> FittedDetector | FittedEnsemble:
    """Fit a detector on normal data that is already split into a training and a validation part: train it
    (:func:`train_models`), then score and threshold it (:func:`finish_detector`). With ``settings.ensemble``
    N > 1 it fits a seed ensemble (seeds :func:`ensemble_seeds`), its members trained as one program, each
    scored and thresholded alone, the ensemble scoring by :func:`mean_standardised` with its threshold on the
    mean's normal validation scores (:func:`combine_members`).

    Args:
        x_train: normal training inputs (N, D) or (N, C, H, W), as the dataset's loader gives them.
        x_val: normal validation inputs (M, ...) for early stopping, the checkpoint, standardisation and the
            threshold; may be empty (the training part then stands in).
        settings: the model, training, score and threshold.
        seed: the training seed (initialisation, batch order, the sampling scores' draws); restarts train
            ``seed * N + i``.
        synthetic_seed: also score synthetic anomalies made from ``x_val`` with this seed; None: do not.
        transform: what the dataset's loader did to the values as its files hold them (recorded, so the
            detector can score data in that format); the identity when None.
        feature_names: a table's column names, recorded for scoring by name.
        progress: show a progress bar.
        name: what is fitted, for warnings.
    """
    seeds = ensemble_seeds(seed, settings.ensemble)
    trainings = train_models(
        x_train,
        x_val,
        settings,
        seeds=seeds,
        transform=transform,
        feature_names=feature_names,
        progress=progress,
        names=[name] if len(seeds) == 1 else [f"{name} / member seed {s}".lstrip(" /") for s in seeds],
    )
    return finish_scorers(trainings, settings, [settings.scorer], seed=seed, synthetic_seed=synthetic_seed)[0]


def finish_scorers(
    trainings: list[TrainedModel],
    settings: FitSettings,
    scorers: list[str],
    *,
    seed: int,
    synthetic_seed: int | None = None,
) -> list[FittedDetector | FittedEnsemble]:
    """One fitted detector per scorer from the same training(s) (an ensemble's members): each component is
    scored once (:meth:`TrainedModel.scores`), so ranking scorers costs one training, not one per scorer."""
    fitted: list[FittedDetector | FittedEnsemble] = []
    for scorer in scorers:
        scored = replace(settings, scorer=scorer)
        members = [finish_detector(t, scored, synthetic_seed=synthetic_seed) for t in trainings]
        fitted.append(members[0] if len(members) == 1 else combine_members(members, scored, seed))
    return fitted


def train_model(
    x_train: np.ndarray,
    x_val: np.ndarray,
    settings: FitSettings,
    *,
    seed: int,
    transform: LoaderTransform | None = None,
    feature_names: tuple[str, ...] | None = None,
    progress: bool = False,
    name: str = "",
) -> TrainedModel:
    """Scale on the normal training part and train ``settings.restarts`` model(s); see :func:`fit_detector`."""
    return train_models(
        x_train,
        x_val,
        settings,
        seeds=[seed],
        transform=transform,
        feature_names=feature_names,
        progress=progress,
        names=[name],
    )[0]


def train_models(
    x_train: np.ndarray,
    x_val: np.ndarray,
    settings: FitSettings,
    *,
    seeds: list[int],
    transform: LoaderTransform | None = None,
    feature_names: tuple[str, ...] | None = None,
    progress: bool = False,
    names: list[str] | None = None,
) -> list[TrainedModel]:
    """One :class:`TrainedModel` per seed (an ensemble's members), all on one split and scaler, each with
    ``settings.restarts`` restarts; every training of them runs as one program (:func:`train_together`)."""
    return train_on_splits(
        [(x_train, x_val)],
        settings,
        seeds=[seeds],
        transform=transform,
        feature_names=feature_names,
        progress=progress,
        names=[names or [""] * len(seeds)],
    )[0]


def train_on_splits(
    splits: list[tuple[np.ndarray, np.ndarray]],
    settings: FitSettings,
    *,
    seeds: list[list[int]],
    transform: LoaderTransform | None = None,
    feature_names: tuple[str, ...] | None = None,
    progress: bool = False,
    names: list[list[str]] | None = None,
) -> list[list[TrainedModel]]:
    """:func:`train_models` for several splits at once (a grid cell's seeds, each with its own split and scaler):
    ``seeds[j]`` are split j's models; every training of every split runs in one program when the splits are of
    one size (each member on its own split's data), otherwise split by split."""
    if len({(len(t), len(v)) for t, v in splits}) > 1:
        return [
            train_models(
                t, v, settings, seeds=s, transform=transform, feature_names=feature_names, progress=progress, names=n
            )
            for (t, v), s, n in zip(splits, seeds, names or [None] * len(splits))
        ]
    names = names or [[""] * len(s) for s in seeds]
    n = settings.restarts
    scalers = [Scaler.fit(x_train, settings.scaling) for x_train, _ in splits]  # normal training data only
    scaled = [tuple(torch.from_numpy(sc.transform(a)) for a in split) for sc, split in zip(scalers, splits)]
    jobs = [  # (split, model, restart seeds) for every model of every split
        (j, m, ensemble_seeds(seed, n)) for j, split_seeds in enumerate(seeds) for m, seed in enumerate(split_seeds)
    ]
    per_training = [(j, names[j][m] + (f" / restart seed {s}" if n > 1 else ""), s) for j, m, g in jobs for s in g]
    shared = len(splits) == 1
    trainings = train_together(
        settings,
        tuple(splits[0][0].shape[1:]),
        scaled[0][0] if shared else [scaled[j][0] for j, _, _ in per_training],
        scaled[0][1] if shared else [scaled[j][1] for j, _, _ in per_training],
        [s for _, _, s in per_training],
        progress,
        [label for _, label, _ in per_training],
    )
    out: list[list[TrainedModel]] = [[] for _ in splits]
    for i, (j, m, group) in enumerate(jobs):
        model, result, train_seed, restarts = keep_best(trainings[i * n : (i + 1) * n], group)
        x_train, x_val = splits[j]
        out[j].append(
            TrainedModel(
                model,
                result,
                seeds[j][m],
                train_seed,
                scalers[j],
                x_train,
                x_val,
                *scaled[j],
                restarts,
                transform or LoaderTransform(),
                feature_names,
                InputRange.of(x_train),
            )
        )
    return out


def finish_detector(
    trained: TrainedModel, settings: FitSettings, *, synthetic_seed: int | None = None
) -> FittedDetector:
    """Score a trained model by ``settings.scorer`` and threshold it: the latent scores' reference codes (the
    normal training data's), a combination's standardisation and the threshold (normal validation scores),
    and with ``synthetic_seed`` the scores of synthetic anomalies made from the validation part."""
    xt, xv = trained.xt, trained.xv
    reference = trained.codes()["mu"] if needs_reference(settings.scorer) else None
    options = {"postprocess": settings.postprocess, "n_samples": settings.n_samples, "seed": trained.train_seed}
    normal, part = (xv, "val") if len(xv) else (xt, "train")  # what standardisation and the threshold are fitted on
    parts = score_components(settings.scorer)
    if len(parts) > 1:  # a combination: each score standardised on normal data
        options["standardisation"] = fit_standardisation({p: trained.scores(part, normal, p, options) for p in parts})
    val_scores = trained.scores(part, normal, settings.scorer, options)
    train_scores = trained.scores("train", xt, settings.scorer, options)
    threshold = normal_threshold(val_scores, settings.contamination)
    synthetic = None
    if synthetic_seed is not None and len(xv):
        fakes = synthetic_anomalies(trained.x_val, trained.x_train, seed=synthetic_seed)
        synthetic = trained.scores(
            f"synthetic-{synthetic_seed}", torch.from_numpy(trained.scaler.transform(fakes)), settings.scorer, options
        )
    files = DetectorFiles(
        model=trained.model,
        scaler=trained.scaler,
        threshold=threshold,
        scorer=settings.scorer,
        score_options=options,
        params=params_from_settings(settings, trained.seed),
        decision_scores=np.concatenate([train_scores, val_scores if len(xv) else []]),
        history=trained.result.history,
        train_seconds=trained.train_seconds,
        reference=reference,
        transform=trained.transform,
        feature_names=trained.feature_names,
        input_range=trained.input_range,
    )
    diverged = divergence(trained.result, [val_scores, train_scores], threshold)
    files.collapsed, files.diverged = bool(trained.result.collapsed), bool(diverged)
    return FittedDetector(files, trained, train_scores, val_scores, diverged, synthetic)


def ensemble_seeds(seed: int, n: int) -> list[int]:
    """The training seeds of an ensemble (or restarts) of ``n`` for ``seed``: ``seed * n + i``, distinct for every
    (seed, member) pair; ``seed`` alone for one."""
    return [seed * n + i for i in range(n)] if n > 1 else [seed]


def member_standardisation(normal_scores: np.ndarray) -> list[float]:
    """A member's [mean, std] on its normal validation scores, as a combination's parts are standardised."""
    return fit_standardisation({"member": normal_scores})["member"]


def mean_standardised(member_scores: list[np.ndarray], standardisation: list[list[float]]) -> np.ndarray:
    """An ensemble's scores: the mean over members of each member's scores standardised by its own
    [mean, std] (:func:`member_standardisation`)."""
    return np.mean([standardise(s, ls) for s, ls in zip(member_scores, standardisation)], axis=0)


def combine_members(members: list[FittedDetector], settings: FitSettings, seed: int) -> FittedEnsemble:
    """The ensemble of fitted ``members``: standardisation on each member's normal validation scores, the mean,
    and the threshold (:func:`normal_threshold` of the mean's normal validation scores)."""
    standardisation = [member_standardisation(m.val_scores) for m in members]

    def mean(scores: list[np.ndarray]) -> np.ndarray:
        return mean_standardised(scores, standardisation)

    val, train = mean([m.val_scores for m in members]), mean([m.train_scores for m in members])
    fakes = [m.synthetic_scores for m in members]
    threshold = normal_threshold(val, settings.contamination)
    diverged = next(
        (f"member {i} (seed {m.trained.train_seed}): {m.diverged}" for i, m in enumerate(members) if m.diverged), ""
    )
    has_val = len(members[0].trained.xv) > 0
    files = EnsembleFiles(
        members=[m.files for m in members],
        standardisation=standardisation,
        threshold=threshold,
        params=params_from_settings(settings, seed),
        decision_scores=np.concatenate([train, val if has_val else []]),
        train_seconds=sum(m.trained.train_seconds for m in members),
    )
    synthetic = mean(fakes) if all(f is not None for f in fakes) else None
    return FittedEnsemble(files, members, train, val, diverged, synthetic)


def train_together(
    settings: FitSettings,
    input_shape: tuple[int, ...],
    x_train: torch.Tensor | list[torch.Tensor],
    x_val: torch.Tensor | list[torch.Tensor],
    seeds: list[int],
    progress: bool = False,
    names: list[str] | None = None,
) -> list[tuple[Autoencoder, TrainResult]]:
    """Build one model per seed (initialised as a single training of that seed is) and train them: as one
    stacked program (:func:`aecompare.train.members.fit_members`) where that pays
    (:func:`~aecompare.train.members.worth_stacking`), otherwise one after another; the results agree either way.
    ``x_train``/``x_val``: the data all share, or a list with each one's."""
    names = names or [""] * len(seeds)
    models = []
    for seed in seeds:
        seed_everything(seed)  # weight initialisation
        models.append(build_model(settings.model, input_shape, **settings.model_params))
    if worth_stacking(models, settings.train):
        results = fit_members(
            models,
            x_train,
            x_val,
            settings.train,
            seeds=seeds,
            progress=progress,
            names=[n or f"seed {s}" for n, s in zip(names, seeds)],
        )
        return list(zip(models, results))
    own = isinstance(x_train, list)
    return [
        (
            model,
            fit(
                model,
                x_train[i] if own else x_train,
                x_val[i] if own else x_val,
                settings.train,
                seed=seed,
                progress=progress,
                name=name,
            ),
        )
        for i, (model, seed, name) in enumerate(zip(models, seeds, names))
    ]


def keep_best(
    trainings: list[tuple[Autoencoder, TrainResult]], seeds: list[int]
) -> tuple[Autoencoder, TrainResult, int, dict[str, Any] | None]:
    """Restarts: keep the training with the lowest best validation loss (normal data only; a diverged one only
    when all diverged).

    Returns:
        The kept model, its result, its seed, and (several trainings) which was kept, every training's best
        validation loss and the seconds of all.
    """
    losses = [result.restart_loss for _, result in trainings]
    kept = int(np.argmin(losses))  # the first of equal losses, as training them in turn kept it
    if len(trainings) == 1:
        return (*trainings[0], seeds[0], None)
    record = {
        "kept": kept,
        "train_seconds": sum(result.train_seconds for _, result in trainings),
        "best_val_losses": [loss if math.isfinite(loss) else None for loss in losses],
    }
    return (*trainings[kept], seeds[kept], record)


def normal_threshold(normal_scores: np.ndarray, contamination: float) -> float:
    """The one threshold policy: the ``1 - contamination`` quantile of normal validation scores (scores
    above it are anomalies), so about ``contamination`` of normal data is flagged.

    Raises:
        DataError: without normal scores, or for a contamination outside [0, 1].
    """
    normal_scores = np.asarray(normal_scores, dtype=float)
    if normal_scores.size == 0:
        raise DataError("cannot set a threshold from no normal scores; keep some normal validation data")
    if not 0.0 <= contamination <= 1.0:
        raise DataError(f"contamination must be within [0, 1], got {contamination}")
    return float(np.quantile(normal_scores, 1.0 - contamination))


def divergence(result: TrainResult, scores: list[np.ndarray], threshold: float) -> str:
    """Why a fitting counts as diverged ("" when it does not): its training loss exploded, or its scores or its
    threshold are not finite numbers of a sane size."""
    if result.diverged:
        return result.diverged
    for values in scores:
        if not np.isfinite(values).all() or np.abs(values).max(initial=0.0) > SCORE_BOUND:
            return "its scores are not finite (or beyond 1e30)"
    return "" if np.isfinite(threshold) else "its threshold is not finite"


def separation(normal_scores: np.ndarray, fake_scores: np.ndarray) -> float | None:
    """AUROC of normal validation scores against synthetic anomalies' scores; None when a score is not finite."""
    values = np.concatenate([normal_scores, fake_scores])
    if not np.isfinite(values).all():
        return None
    return float(roc_auc_score(np.r_[np.zeros(len(normal_scores)), np.ones(len(fake_scores))], values))


DETECTOR_PARAMS = (
    "model",
    "epochs",
    "batch_size",
    "lr",
    "contamination",
    "validation_fraction",
    "scorer",
    "restarts",
    "ensemble",
    "model_params",
    "random_state",
    "device",
    "verbose",
)


def params_from_settings(settings: FitSettings, seed: int) -> dict[str, Any]:
    """The Detector constructor arguments that refit ``settings`` with ``seed`` (what a run folder records, so
    that it loads as a Detector)."""
    return {
        "model": settings.model,
        "epochs": settings.train.epochs,
        "batch_size": settings.train.batch_size,
        "lr": settings.train.lr,
        "contamination": settings.contamination,
        "validation_fraction": settings.validation_fraction,
        "scorer": settings.scorer,
        "scaling": settings.scaling,
        "restarts": settings.restarts,
        "ensemble": settings.ensemble,
        "model_params": dict(settings.model_params) or None,
        "random_state": seed,
        "device": None,
        "verbose": False,
    }


def settings_from_params(params: dict[str, Any], input_ndim: int) -> FitSettings:
    """The fit settings of a Detector's constructor arguments, for inputs of ``input_ndim`` dimensions: with
    scaling "auto" (or none recorded) tables are standardised per column, images scaled to [0, 1] by their range."""
    device = params.get("device") or "auto"
    return FitSettings(
        model=params["model"],
        model_params=dict(params.get("model_params") or {}),
        train=TrainConfig(
            epochs=params["epochs"], batch_size=params["batch_size"], lr=params["lr"], device=str(device)
        ),
        scorer=params["scorer"],
        contamination=params["contamination"],
        validation_fraction=params["validation_fraction"],
        restarts=params["restarts"],
        ensemble=params.get("ensemble", 1),
        scaling=default_scaling(params.get("scaling", "auto"), input_ndim),
    )


def default_scaling(scaling: str, input_ndim: int) -> str:
    """``scaling`` itself, or for "auto" the kind a Detector's inputs get: standard for tables, minmax for images."""
    if scaling != "auto":
        return scaling
    return "standard" if input_ndim == 2 else "minmax"
