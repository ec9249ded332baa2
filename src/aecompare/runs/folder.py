"""The run folder: every file name, how each is written (atomically) and read. Nobody else spells them.

A run folder holds a trained model and what it was trained, scored and evaluated with::

    config.json           the run's resolved settings, their hash, labels and sizes
    model.json            the model's config and input shape     } a saved Detector holds these
    model.safetensors     its weights                            } four files too, so every run
    detector.json         scaler, threshold, scorer, its options } folder loads as a Detector
    decision_scores.npy   scores of the normal training data     }
    history.json          one row per epoch
    scores.npz            test and validation scores, labels, groups, the threshold
    examples.npz          a few test inputs and reconstructions (images)
    latent.npz            codes of the normal training data (dense codes)
    metrics.json          written last: its presence marks a finished run
    member-<i>/           a seed ensemble's members, each a run folder of its own (the ensemble itself has
                          no model: its scores are the mean of the members' standardised scores)
    ensemble.json         a seed ensemble's standardisation of each member and its threshold } with
                          (beside its decision_scores.npy; a saved ensemble Detector the same) } member-<i>/

A run is written under a temporary name beside its final place and put there in one step, so a reader
sees a finished run or none, and a finished run is never briefly absent when it is replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.core.io import (
    array_bytes,
    arrays_bytes,
    atomic_write_bytes,
    canonical_json,
    inside,
    read_array,
    read_arrays,
    read_json,
    refuse_planted,
    replace_folder,
    safe_name,
    write_json,
)
from aecompare.data.preprocessing import SCALINGS, InputRange, LoaderTransform, Scaler
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from aecompare.fitting import DetectorFiles, EnsembleFiles
from aecompare.models import Autoencoder, load_model, save_model
from aecompare.models.serialization import CONFIG as MODEL_CONFIG
from aecompare.scoring import MAX_SAMPLES, SCORERS, check_standardisation, score_components
from aecompare.version import __version__

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 1: before the settings hash and detector.json (aecompare 0.1's first runs)
CONFIG, HISTORY, SCORES, EXAMPLES, CODES, METRICS = (
    "config.json",
    "history.json",
    "scores.npz",
    "examples.npz",
    "latent.npz",
    "metrics.json",
)
DETECTOR, DECISION_SCORES, REFERENCE = "detector.json", "decision_scores.npy", "reference_codes.npy"
ENSEMBLE = "ensemble.json"
ENSEMBLE_KEYS = ("format_version", "params", "threshold_", "standardisation", "train_seconds_")
MEMBER = "member-"  # member-0, member-1, ...: the models of a seed-ensemble run
EXPERIMENT = "experiment.json"  # the experiment folder's record of what was asked for
PARTIAL = ".partial-"


def major_version() -> str:
    """The package's major version: runs of another major version are not resumed."""
    return __version__.split(".")[0]


def settings_hash(settings: dict[str, Any]) -> str:
    """A short hash of resolved settings (12 hex digits of SHA-256 over their canonical JSON)."""
    return hashlib.sha256(canonical_json(settings).encode("utf-8")).hexdigest()[:12]


def settings_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """What differs between two settings, one ``key: old → new`` line per leaf (``train.epochs: 2 → 5``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in dict.fromkeys([*old, *new]):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                lines.append(f"{where}: {old.get(key, '(not set)')} → {new.get(key, '(not set)')}")
            else:
                lines += settings_diff(old[key], new[key], where)
        return lines
    return [] if canonical_json(old) == canonical_json(new) else [f"{prefix}: {old} → {new}"]


def relative_dir(dataset: str, model: str, normal: Sequence[str], seed: int) -> Path:
    """Where a run lies inside its experiment folder: ``<dataset>/<model>/normal-<classes>/seed-<n>``.

    Labels go through :func:`~aecompare.core.io.safe_name` (which refuses escapes); class names may hold a
    separator (Fashion-MNIST's ``T-shirt/top``), which becomes ``_``.
    """
    return Path(
        safe_name(dataset, "dataset label"), safe_name(model, "model label"), normal_dir(normal), f"seed-{int(seed)}"
    )


def normal_dir(normal: Sequence[str]) -> str:
    """The folder name of a normal-class choice: ``normal-1``, ``normal-1+7``, ``normal-T-shirt_top``."""
    return "normal-" + safe_name("+".join(normal), "normal class", allow_separators=True)


def write_detector(folder: Path, files: DetectorFiles) -> None:
    """Write a detector's four files (weights, model config, detector.json, training scores) to ``folder``; an
    ensemble saved there before is no longer what the folder holds (its ensemble.json goes first)."""
    _remove_file(folder / ENSEMBLE)
    save_model(files.model, folder)
    atomic_write_bytes(folder / DECISION_SCORES, array_bytes(files.decision_scores))
    if files.reference is not None:
        atomic_write_bytes(folder / REFERENCE, array_bytes(files.reference))
    write_json(
        folder / DETECTOR,
        {
            "format_version": FORMAT_VERSION,
            "params": files.params,
            "threshold_": files.threshold,
            "scorer": files.scorer,
            "score_options": files.score_options,
            "scaler": files.scaler.to_dict(),
            "transform": files.transform.to_dict(),
            "feature_names": files.feature_names,
            "input_range": files.input_range.to_dict() if files.input_range is not None else None,
            "train_seconds_": files.train_seconds,
            "history_": files.history,
            **({"selection_": files.selection} if files.selection is not None else {}),
            **{k: v for k, v in (("collapsed_", files.collapsed), ("diverged_", files.diverged)) if v is not None},
        },
    )


def write_ensemble(folder: Path, files: EnsembleFiles, members: bool = True) -> None:
    """Write a seed ensemble: each member's detector into ``member-<i>/`` (unless a run record wrote them
    already: ``members=False``), then its ``ensemble.json`` and training scores. A single detector or a larger
    ensemble saved there before stops being loadable first (its detector.json, its extra members go)."""
    _remove_file(folder / DETECTOR)
    if members:
        for i, member in enumerate(files.members):
            write_detector(member_dir(folder, i), member)
    for stale in member_dirs(folder)[len(files.members) :]:
        if stale.is_symlink():
            raise DataError(f"{stale} is a symbolic link; aecompare writes only folders of its own there")
        shutil.rmtree(stale)
    atomic_write_bytes(folder / DECISION_SCORES, array_bytes(files.decision_scores))
    write_json(
        folder / ENSEMBLE,
        {
            "format_version": FORMAT_VERSION,
            "params": files.params,
            "threshold_": files.threshold,
            "standardisation": files.standardisation,
            "train_seconds_": files.train_seconds,
            **({"selection_": files.selection} if files.selection is not None else {}),
        },
    )


def _remove_file(path: Path) -> None:
    """Delete the file ``path`` if it exists (refusing a link or a folder planted there)."""
    refuse_planted(path)
    path.unlink(missing_ok=True)


def is_ensemble(folder: str | Path) -> bool:
    """Whether ``folder`` holds a saved seed ensemble (a Detector with ``ensemble > 1`` or an ensemble run)."""
    return (Path(folder) / ENSEMBLE).exists()


def read_ensemble(folder: str | Path, device: Any = "cpu") -> EnsembleFiles:
    """A seed ensemble saved by :func:`write_ensemble`, every member read (and checked) by :func:`read_detector`.

    Raises:
        DataError: for a file that fails a check (names the file and what is wrong).
    """
    folder = Path(folder)
    _refuse_failed_run(folder)
    path = folder / ENSEMBLE
    meta = read_json(path)
    if (
        not isinstance(meta, dict)
        or set(meta) - {"selection_"} != set(ENSEMBLE_KEYS)
        or not isinstance(meta["params"], dict)
    ):
        raise DataError(f"{path}: expected exactly the keys {', '.join(ENSEMBLE_KEYS)}; the file was changed")
    members = [read_detector(member, device) for member in member_dirs(folder)]
    pairs = meta["standardisation"]
    if (
        len(members) < 2
        or not isinstance(pairs, list)
        or len(pairs) != len(members)
        or any(check_standardisation("mse", {"mse": pair}) for pair in pairs)
    ):
        raise DataError(
            f"{path}: expected a [mean, std] (finite, std > 0) for each of the {len(members)} member folders "
            "(at least 2); the folder was changed: save the detector again"
        )
    if len({m.model.input_shape for m in members}) != 1:
        raise DataError(f"{folder}: the members take inputs of different shapes; the folder was changed")
    for key in ("threshold_", "train_seconds_"):
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise DataError(f"{path}: {key} must be a finite number, got {value!r}")
    threshold = meta["threshold_"]
    return EnsembleFiles(
        members=members,
        standardisation=pairs,
        threshold=float(threshold),
        params=meta["params"],
        decision_scores=_checked_scores(folder / DECISION_SCORES, float(threshold)),
        train_seconds=float(meta["train_seconds_"]),
        selection=_checked_selection(meta.get("selection_"), path),
    )


DETECTOR_KEYS = (
    "format_version",
    "params",
    "threshold_",
    "scorer",
    "score_options",
    "scaler",
    "transform",
    "feature_names",
    "input_range",
    "train_seconds_",
    "history_",
    "selection_",
    "collapsed_",
    "diverged_",
)
SCALE_BOUNDS = (1e-30, 1e30)  # a fitted scale is a spread of real data; beyond these inputs become inf or 0
SCORE_OPTION_TYPES = {"postprocess": str, "n_samples": int, "seed": int, "standardisation": dict}


def read_detector(folder: str | Path, device: Any = "cpu") -> DetectorFiles:
    """A detector saved by :func:`write_detector`: a ``Detector.save`` folder or any finished run folder.
    Every file is checked before anything is built, so a damaged or changed file never yields scores.

    Raises:
        DataNotFoundError: when ``folder`` holds no saved detector (says what to pass instead).
        DataError: for a file that fails a check (names the file and what is wrong).
    """
    folder = Path(folder)
    if not (folder / DETECTOR).exists():
        if (member_dir(folder, 0) / DETECTOR).exists():
            hint = (
                f": it is a seed ensemble written before ensembles were saved whole ({ENSEMBLE}); run it again, "
                f"or load each of its members ({member_dir(folder, 0)}, ...) as a detector of its own"
            )
        elif (folder / METRICS).exists():
            hint = " (a run folder written before aecompare 0.1.x saved detectors: run the experiment again)"
        else:
            hint = (
                "; pass a folder written by Detector.save or a finished run folder such as "
                "runs/quick/digits/ae/normal-0/seed-0"
            )
        raise DataNotFoundError(f"no saved detector in {folder}: {DETECTOR} is missing{hint}")
    _refuse_failed_run(folder)
    meta = _checked_detector_json(folder / DETECTOR)
    model = load_model(folder, device=device)
    scaler = _checked_scaler(meta["scaler"], model.input_shape, folder / DETECTOR)
    decision_scores = _checked_scores(folder / DECISION_SCORES, float(meta["threshold_"]))
    params = meta["params"]
    reference = _checked_reference(folder / REFERENCE, model) if (folder / REFERENCE).exists() else None
    return DetectorFiles(
        model=model,
        scaler=scaler,
        threshold=float(meta["threshold_"]),
        scorer=meta.get("scorer", params.get("scorer", params.get("score", "mse"))),
        score_options=meta.get("score_options", {}),
        params=params,
        decision_scores=decision_scores,
        history=meta.get("history_", []),
        train_seconds=meta.get("train_seconds_", 0.0),
        reference=reference,
        selection=_checked_selection(meta.get("selection_"), folder / DETECTOR),
        collapsed=_checked_flag(meta, "collapsed_", folder / DETECTOR),
        diverged=_checked_flag(meta, "diverged_", folder / DETECTOR),
        **_checked_inputs(meta, model.input_shape, folder / DETECTOR),
    )


def _checked_flag(meta: dict[str, Any], key: str, path: Path) -> bool | None:
    """A saved true/false flag, or None where the file predates it."""
    value = meta.get(key)
    if value is not None and not isinstance(value, bool):
        raise DataError(f"{path}: {key} must be true or false, got {value!r}; save the detector again")
    return value


def _checked_selection(selection: Any, path: Path) -> list[dict[str, Any]] | None:
    """``model="auto"``'s candidate list as saved: a list of {model, scorer, synthetic_auroc, ...} or absent."""
    if selection is None:
        return None

    def valid(c: Any) -> bool:
        auroc = c.get("synthetic_auroc") if isinstance(c, dict) else None
        number = auroc is None or (isinstance(auroc, (int, float)) and not isinstance(auroc, bool))
        return isinstance(c, dict) and isinstance(c.get("model"), str) and isinstance(c.get("scorer"), str) and number

    if not isinstance(selection, list) or not selection or not all(valid(c) for c in selection):
        raise DataError(
            f"{path}: selection_ must be a list of candidates, each with a model, a scorer and a numeric "
            "synthetic_auroc (or null); save it again"
        )
    return selection


def _checked_scores(path: Path, threshold: float) -> np.ndarray:
    """The saved training scores, after checking they are finite and that the threshold lies within their range
    (a threshold far beyond every score flags everything or nothing: the file was changed)."""
    try:
        scores = read_array(path)
    except FileNotFoundError:
        raise DataError(f"{path} is missing; save the detector again") from None
    if scores.ndim != 1 or not len(scores) or not np.issubdtype(scores.dtype, np.number):
        raise DataError(f"{path}: expected a non-empty 1-d array of scores; save the detector again")
    scores = scores.astype(np.float64)
    if not np.isfinite(scores).all():
        raise DataError(
            f"{path}: the saved training scores are not all finite; the model diverged or the file "
            "was changed: train it again"
        )
    low, high = scores.min(), scores.max()
    margin = max(high - low, abs(high), 1.0)
    if not low - margin <= threshold <= high + margin:
        raise DataError(
            f"{path.parent / DETECTOR}: threshold_ {threshold:g} lies far outside the training scores "
            f"[{low:g}, {high:g}]; the file was changed: save the detector again"
        )
    return scores


def _checked_reference(path: Path, model: Autoencoder) -> np.ndarray:
    """The saved training codes of the latent scores, after checking their shape (M >= 2 codes of the model's
    latent width) and that they are finite."""
    codes = read_array(path)
    width = model.config.latent_dim
    if codes.ndim != 2 or len(codes) < 2 or codes.shape[1] != width or not np.issubdtype(codes.dtype, np.floating):
        raise DataError(f"{path}: expected at least 2 codes of width {width}, got an array of shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise DataError(f"{path}: the saved training codes are not all finite; the file was changed")
    return codes


def _refuse_failed_run(folder: Path) -> None:
    """A run folder whose run diverged yields no detector (its scores measure nothing); a collapsed one loads
    with a warning (its scores are distances to the mean)."""
    if not (folder / METRICS).exists():
        return  # a Detector.save folder: no run record
    metrics = read_metrics(folder)
    if metrics.get("diverged"):
        raise DataError(
            f"the run in {folder} diverged ({metrics['diverged']}); its model scores nothing: train it "
            "again, e.g. with a lower learning rate"
        )
    if metrics.get("collapsed"):
        log.warning(
            "the run in %s collapsed: its model gives one reconstruction for every input, so its scores "
            "are distances to the mean",
            folder,
        )


def _checked_detector_json(path: Path) -> dict[str, Any]:
    """``detector.json`` after checking its keys, threshold, scorer and score options."""
    meta = read_json(path)
    if not isinstance(meta, dict) or not {"params", "threshold_", "scaler"} <= set(meta):
        raise DataError(
            f"{path}: expected a mapping with params, threshold_ and scaler; the file was not "
            "written by aecompare or was changed"
        )
    unknown = sorted(set(meta) - set(DETECTOR_KEYS))
    if unknown:
        raise DataError(f"{path}: unknown key {unknown[0]!r}; valid keys are: {', '.join(DETECTOR_KEYS)}")
    if meta.get("format_version", 1) not in (1, FORMAT_VERSION):
        raise DataError(
            f"{path}: format_version {meta['format_version']!r}, this aecompare reads up to "
            f"{FORMAT_VERSION}; save the detector again with this version"
        )
    threshold = meta["threshold_"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
        raise DataError(f"{path}: threshold_ must be a finite number, got {threshold!r}")
    params = meta["params"] if isinstance(meta["params"], dict) else {}
    scorer = meta.get("scorer", params.get("scorer", params.get("score", "mse")))
    try:
        parts = score_components(scorer)
    except ConfigError:
        parts = ()
    if not isinstance(meta["params"], dict) or not parts:
        raise DataError(
            f"{path}: params must be a mapping and the scorer one of {', '.join(SCORERS)} (or several "
            f"joined by '+'), got {scorer!r}"
        )
    options = meta.get("score_options") or {}
    for key, value in options.items():
        kind = SCORE_OPTION_TYPES.get(key)
        if kind is None or not isinstance(value, kind) or isinstance(value, bool):
            raise DataError(
                f"{path}: score_options.{key} = {value!r} is not valid; valid options are "
                f"{', '.join(f'{k} ({t.__name__})' for k, t in SCORE_OPTION_TYPES.items())}"
            )
    if not 1 <= options.get("n_samples", 1) <= MAX_SAMPLES:
        raise DataError(f"{path}: score_options.n_samples must be 1 to {MAX_SAMPLES}, got {options['n_samples']}")
    problem = check_standardisation(scorer, options.get("standardisation")) if len(parts) > 1 else ""
    if problem:
        raise DataError(f"{path}: score_options.standardisation of the combined score {scorer!r}: {problem}")
    return meta


def _checked_inputs(meta: dict[str, Any], input_shape: tuple[int, ...], path: Path) -> dict[str, Any]:
    """The loader's transform, the feature names and the training input range of ``detector.json`` (absent in
    folders of aecompare 0.2.0 and before: the identity, no names, no range), checked against the input shape."""
    try:
        transform = LoaderTransform.from_dict(meta.get("transform") or {})
        input_range = InputRange.from_dict(meta["input_range"]) if meta.get("input_range") is not None else None
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None
    names = meta.get("feature_names")
    if names is not None and (
        not isinstance(names, list)
        or len(input_shape) != 1
        or len(names) != input_shape[0]
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
    ):
        raise DataError(
            f"{path}: feature_names must be {input_shape[0] if len(input_shape) == 1 else 'no'} "
            "distinct strings, one per column of the model's input"
        )
    if input_range is not None and input_range.low.shape != ((input_shape[0],) if len(input_shape) == 1 else ()):
        raise DataError(f"{path}: input_range does not fit inputs of shape {tuple(input_shape)}")
    return {
        "transform": transform,
        "feature_names": tuple(names) if names is not None else None,
        "input_range": input_range,
    }


def _checked_scaler(values: Any, input_shape: tuple[int, ...], path: Path) -> Scaler:
    """The saved input scaling, after checking its kind, finite offsets and positive scales of a fitting shape."""
    if not isinstance(values, dict) or values.get("kind") not in SCALINGS or not {"offset", "scale"} <= set(values):
        raise DataError(f"{path}: scaler must give kind (one of {', '.join(SCALINGS)}), offset and scale")
    try:
        scaler = Scaler.from_dict(values)
        offset, scale = np.asarray(scaler.offset, dtype=np.float64), np.asarray(scaler.scale, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: scaler offset and scale must be numbers ({e})") from None
    if not np.isfinite(offset).all() or not np.isfinite(scale).all() or (scale <= 0).any():
        raise DataError(f"{path}: the scaler needs finite offsets and positive, finite scales")
    if (scale < SCALE_BOUNDS[0]).any() or (scale > SCALE_BOUNDS[1]).any() or (np.abs(offset) > SCALE_BOUNDS[1]).any():
        raise DataError(
            f"{path}: the scaler's scales lie outside [{SCALE_BOUNDS[0]:g}, {SCALE_BOUNDS[1]:g}] (or an "
            "offset beyond it), which turns inputs into infinities; the file was changed"
        )
    if offset.ndim and (offset.shape != scale.shape or offset.shape != tuple(input_shape[-offset.ndim :])):
        raise DataError(f"{path}: the scaler's {offset.shape} values do not fit inputs of shape {input_shape}")
    return scaler


@dataclass
class RunRecord:
    """Everything one finished grid run writes (see the module's table). A seed ensemble's record has no
    detector of its own: its ``members`` are full run records, written to ``member-<i>/``."""

    config: dict[str, Any]  # with "settings" and "settings_hash"
    detector: DetectorFiles | None
    scores: dict[str, np.ndarray]
    metrics: dict[str, Any]
    examples: dict[str, np.ndarray] | None = None
    codes: dict[str, np.ndarray] | None = None
    members: list[RunRecord] = field(default_factory=list)
    ensemble: EnsembleFiles | None = None  # a seed ensemble's standardisation and threshold


def member_dir(run_dir: Path, index: int) -> Path:
    """Where member ``index`` of a seed-ensemble run lies: a run folder of its own, loadable as a Detector."""
    return run_dir / f"{MEMBER}{int(index)}"


def member_dirs(run_dir: Path) -> list[Path]:
    """The member folders of a seed-ensemble run, in order (empty for a single model)."""
    members: list[Path] = []
    while (member := member_dir(run_dir, len(members))).is_dir():
        members.append(member)
    return members


def _write_record(folder: Path, record: RunRecord) -> None:
    """Every file of ``record`` into the new folder ``folder``, its members' folders first, metrics.json last."""
    folder.mkdir(parents=True)
    for i, member in enumerate(record.members):
        _write_record(member_dir(folder, i), member)
    write_json(folder / CONFIG, record.config)
    atomic_write_bytes(folder / SCORES, arrays_bytes(record.scores, compressed=True))
    if record.examples is not None:
        atomic_write_bytes(folder / EXAMPLES, arrays_bytes(record.examples, compressed=True))
    if record.codes is not None:
        atomic_write_bytes(folder / CODES, arrays_bytes(record.codes, compressed=True))
    if record.detector is not None:
        write_json(folder / HISTORY, record.detector.history)
        write_detector(folder, record.detector)
    if record.ensemble is not None:
        write_ensemble(folder, record.ensemble, members=False)
    write_json(folder / METRICS, record.metrics)  # written last: its presence marks a finished run


def write_run(experiment_dir: Path, relative: Path, record: RunRecord) -> Path:
    """Write ``record`` to ``experiment_dir / relative``: into a temporary folder first, ``metrics.json`` last,
    then put in place in one step (replacing a run there). Returns the run folder."""
    final = inside(experiment_dir, experiment_dir / relative)
    partial = final.with_name(f".{final.name}{PARTIAL}{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial)
    _write_record(partial, record)
    replace_folder(partial, final)
    return final


def run_files(record: RunRecord) -> dict[str, bytes]:
    """Every file of ``record``'s run folder as bytes, by its path inside the folder (``member-0/...`` for an
    ensemble's members): what a worker without a shared filesystem sends back."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_run(Path(tmp), Path("run"), record)
        return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def write_files(experiment_dir: Path, relative: Path, files: dict[str, bytes]) -> Path:
    """Put a run folder's files (from :func:`run_files`) at ``experiment_dir / relative``, as :func:`write_run`
    does: a temporary folder, ``metrics.json`` last, then in place in one step."""

    def malformed(name: str) -> bool:  # only plain names, or member-<i>/<plain name>
        parts = name.split("/")
        return (
            not 1 <= len(parts) <= 2
            or any(not part or part.startswith(".") for part in parts)
            or (len(parts) == 2 and not (parts[0].startswith(MEMBER) and parts[0][len(MEMBER) :].isdigit()))
        )

    if METRICS not in files or any(malformed(name) for name in files):
        raise DataError(f"a worker sent back an incomplete or malformed run folder for {relative}")
    final = inside(experiment_dir, experiment_dir / relative)
    partial = final.with_name(f".{final.name}{PARTIAL}{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    for name in sorted(files, key=lambda n: n == METRICS):  # the run's own metrics.json last
        target = partial / name
        target.parent.mkdir(exist_ok=True)
        atomic_write_bytes(target, files[name])
    replace_folder(partial, final)
    return final


def clean_partials(experiment_dir: Path) -> int:
    """Delete the temporary folders of runs a killed process left behind (call while holding the folder's
    lock, so no live writer owns them); returns how many went."""
    stale = [p for p in experiment_dir.rglob(f".*{PARTIAL}*") if p.is_dir()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def is_finished(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a finished run."""
    return (run_dir / METRICS).exists()


def read_config(run_dir: Path) -> dict[str, Any]:
    """A run's ``config.json``."""
    return read_json(run_dir / CONFIG)


def read_settings(run_dir: Path) -> dict[str, Any]:
    """A run's resolved settings (model, train, evaluation, dataset, seed, aecompare's major version).

    Raises:
        DataError: for a run folder written before runs recorded their settings (aecompare 0.1).
    """
    settings = read_config(run_dir).get("settings")
    if settings is None:
        raise DataError(
            f"{run_dir} was written by aecompare 0.1 and records no settings; run the experiment "
            "again with --force (or into another --output) to rewrite it"
        )
    return settings


def settings_scorer(settings: dict[str, Any]) -> str:
    """The scorer of a run's settings (``evaluation.scorer``; ``evaluation.score`` in aecompare 0.2's folders)."""
    evaluation = settings["evaluation"]
    return evaluation.get("scorer", evaluation.get("score", "mse"))


def model_folder(run_dir: Path) -> Path:
    """The folder holding a run's model: the run folder, or a seed ensemble's first member (its members share
    the model config and the input scaling)."""
    return (
        member_dir(run_dir, 0) if not (run_dir / MODEL_CONFIG).exists() and member_dir(run_dir, 0).exists() else run_dir
    )


def read_detector_scaling(run_dir: Path) -> str:
    """The kind of input scaling a run's detector applies (``standard``, ``none``, ...), without its model."""
    return str(read_json(model_folder(run_dir) / DETECTOR)["scaler"]["kind"])


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """A run's ``metrics.json``."""
    return read_json(run_dir / METRICS)


def read_history(run_dir: Path) -> list[dict[str, float]] | None:
    """A run's per-epoch history, or None when it has none."""
    return read_json(run_dir / HISTORY) if (run_dir / HISTORY).exists() else None


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    return read_arrays(path) if path.exists() else None


def read_scores(run_dir: Path) -> dict[str, np.ndarray] | None:
    """A run's test and validation scores, labels, groups and threshold; None when absent."""
    return _read_npz(run_dir / SCORES)


def read_examples(run_dir: Path) -> dict[str, np.ndarray] | None:
    """A run's example inputs and reconstructions; None when absent (tables)."""
    return _read_npz(run_dir / EXAMPLES)


def read_codes(run_dir: Path) -> dict[str, np.ndarray] | None:
    """The codes of a run's normal training data (``mu``, and ``std`` for a VAE); None when absent."""
    return _read_npz(run_dir / CODES)


def read_model_config(run_dir: Path) -> dict[str, Any]:
    """A run's saved model config and input shape (``model.json``), without loading the weights."""
    return read_json(model_folder(run_dir) / MODEL_CONFIG)


def load_run_model(run_dir: str | Path) -> tuple[Autoencoder, dict[str, np.ndarray]]:
    """A run folder's model and its training codes (for ``aecompare inspect``).

    Raises:
        DataNotFoundError: when ``run_dir`` is not a finished run with codes.
    """
    run_dir = Path(run_dir)
    if not (run_dir / MODEL_CONFIG).exists():
        hint = (
            f"it is a seed ensemble: pass one of its members, e.g. {member_dir(run_dir, 0)}"
            if member_dir(run_dir, 0).exists()
            else "pass a run folder such as runs/patuzzo-lines/lines/A1/normal-line/seed-0"
        )
        raise DataNotFoundError(f"{run_dir} holds no {MODEL_CONFIG}; {hint}")
    codes = read_codes(run_dir)
    if codes is None:
        raise DataNotFoundError(
            f"{run_dir / CODES} not found: the run has no dense code (latent_dim 0) or was "
            "written before the inspection tools; run the experiment again into a new folder"
        )
    return load_model(run_dir), codes


def finished_runs(experiment_dir: Path) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(run folder, config, metrics) of the finished runs the experiment asked for last (its
    ``experiment.json`` lists them), in a stable order; runs left from other settings are not included."""
    listed = read_json(experiment_dir / EXPERIMENT).get("runs") if (experiment_dir / EXPERIMENT).exists() else None
    if listed is None:  # an experiment folder written before runs were listed
        candidates = sorted(p.parent for p in experiment_dir.glob(f"*/*/normal-*/seed-*/{METRICS}"))
    else:
        candidates = sorted(experiment_dir / r for r in listed)
    for run_dir in candidates:
        if is_finished(run_dir):
            yield run_dir, read_config(run_dir), read_metrics(run_dir)
