"""The scikit-learn / PyOD style Detector on tables and images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from aecompare import Detector
from aecompare.errors import ConfigError, DataError, DataNotFoundError

SMALL = {"hidden": (32, 16), "latent_dim": 2}


def test_init_only_stores_arguments() -> None:
    det = Detector("ae", epochs=3, contamination=0.2, model_params={"latent_dim": 2})
    assert det.get_params()["contamination"] == 0.2
    assert not [k for k in vars(det) if k.endswith("_")]
    assert clone(det).get_params() == det.get_params()


def test_fit_returns_self_and_separates_table_anomalies(table_data) -> None:
    normal, anomalous = table_data
    det = Detector("vae", epochs=60, lr=3e-3, model_params=SMALL, random_state=0, scorer="mse")
    assert det.fit(normal) is det
    assert det.decision_scores_.shape == (len(normal),)
    np.testing.assert_array_equal(det.labels_, det.decision_scores_ > det.threshold_)
    scores = det.decision_function(np.concatenate([normal[:30], anomalous]))
    assert roc_auc_score(np.r_[np.zeros(30), np.ones(len(anomalous))], scores) > 0.9
    assert set(det.predict(anomalous)) <= {0, 1}
    assert det.predict(anomalous).mean() > 0.8


@pytest.mark.parametrize("shape", [(40, 8, 8), (40, 1, 8, 8), (40, 3, 8, 8)])
def test_images_in_any_accepted_layout(shape: tuple[int, ...]) -> None:
    x = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
    det = Detector("ae", epochs=2, model_params={"channels": (4,), "latent_dim": 2}, random_state=0).fit(x)
    assert det.decision_function(x).shape == (40,)
    assert det.input_shape_ == ((1, 8, 8) if len(shape) == 3 else shape[1:])


def test_torch_tensors_are_accepted(table_data) -> None:
    normal, _ = table_data
    det = Detector("ae", epochs=1, random_state=0).fit(torch.from_numpy(normal))
    assert np.array_equal(det.decision_function(torch.from_numpy(normal)), det.decision_function(normal))


@pytest.mark.parametrize("model", ["ae", "vae", "aae"])
def test_save_then_load_scores_identically(model: str, table_data, tmp_path: Path) -> None:
    normal, anomalous = table_data
    det = Detector(model, epochs=3, model_params=SMALL, random_state=1).fit(normal)
    det.save(tmp_path / "det")
    loaded = Detector.load(tmp_path / "det")
    assert np.array_equal(det.decision_function(anomalous), loaded.decision_function(anomalous))
    assert loaded.threshold_ == det.threshold_
    assert np.array_equal(loaded.decision_scores_, det.decision_scores_)
    assert loaded.get_params() == det.get_params()
    names = sorted(p.name for p in (tmp_path / "det").iterdir())
    # the default latent_knn score keeps the normal training codes beside the weights
    assert names == ["decision_scores.npy", "detector.json", "model.json", "model.safetensors", "reference_codes.npy"]


def test_the_threshold_is_the_contamination_quantile_of_the_held_out_validation_scores(table_data) -> None:
    from aecompare.data.split import validation_split

    normal, _ = table_data
    det = Detector("ae", epochs=5, contamination=0.1, validation_fraction=0.2, random_state=3).fit(normal)
    train_idx, val_idx = validation_split(len(normal), 0.2, 3)  # the one split of the Detector and the grid
    validation = det.decision_scores_[val_idx]
    assert det.threshold_ == pytest.approx(np.quantile(validation, 0.9))
    assert (validation > det.threshold_).mean() == pytest.approx(0.1, abs=1 / len(val_idx))
    np.testing.assert_array_equal(det.decision_function(normal[val_idx]), validation)  # scored as new data
    no_validation = Detector("ae", epochs=5, contamination=0.1, validation_fraction=0.0, random_state=3).fit(normal)
    assert no_validation.threshold_ == pytest.approx(np.quantile(no_validation.decision_scores_, 0.9))


def test_same_random_state_same_scores(table_data) -> None:
    normal, _ = table_data
    a, b = (Detector("vae", epochs=3, random_state=7).fit(normal).decision_scores_ for _ in range(2))
    assert np.array_equal(a, b)


def test_an_ensemble_scores_by_its_members_standardised_mean_and_saves_whole(table_data, tmp_path: Path) -> None:
    from aecompare.scoring import score

    normal, anomalous = table_data
    det = Detector("ae", epochs=5, ensemble=3, model_params=SMALL, random_state=1, scorer="mse").fit(normal)
    assert len(det.members_) == 3
    assert len(det.restart_losses_) == 3
    assert [m.params["random_state"] for m in det.members_] == [3, 4, 5]  # seed * N + i, as a grid's members
    test = np.concatenate([normal[:30], anomalous])
    parts = []
    for member, (mean, std) in zip(det.members_, det.member_standardisation_):
        raw = score(member.model, torch.from_numpy(member.scaler.transform(test)), "mse")
        parts.append((raw - mean) / std)
    scores = det.decision_function(test)
    np.testing.assert_allclose(scores, np.mean(parts, axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(det.predict(test), scores > det.threshold_)
    assert det.labels_.mean() == pytest.approx(0.1, abs=0.05)  # the threshold is the ensemble's, on its scale
    det.save(tmp_path / "ens")
    assert (tmp_path / "ens" / "ensemble.json").exists()
    assert (tmp_path / "ens" / "member-2" / "detector.json").exists()
    loaded = Detector.load(tmp_path / "ens")
    assert loaded.get_params() == det.get_params()
    np.testing.assert_allclose(loaded.decision_function(test), scores, rtol=1e-6)
    assert loaded.threshold_ == det.threshold_
    with pytest.raises(ConfigError, match="no single graph to export.*member-0"):
        loaded.to_onnx(tmp_path / "ens.onnx")


def test_saving_over_an_ensemble_or_a_detector_leaves_only_the_new_one_loadable(table_data, tmp_path: Path) -> None:
    import json

    normal, _ = table_data
    folder = tmp_path / "det"
    three = Detector("ae", epochs=1, ensemble=3, model_params=SMALL, random_state=0).fit(normal)
    two = Detector("ae", epochs=1, ensemble=2, model_params=SMALL, random_state=1).fit(normal)
    single = Detector("ae", epochs=1, model_params=SMALL, random_state=2).fit(normal)
    three.save(folder)
    two.save(folder)  # a smaller ensemble: member-2 of the old one must not be read as one of its members
    assert len(Detector.load(folder).members_) == 2
    assert not (folder / "member-2").exists()
    single.save(folder)  # the old ensemble.json must not win over the new detector
    loaded = Detector.load(folder)
    assert loaded.members_ is None
    np.testing.assert_allclose(loaded.decision_function(normal), single.decision_function(normal), rtol=1e-6)
    two.save(folder)
    assert len(Detector.load(folder).members_) == 2  # and the single detector's files no longer count
    meta = json.loads((folder / "ensemble.json").read_text())
    (folder / "ensemble.json").write_text(json.dumps({**meta, "train_seconds_": "soon"}))
    with pytest.raises(DataError, match="train_seconds_ must be a finite number"):
        Detector.load(folder)
    (folder / "ensemble.json").write_text(json.dumps({**meta, "standardisation": meta["standardisation"][:1]}))
    with pytest.raises(DataError, match=r"\[mean, std\].*for each of the 2 member folders"):
        Detector.load(folder)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ensemble": 3, "restarts": 2}, "choose one"),
        ({"ensemble": 101}, "ensemble must be at most 100"),
        ({"ensemble": 0}, "ensemble must be an integer of at least 1"),
    ],
)
def test_bad_ensemble_settings_are_refused(table_data, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Detector("ae", epochs=1, **params).fit(table_data[0])


def test_restarts_keep_the_model_with_the_lowest_validation_loss(table_data, tmp_path: Path) -> None:
    normal, _ = table_data
    det = Detector("vae", epochs=3, restarts=3, model_params=SMALL, random_state=2).fit(normal)
    assert len(det.restart_losses_) == 3
    assert len(set(det.restart_losses_)) == 3  # three different trainings (seeds 6, 7, 8)
    assert min(e["val_loss"] for e in det.history_) == pytest.approx(min(det.restart_losses_))  # the kept one's
    again = Detector("vae", epochs=3, restarts=3, model_params=SMALL, random_state=2).fit(normal)
    assert np.array_equal(again.decision_scores_, det.decision_scores_)
    det.save(tmp_path / "det")
    loaded = Detector.load(tmp_path / "det")
    assert loaded.get_params()["restarts"] == 3
    np.testing.assert_allclose(loaded.decision_function(normal), det.decision_function(normal), rtol=1e-6)


def test_unfitted_detector_raises_not_fitted(table_data) -> None:
    with pytest.raises(NotFittedError):
        Detector().decision_function(table_data[0])


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([["a", "b"], ["c", "d"]]), "must be numeric, got dtype <U1"),
        (np.zeros(5), "Reshape your data"),  # scikit-learn's own messages from here
        (np.zeros((0, 4)), r"Found array with 0 sample\(s\)"),
        (np.zeros((4, 8, 8, 3)), "looks channels-last"),
        (np.array([[1.0, np.nan], [0.0, 1.0], [np.inf, 2.0]]), "contains 2 NaN or infinite values .first in sample 0"),
        (np.zeros((1, 3)), r"1 sample\(s\) \(shape=\(1, 3\)\) while a minimum of 2 is required"),
    ],
)
def test_bad_input_is_a_clear_error(X: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message):
        Detector(epochs=1).fit(X)


def test_scoring_data_of_another_shape_is_a_clear_error(table_data) -> None:
    det = Detector("ae", epochs=1, random_state=0).fit(table_data[0])
    with pytest.raises(DataError, match="X has 5 features, but Detector is expecting 6 features"):
        det.decision_function(np.zeros((3, 5)))


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"model": "vea"}, ConfigError, "unknown model 'vea'; choose one of"),
        ({"contamination": 0.9}, ConfigError, r"contamination must be a number in \(0, 0.5\]"),
        ({"scorer": "psnr"}, ConfigError, "unknown scorer 'psnr'"),
        ({"model": "conv-ae"}, ConfigError, "convolutional backbone needs images"),
        ({"restarts": 0}, ConfigError, "restarts must be an integer of at least 1, got 0"),
    ],
)
def test_bad_parameters_are_clear_errors(params: dict, error: type, message: str, table_data) -> None:
    with pytest.raises(error, match=message):
        Detector(**{"epochs": 1, **params}).fit(table_data[0])


def test_load_from_a_folder_without_a_detector(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no saved detector"):
        Detector.load(tmp_path)


def test_detector_scores_by_reconstruction_probability(table_data) -> None:
    from sklearn.metrics import roc_auc_score

    from aecompare import Detector

    normal, anomalous = table_data
    det = Detector(model="fiorino-vae", scorer="reconstruction_probability", epochs=30, random_state=0).fit(normal)
    x_test = np.concatenate([normal[:30], anomalous])
    scores = det.decision_function(x_test)
    np.testing.assert_array_equal(scores, det.decision_function(x_test))  # no fresh sampling per call
    assert roc_auc_score(np.repeat([0, 1], [30, len(anomalous)]), scores) > 0.9


def test_auto_keeps_the_candidate_that_best_separates_synthetic_anomalies(table_data, tmp_path: Path) -> None:
    from aecompare.detector import AUTO_CANDIDATES

    normal, anomalous = table_data
    det = Detector("auto", epochs=15, random_state=0).fit(normal)
    assert [(c["model"], c["scorer"]) for c in det.selection_] == list(AUTO_CANDIDATES)
    best = max(det.selection_, key=lambda c: c["synthetic_auroc"])
    assert (det.model_.config.bottleneck == "gaussian") == (best["model"] == "vae")
    assert det.scorer_ == best["scorer"]
    alone = Detector(best["model"], epochs=15, random_state=0, scorer=best["scorer"]).fit(normal)
    np.testing.assert_array_equal(det.decision_function(anomalous), alone.decision_function(anomalous))
    assert det.chosen_model_ == best["model"]
    det.save(tmp_path / "auto")
    loaded = Detector.load(tmp_path / "auto")
    np.testing.assert_array_equal(loaded.decision_function(anomalous), det.decision_function(anomalous))
    assert loaded.selection_ == det.selection_  # the choice and every candidate's figure survive saving
    assert (loaded.chosen_model_, loaded.scorer_) == (det.chosen_model_, det.scorer_)
    assert not hasattr(alone, "selection_")
    meta_path = tmp_path / "auto" / "detector.json"
    meta = json.loads(meta_path.read_text())
    meta["selection_"] = [{"model": 3}]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="selection_ must be a list of candidates"):
        Detector.load(tmp_path / "auto")
    meta["selection_"] = [{"model": "ae", "scorer": "mse", "synthetic_auroc": "high"}]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="numeric synthetic_auroc"):
        Detector.load(tmp_path / "auto")
    ensemble = Detector("auto", epochs=3, ensemble=2, random_state=0).fit(normal)
    ensemble.save(tmp_path / "auto-ensemble")
    loaded = Detector.load(tmp_path / "auto-ensemble")
    assert len(loaded.members_) == 2
    assert loaded.selection_ == ensemble.selection_
    assert loaded.chosen_model_ == ensemble.chosen_model_
    with pytest.raises(ConfigError, match="set validation_fraction > 0"):
        Detector("auto", validation_fraction=0.0).fit(normal)
    with pytest.raises(ConfigError, match="chooses the scorer too"):
        Detector("auto", scorer="mse").fit(normal)


def test_the_default_is_the_tuned_ae_scored_by_latent_knn_and_its_blind_spot_is_real(table_data) -> None:
    """The defaults are issue 23's winner. A code-only score cannot see a row that leaves the normal manifold
    but encodes like a normal one; the reconstruction error can: this pins the trade-off the docs state."""
    det = Detector()
    assert (det.model, det.scorer, det.validation_fraction) == ("ae", "latent_knn", 0.2)
    normal, _ = table_data
    rng = np.random.default_rng(1)
    off = normal[:40] + rng.normal(size=(40, 6)).astype(np.float32) * 0.6  # off the plane, near it in projection
    y = np.r_[np.zeros(40), np.ones(40)]
    test = np.concatenate([normal[-40:], off])
    fitted = Detector(epochs=40, random_state=0, model_params=SMALL).fit(normal[:-40])
    assert fitted.scorer_ == "latent_knn"
    assert fitted.reference_codes_ is not None
    by_error = Detector(epochs=40, random_state=0, model_params=SMALL, scorer="mse").fit(normal[:-40])
    assert roc_auc_score(y, by_error.decision_function(test)) > roc_auc_score(y, fitted.decision_function(test))


def test_collapsed_and_diverged_are_attributes_that_survive_saving(table_data, tmp_path: Path) -> None:
    normal, _ = table_data
    healthy = Detector(epochs=20, random_state=0, model_params=SMALL).fit(normal)
    assert (healthy.collapsed_, healthy.diverged_) == (False, False)
    # a KL weight of 1000 pushes every code onto the prior: the decoder gives the mean row for every input
    collapsed = Detector("vae", epochs=5, random_state=0, model_params={**SMALL, "beta": 1000.0, "free_bits": 0.0})
    collapsed.fit(normal)
    assert collapsed.collapsed_ is True
    loaded = Detector.load(collapsed.save(tmp_path / "c"))
    assert (loaded.collapsed_, loaded.diverged_) == (True, False)
    meta = json.loads((tmp_path / "c" / "detector.json").read_text())
    del meta["collapsed_"], meta["diverged_"]  # a file saved before the flags were recorded
    (tmp_path / "c" / "detector.json").write_text(json.dumps(meta))
    assert Detector.load(tmp_path / "c").collapsed_ is None
    ensemble = Detector(epochs=3, ensemble=2, random_state=0, model_params=SMALL).fit(normal)
    assert Detector.load(ensemble.save(tmp_path / "e")).collapsed_ == ensemble.collapsed_
