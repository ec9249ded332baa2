"""Dropout, batch normalisation, input noise and robust scaling through the Detector's fitting path: they
train, reproduce with a seed, save and load, and train one model at a time where stacking would mix them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecompare import Detector
from aecompare.errors import ConfigError
from aecompare.models import build_model
from aecompare.train.loop import TrainConfig, fit
from aecompare.train.members import members_unsupported

REGULARISED = [{"dropout": 0.2}, {"batch_norm": True}, {"input_noise": 0.2}]


@pytest.mark.parametrize("overrides", REGULARISED)
def test_a_regularised_detector_reproduces_saves_and_loads(overrides: dict, table_data, tmp_path) -> None:
    normal, anomalous = table_data
    params = {"hidden": (16,), "latent_dim": 8, **overrides}
    make = lambda: Detector("ae", epochs=8, random_state=3, model_params=params)  # noqa: E731
    det = make().fit(normal)
    scores = det.decision_function(anomalous)
    np.testing.assert_array_equal(make().fit(normal).decision_function(anomalous), scores)
    assert scores.mean() > det.decision_function(normal[:30]).mean()
    det.save(tmp_path / "d")
    np.testing.assert_array_equal(Detector.load(tmp_path / "d").decision_function(anomalous), scores)


@pytest.mark.parametrize("overrides", REGULARISED)
def test_regularised_members_train_one_at_a_time(overrides: dict, table_data) -> None:
    models = [build_model("ae", (6,), hidden=(8,), **overrides) for _ in range(2)]
    assert "one model at a time" in members_unsupported(models, TrainConfig())
    normal, _ = table_data
    det = Detector("ae", epochs=3, random_state=0, ensemble=2, model_params={"hidden": (8,), **overrides}).fit(normal)
    assert len(det.members_) == 2


def test_batch_norm_skips_a_last_batch_of_one_row_and_refuses_a_single_row() -> None:
    torch.manual_seed(0)
    model = build_model("ae", (4,), hidden=(8,), latent_dim=2, batch_norm=True)
    result = fit(model, torch.randn(9, 4), None, TrainConfig(epochs=2, batch_size=4), seed=0)  # batches 4, 4, 1
    assert len(result.history) == 2
    with pytest.raises(ConfigError, match="batch_norm needs at least 2 training rows"):
        fit(build_model("ae", (4,), batch_norm=True), torch.randn(1, 4), None, TrainConfig(epochs=1), seed=0)


def test_robust_scaling_is_fitted_on_the_training_part_and_saved(table_data, tmp_path) -> None:
    normal, anomalous = table_data
    det = Detector("ae", epochs=3, random_state=0, scaling="robust", model_params={"hidden": (8,)}).fit(normal)
    assert det.scaler_.kind == "robust"
    assert det.get_params()["scaling"] == "robust"
    det.save(tmp_path / "d")
    loaded = Detector.load(tmp_path / "d")
    assert loaded.scaler_.kind == "robust"
    assert loaded.scaling == "robust"
    np.testing.assert_array_equal(loaded.decision_function(anomalous), det.decision_function(anomalous))
    assert Detector("ae", epochs=3, random_state=0).fit(normal).scaler_.kind == "standard"  # "auto" on a table


def test_an_unknown_scaling_lists_the_valid_ones(table_data) -> None:
    with pytest.raises(ConfigError, match="robust"):
        Detector(scaling="quantile").fit(table_data[0])
