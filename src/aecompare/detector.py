"""A detector with the API people know from PyOD and scikit-learn, for tables and images."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import erf
from scipy.stats import binom
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from aecompare.core.runtime import resolve_device
from aecompare.core.validation import check_int
from aecompare.data.preprocessing import SCALINGS, precise_dtype
from aecompare.data.split import validation_split
from aecompare.errors import ConfigError, DataError, DataTypeError, DataWarning, unknown_name
from aecompare.fitting import (
    MAX_TRAININGS,
    DetectorFiles,
    EnsembleFiles,
    FitSettings,
    FittedDetector,
    FittedEnsemble,
    ensemble_seeds,
    finish_scorers,
    fit_detector,
    mean_standardised,
    settings_from_params,
    train_models,
)
from aecompare.models import available_models
from aecompare.runs.folder import is_ensemble, read_detector, read_ensemble, write_detector, write_ensemble
from aecompare.scoring import score, score_components

DEFAULT_SCORE_OPTIONS = {"postprocess": "none", "n_samples": 100, "seed": 0}
# The defaults: the winner of issue 23's rule on 21 development tables (benchmarks/TUNING_RULE.md, RESULTS.md):
# the AE scored by the distance of its code to the 5 nearest normal training codes, mean AUROC 0.9123 over the
# collection (3 seeds), against 0.8736 for the VAE scored by its error (the default before) and 0.9152 for a
# 5-nearest-neighbour detector on the raw rows. Ties within 0.002 went to the cheaper fit (a wider denoising AE
# with error + latent kNN scored 0.9135 in 29% more fit time).
DEFAULT_MODEL, DEFAULT_SCORER = "ae", "latent_knn"
# model="auto" fits these (model, scorer) pairs and keeps the best on synthetic anomalies of its validation split:
# the four best configurations of the same rule that a registered model and a scorer name (0.9123, 0.9110,
# 0.9108, 0.8914; the wider denoising AE, 0.9135, needs model_params)
AUTO_CANDIDATES = (
    ("ae", "latent_knn"),
    ("vae", "mse+latent_knn"),
    ("ae", "mse+latent_knn"),
    ("ae", "mse+latent_mahalanobis"),
)


class Detector(BaseEstimator):
    """Fit an autoencoder on normal data; score new data by how far it lies from the normal data (higher = more
    anomalous). By default an AE scored by the mean distance of a sample's code to its 5 nearest normal training
    codes (``latent_knn``): the configuration issue 23's rule chose on 21 development tables
    (:data:`DEFAULT_MODEL`, :data:`DEFAULT_SCORER`; ``benchmarks/RESULTS.md``).

    Args:
        model: a registry name from :func:`aecompare.available_models`, e.g. ``"ae"``, ``"vae"``, ``"aae"``; or
            ``"auto"``: fit each (model, scorer) pair of :data:`AUTO_CANDIDATES` and keep the one whose scores
            best separate the validation split from synthetic anomalies made from it (pasted objects on images,
            perturbed columns in tables), using no anomaly label; ``selection_`` lists each candidate's AUROC.
        epochs: training epochs (early stopping may end sooner).
        batch_size: minibatch size.
        lr: Adam's learning rate.
        contamination: the expected share of anomalies in the training data; sets ``threshold_`` as the
            ``1 - contamination`` quantile of the training scores, as in PyOD.
        validation_fraction: share of ``X`` held out for early stopping, the checkpoint choice and the threshold.
        scorer: the scoring method, one of :data:`aecompare.scoring.SCORERS` (``"mse"``: the reconstruction
            error; ``"latent_knn"``: the code's distance to its nearest normal training codes), or several joined
            by ``+`` (e.g.
            ``"mse+latent_knn"``: the mean of each score standardised on the validation split). ``score=`` is
            its old name, kept for one release with a FutureWarning: as an attribute it hid scikit-learn's
            ``score()``.
        scaling: how inputs are scaled, fitted on the training part: ``"auto"`` (standard per column for tables,
            one [0, 1] range for images) or a kind of :data:`aecompare.data.preprocessing.SCALINGS`, e.g.
            ``"robust"`` (median and interquartile range per column).
        restarts: train this many seeds and keep the model with the lowest best validation loss (the training
            loss without a validation split), so a training stuck on the mean-image plateau is dropped;
            ``restart_losses_`` lists each one's loss and ``train_seconds_`` counts them all.
        ensemble: train this many seeds and score by the mean of their scores, each standardised on its normal
            validation scores (a seed ensemble); ``members_`` holds them. The seeds of ``restarts`` and
            ``ensemble`` train together as one stacked program (``aecompare.train.members``), so N of them cost
            far less than N fits. At most one of ``restarts`` and ``ensemble`` is above 1.
        model_params: :class:`aecompare.models.ModelConfig` overrides, e.g. ``{"latent_dim": 8}``.
        random_state: seed for initialisation, batch order and the validation split; None draws one.
        device: ``"cpu"``, ``"cuda"`` or None for CUDA when present.
        verbose: show a progress bar.

    Labels follow PyOD, not scikit-learn's outlier detectors: ``predict``, ``labels_`` and ``fit_predict`` give
    1 for an anomaly and 0 for a normal sample, and a higher ``decision_function`` is more anomalous. Like PyOD's
    detectors it declares itself an outlier detector (``sklearn.base.is_outlier_detector`` is True).

    Besides PyOD's fitted attributes (``decision_scores_``, ``threshold_``, ``labels_``): ``collapsed_`` (the model
    gives nearly one reconstruction for every input: it learned the mean) and ``diverged_`` (its loss or scores
    blew up), both saved (None for files saved before they were recorded); with ``model="auto"``
    ``selection_`` and ``chosen_model_``.

    Example:
        >>> det = Detector(model="vae", epochs=20, random_state=0).fit(X_train)  # doctest: +SKIP
        >>> scores = det.decision_function(X_test)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
        contamination: float = 0.1,
        validation_fraction: float = 0.2,
        scorer: str = DEFAULT_SCORER,
        scaling: str = "auto",
        restarts: int = 1,
        ensemble: int = 1,
        model_params: dict[str, Any] | None = None,
        random_state: Any = None,
        device: str | None = None,
        verbose: bool = False,
        **deprecated: Any,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.contamination = contamination
        self.validation_fraction = validation_fraction
        if "score" in deprecated:
            warnings.warn(
                "Detector(score=...) is now Detector(scorer=...); 'score' stops working in the next release",
                FutureWarning,
                stacklevel=2,
            )
            scorer = deprecated.pop("score")
        if deprecated:
            raise TypeError(f"Detector() got an unexpected keyword argument {next(iter(deprecated))!r}")
        self.scorer = scorer
        self.scaling = scaling
        self.restarts = restarts
        self.ensemble = ensemble
        self.model_params = model_params
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> Detector:
        """Train on ``X`` (normal data, possibly with a few anomalies); ``y`` is ignored.

        Args:
            X: a table (n_samples, n_features), or images (n, H, W) or (n, C, H, W).

        Returns:
            self, fitted.
        """
        self._check_params()
        X = self._validated(X, reset=True)
        seed = resolve_seed(self.random_state)
        train_idx, val_idx = validation_split(len(X), self.validation_fraction, seed)
        if self.model == "auto":
            return self._fit_best_candidate(X, train_idx, val_idx, seed)
        fitted = self._fit_one(X, train_idx, val_idx, self._settings(X), seed)
        self._take(fitted, train_idx, val_idx)
        return self

    def _settings(self, X: np.ndarray, **changes: Any) -> FitSettings:
        """The fitting settings of this detector's parameters (with ``changes``), for inputs like ``X``."""
        return settings_from_params({**self.get_params(), **changes}, X.ndim)

    def _fit_one(
        self,
        X: np.ndarray,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        settings: FitSettings,
        seed: int,
        synthetic: bool = False,
    ) -> FittedDetector | FittedEnsemble:
        names = getattr(self, "feature_names_in_", None)
        return fit_detector(
            X[train_idx],
            X[val_idx],
            settings,
            seed=seed,
            synthetic_seed=seed if synthetic else None,
            feature_names=tuple(map(str, names)) if names is not None else None,
            progress=self.verbose,
        )

    def _take(self, fitted: FittedDetector | FittedEnsemble, train_idx: np.ndarray, val_idx: np.ndarray) -> None:
        """Set the fitted attributes from ``fitted``; ``decision_scores_`` and ``labels_`` in the order of X."""
        if isinstance(fitted, FittedEnsemble):
            self._set_ensemble(fitted.files)
            losses = [m.trained.result.restart_loss for m in fitted.members]
        else:
            self._set_files(fitted.files)
            trained = fitted.trained
            losses = trained.restarts["best_val_losses"] if trained.restarts else [trained.result.restart_loss]
        scores = np.empty(len(train_idx) + len(val_idx))
        scores[train_idx] = fitted.train_scores
        if len(val_idx):
            scores[val_idx] = fitted.val_scores
        self.decision_scores_ = scores
        self.labels_ = (scores > self.threshold_).astype(int)
        self.restart_losses_ = [math.inf if loss is None else loss for loss in losses]  # inf: diverged

    def _set_files(self, files: DetectorFiles) -> None:
        """The fitted state a detector's files give (fit and load share it)."""
        self.model_ = files.model
        self.input_shape_ = tuple(files.model.input_shape)
        self.scaler_ = files.scaler
        self.threshold_ = files.threshold
        self.scorer_ = files.scorer
        self.score_options_ = {**DEFAULT_SCORE_OPTIONS, **files.score_options}
        self.reference_codes_ = files.reference
        self.history_ = files.history
        self.train_seconds_ = files.train_seconds
        self.transform_ = files.transform
        self.input_range_ = files.input_range
        self.collapsed_, self.diverged_ = files.collapsed, files.diverged
        self.members_ = None
        if files.selection is not None:
            self._set_selection(files.selection)

    def _set_ensemble(self, files: EnsembleFiles) -> None:
        """A seed ensemble's fitted state: member 0's inputs, scaling and model attributes, ``members_`` (each
        member's files) and the ensemble's own threshold, standardisations and time."""
        self._set_files(files.members[0])
        self.members_ = files.members
        self.member_standardisation_ = files.standardisation
        self.threshold_ = files.threshold
        self.train_seconds_ = files.train_seconds
        flags = [(m.collapsed, m.diverged) for m in files.members]
        self.collapsed_ = None if any(c is None for c, _ in flags) else any(c for c, _ in flags)
        self.diverged_ = None if any(d is None for _, d in flags) else any(d for _, d in flags)
        if files.selection is not None:
            self._set_selection(files.selection)

    def _fit_best_candidate(self, X: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray, seed: int) -> Detector:
        """``model="auto"``: fit each of :data:`AUTO_CANDIDATES` and keep the one that best separates the
        validation split from synthetic anomalies made from it (no anomaly label is used). Candidates of one
        model share its training (the same seed trains the same weights) and differ in their scorer only."""
        if not len(val_idx):
            raise ConfigError("model='auto' ranks candidates on the validation split; set validation_fraction > 0")
        by_model: dict[str, list[str]] = {}
        for model, scorer in AUTO_CANDIDATES:
            by_model.setdefault(model, []).append(scorer)
        done: dict[tuple[str, str], FittedDetector | FittedEnsemble] = {}
        names = getattr(self, "feature_names_in_", None)
        for model, scorers in by_model.items():
            settings = self._settings(X, model=model)
            trainings = train_models(
                X[train_idx],
                X[val_idx],
                settings,
                seeds=ensemble_seeds(seed, settings.ensemble),
                feature_names=tuple(map(str, names)) if names is not None else None,
                progress=self.verbose,
            )
            fits = finish_scorers(trainings, settings, scorers, seed=seed, synthetic_seed=seed)
            done.update({(model, s): f for s, f in zip(scorers, fits)})
        selection, fitted = [], []
        for model, scorer in AUTO_CANDIDATES:
            candidate = done[(model, scorer)]
            selection.append(
                {
                    "model": model,
                    "scorer": scorer,
                    "synthetic_auroc": candidate.synthetic_auroc,
                    "train_seconds": candidate.files.train_seconds,
                }
            )
            fitted.append(candidate)
        best = max(range(len(fitted)), key=lambda i: (selection[i]["synthetic_auroc"] or 0.0, -i))
        self._take(fitted[best], train_idx, val_idx)
        self._set_selection(selection)
        return self

    def _set_selection(self, selection: list[dict[str, Any]]) -> None:
        """``model="auto"``'s choice: ``selection_`` (every candidate) and ``chosen_model_`` (the kept model's
        name; ``scorer_`` is its scorer), from a fit or a saved detector."""
        self.selection_ = selection
        best = max(range(len(selection)), key=lambda i: (selection[i].get("synthetic_auroc") or 0.0, -i))
        self.chosen_model_ = selection[best]["model"]

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly scores (n_samples,); higher = more anomalous.

        ``X`` is in the format of the training data; a detector loaded from a run folder takes the dataset's own
        format (raw 0-16 digits, 0-255 MNIST bytes) and applies the loader's transform itself. Inputs far
        outside the training range are warned about (:class:`~aecompare.errors.DataWarning`).

        Raises:
            DataError: for inputs of another shape, or when the scores are not finite (the detector's files
                were changed, or the inputs are extreme beyond what float32 holds).
        """
        check_is_fitted(self, "model_")
        X = self._validated(X, reset=False)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise DataError(
                f"X has samples of shape {tuple(X.shape[1:])}, but the detector was fitted on "
                f"{self.input_shape_}; pass data shaped like the training data"
            )
        X = self.transform_.apply(X)
        names = getattr(self, "feature_names_in_", None)  # an array of strings, or absent
        problem = self.input_range_.problem(X, names) if self.input_range_ is not None else ""
        if problem:
            warnings.warn(problem, DataWarning, stacklevel=2)
        if self.members_ is None:
            return _scores(self.model_, self.scaler_, self.scorer_, self.score_options_, self.reference_codes_, X)
        member_scores = [
            _scores(m.model, m.scaler, m.scorer, {**DEFAULT_SCORE_OPTIONS, **m.score_options}, m.reference, X)
            for m in self.members_
        ]
        return mean_standardised(member_scores, self.member_standardisation_)

    def predict(self, X: Any, return_confidence: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """1 for samples scored above ``threshold_`` (anomalies), else 0 (PyOD's labels); with
        ``return_confidence=True``, as in PyOD, also each label's confidence (:meth:`predict_confidence`)."""
        scores = self.decision_function(X)
        labels = (scores > self.threshold_).astype(int)
        return (labels, self._confidence(scores)) if return_confidence else labels

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on ``X`` and return its labels ``labels_``: 1 anomaly, 0 normal."""
        return self.fit(X, y).labels_

    def predict_proba(self, X: Any, method: str = "linear") -> np.ndarray:
        """(n, 2): the probability of being normal and of being an anomaly, from the training scores as in PyOD:
        ``linear`` scales scores by the training scores' range (clipped to [0, 1]); ``unify`` maps them
        through the Gaussian error function (Kriegel et al., 2011)."""
        check_is_fitted(self, "model_")
        train, test = self.decision_scores_, self.decision_function(X)
        if method == "linear":
            span = train.max() - train.min()
            anomaly = (test - train.min()) / (span if span > 0 else 1.0)
        elif method == "unify":
            spread = train.std()
            anomaly = erf((test - train.mean()) / ((spread if spread > 0 else 1.0) * math.sqrt(2)))
        else:
            raise unknown_name("method", method, ("linear", "unify"))
        anomaly = np.clip(anomaly, 0.0, 1.0)
        return np.stack([1.0 - anomaly, anomaly], axis=1)

    def predict_confidence(self, X: Any) -> np.ndarray:
        """(n,): how confident each label of :meth:`predict` is, in [0, 1] (PyOD's ExCeeD, Perini et al., 2020):
        the chance that the sample's rank among the training scores puts it on the same side of the threshold."""
        check_is_fitted(self, "model_")
        return self._confidence(self.decision_function(X))

    def _confidence(self, test: np.ndarray) -> np.ndarray:
        """ExCeeD's confidence of the labels of the scores ``test`` (N,)."""
        n = len(self.decision_scores_)
        below = np.searchsorted(np.sort(self.decision_scores_), test, side="right")  # training scores <= each
        posterior = (1.0 + below) / (2.0 + n)
        confidence = 1.0 - binom.cdf(n - int(n * self.contamination), n, posterior)
        return np.where(test > self.threshold_, confidence, 1.0 - confidence)

    def save(self, path: str | Path) -> Path:
        """Save to the folder ``path``: weights (safetensors) and JSON, no pickle; the same files a run folder
        of ``aecompare run`` holds. Returns the folder."""
        check_is_fitted(self, "model_")
        folder = Path(path)
        if self.members_ is not None:
            write_ensemble(
                folder,
                EnsembleFiles(
                    members=self.members_,
                    standardisation=self.member_standardisation_,
                    threshold=self.threshold_,
                    params=self.get_params(),
                    decision_scores=self.decision_scores_,
                    train_seconds=self.train_seconds_,
                    selection=getattr(self, "selection_", None),
                ),
            )
            return folder
        names = getattr(self, "feature_names_in_", None)
        write_detector(
            folder,
            DetectorFiles(
                model=self.model_,
                scaler=self.scaler_,
                threshold=self.threshold_,
                scorer=self.scorer_,
                score_options=self.score_options_,
                params=self.get_params(),
                decision_scores=self.decision_scores_,
                history=self.history_,
                train_seconds=self.train_seconds_,
                reference=self.reference_codes_,
                transform=self.transform_,
                feature_names=tuple(map(str, names)) if names is not None else None,
                input_range=self.input_range_,
                selection=getattr(self, "selection_", None),
                collapsed=self.collapsed_,
                diverged=self.diverged_,
            ),
        )
        return folder

    def to_onnx(self, path: str | Path, *, bytes_input: bool = False) -> Path:
        """Write an ONNX graph that takes the raw input (the scaling is inside) and returns each sample's
        ``score`` and its ``error_map``, as :meth:`decision_function` computes them (the ``onnx`` extra).

        Args:
            path: the ``.onnx`` file to write.
            bytes_input: the graph takes uint8 pixels 0-255 (as image folders are read) instead of floats.
        """
        from aecompare.export import write_onnx

        check_is_fitted(self, "model_")
        if self.members_ is not None:
            raise ConfigError(
                f"an ensemble of {len(self.members_)} models has no single graph to export; save it and export "
                "one member: Detector.load('<folder>/member-0').to_onnx(...)"
            )
        return write_onnx(
            self.model_,
            self.scaler_,
            self.scorer_,
            self.score_options_,
            path,
            bytes_input=bytes_input,
            reference=self.reference_codes_,
        )

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> Detector:
        """Load a detector saved by :meth:`save`, or the model of any finished run folder of ``aecompare run``;
        it scores exactly as the saved one (or the run) did."""
        ensemble = read_ensemble(path, device="cpu") if is_ensemble(path) else None
        meta = ensemble.members[0] if ensemble is not None else read_detector(path, device="cpu")
        params = dict(ensemble.params if ensemble is not None else meta.params)
        if "score" in params:  # saved before the parameter was renamed
            params["scorer"] = params.pop("score")
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:
            raise DataError(
                f"{path}: detector.json has an unknown parameter {unknown[0]!r}; valid ones are: "
                f"{', '.join(cls._get_param_names())}"
            )
        if params.get("model_params"):  # JSON has no tuples; ModelConfig's sequences are tuples
            params["model_params"] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in params["model_params"].items()
            }
        detector = cls(**params)
        place = resolve_device(device or detector.device)
        for files in ensemble.members if ensemble is not None else [meta]:
            files.model = files.model.to(place).eval()
        if ensemble is not None:
            detector._set_ensemble(ensemble)
        else:
            detector._set_files(meta)
        detector.decision_scores_ = (ensemble or meta).decision_scores
        detector.labels_ = (detector.decision_scores_ > detector.threshold_).astype(int)
        if len(detector.input_shape_) == 1:  # a table: scikit-learn's checks name a wrong column count
            detector.n_features_in_ = detector.input_shape_[0]
        if meta.feature_names is not None:
            detector.feature_names_in_ = np.asarray(meta.feature_names, dtype=object)
        return detector

    def _check_params(self) -> None:
        if self.model != "auto" and self.model not in available_models():
            raise unknown_name("model", self.model, ("auto", *available_models()))
        for name, low, high, closed in (
            ("contamination", 0.0, 0.5, "(0, 0.5]"),
            ("validation_fraction", None, 1.0, "[0, 1)"),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.number))
                or not ((low is None and 0.0 <= value < high) or (low is not None and low < value <= high))
            ):
                raise ConfigError(
                    f"{name} must be a number in {closed}, got {value!r}"
                    + (" (a string: pass a number, e.g. 0.1)" if isinstance(value, str) else "")
                )
        check_int(self.epochs, "epochs")
        for name in ("restarts", "ensemble"):
            if check_int(getattr(self, name), name) > MAX_TRAININGS:
                raise ConfigError(f"{name} must be at most {MAX_TRAININGS}, got {getattr(self, name)}")
        if self.restarts > 1 and self.ensemble > 1:
            raise ConfigError(
                f"restarts={self.restarts} keeps the best of N trainings, ensemble={self.ensemble} averages N; "
                "choose one (set the other to 1)"
            )
        check_int(self.batch_size, "batch_size")
        if (
            isinstance(self.lr, bool)
            or not isinstance(self.lr, (int, float))
            or not (math.isfinite(self.lr) and self.lr > 0)
        ):
            raise ConfigError(f"lr must be a positive, finite number, got {self.lr!r}")
        score_components(self.scorer)
        if self.scaling != "auto" and self.scaling not in SCALINGS:
            raise unknown_name("scaling", self.scaling, ("auto", *SCALINGS))
        if self.model == "auto" and self.scorer != DEFAULT_SCORER:  # else it would be ignored silently
            raise ConfigError(
                f"model='auto' chooses the scorer too (among AUTO_CANDIDATES), so scorer="
                f"{self.scorer!r} would be ignored; leave scorer at its default or name a model"
            )
        resolve_device(self.device)

    def _validated(self, X: Any, *, reset: bool) -> np.ndarray:
        """``X`` checked by scikit-learn's own helpers (feature count and names, sparse input, complex values,
        too few samples), then by :func:`as_model_input` (shape, NaN, dtype)."""
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        try:
            X = validate_data(
                self,
                X,
                reset=reset,
                accept_sparse=False,
                allow_nd=True,
                ensure_all_finite=False,
                ensure_min_samples=2 if reset else 1,
                dtype=None,
            )
        except (TypeError, ValueError) as e:
            raise DataError(str(e)) from None
        if X.dtype == object:
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as e:
                raise DataTypeError(f"X must be numeric: {e}") from None
        return as_model_input(X, "X")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # an outlier detector to scikit-learn (is_outlier_detector; scorers call decision_function), as PyOD's
        # detectors are, with PyOD's labels: predict gives 1 for an anomaly, 0 for normal
        tags.estimator_type = "outlier_detector"
        tags.non_deterministic = self.random_state is None
        tags.input_tags.allow_nan = False
        return tags


def _scores(
    model: torch.nn.Module,
    scaler: Any,
    scorer: str,
    options: dict[str, Any],
    reference: np.ndarray | None,
    X: np.ndarray,
) -> np.ndarray:
    """One model's scores of ``X`` (after the loader's transform): scaled, scored and checked to be finite.

    Raises:
        DataError: when the scaled inputs or the scores are not finite.
    """
    scaled = scaler.transform(X)
    if not np.isfinite(scaled).all():
        raise DataError(
            "the detector's input scaling turns X into values that are not finite: its scaler "
            "(detector.json) was changed, or X is far beyond the training data; refit or reload "
            "the detector"
        )
    scores = score(model, torch.from_numpy(scaled), scorer, **options, reference=reference)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise DataError(
            f"{int(bad.sum())} of {len(scores)} scores are not finite (first: sample "
            f"{int(np.flatnonzero(bad)[0])}): the detector's weights or settings were changed, or "
            "the model overflows on these inputs; refit the detector"
        )
    return scores


def resolve_seed(random_state: Any) -> int:
    """An integer seed from scikit-learn's ``random_state``: None draws a fresh one, an integer is used as
    is, a ``numpy.random.RandomState`` or ``Generator`` gives one draw.

    Raises:
        ConfigError: for anything else, or a negative integer.
    """
    if random_state is None:
        return int(np.random.SeedSequence().entropy % 2**31)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    raise ConfigError(
        f"random_state must be None, a non-negative integer, a numpy RandomState or Generator; got {random_state!r}"
    )


def as_model_input(X: Any, name: str) -> np.ndarray:
    """Validate and convert user input to float32 (N, D) or (N, C, H, W); uint8 images stay bytes (0-255).

    Raises:
        DataError: for non-numeric data, a wrong number of dimensions, channels-last images, or NaN/inf.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X)
    except (ValueError, TypeError) as e:
        raise DataError(f"{name} could not be read as an array ({e}); pass a NumPy array or a tensor") from None
    if X.dtype.kind not in "biuf":
        raise DataError(f"{name} must be numeric, got dtype {X.dtype}; convert it, e.g. {name}.astype('float32')")
    if X.ndim == 3:
        X = X[:, None]  # (N, H, W) -> (N, 1, H, W)
    if X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        raise DataError(f"{name} looks channels-last {X.shape}; pass (N, C, H, W), e.g. {name}.transpose(0, 3, 1, 2)")
    if X.ndim not in (2, 4) or X.shape[0] == 0 or min(X.shape[1:]) == 0:
        raise DataError(
            f"{name} must be a table (n_samples, n_features) or images (n, H, W) or (n, C, H, W) "
            f"with at least one sample, got shape {X.shape}"
        )
    if X.dtype == np.uint8:  # image bytes: the scaler reads them as values in [0, 1], as image folders are cached
        return X
    X = X.astype(precise_dtype(X), copy=False)  # float32, or float64 where float32 would lose the spread
    bad = ~np.isfinite(X)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(X), -1).any(1))[0])
        raise DataError(
            f"{name} contains {int(bad.sum())} NaN or infinite values (first in sample {first}); "
            "drop or impute them first"
        )
    return X
