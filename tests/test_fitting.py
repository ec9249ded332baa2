"""The one threshold policy of the fitting path."""

from __future__ import annotations

import numpy as np
import pytest

from aecompare.errors import DataError
from aecompare.fitting import normal_threshold


def test_the_threshold_is_the_one_minus_contamination_quantile_of_normal_scores() -> None:
    assert normal_threshold(np.arange(101.0), 0.05) == pytest.approx(95.0)
    assert normal_threshold(np.array([1.0, 3.0]), 0.5) == pytest.approx(2.0)
    # the grid's threshold_percentile: 95 -> contamination 1 - 95/100, the same value as numpy's 95th percentile
    scores = np.random.default_rng(0).normal(size=1000)
    assert normal_threshold(scores, 1.0 - 95.0 / 100.0) == np.percentile(scores, 95.0)


def test_the_threshold_needs_normal_scores_and_a_contamination_in_range() -> None:
    with pytest.raises(DataError, match="no normal scores"):
        normal_threshold(np.array([]), 0.05)
    with pytest.raises(DataError, match="contamination must be within"):
        normal_threshold(np.arange(5.0), 1.5)


def test_a_trainings_component_scores_are_computed_once_per_data(monkeypatch) -> None:
    """The runs of a grid cell share one training and overlap in scorers: each component runs once per data."""
    import aecompare.fitting as fitting
    from aecompare.fitting import FitSettings, finish_detector, train_model
    from aecompare.scoring import score
    from aecompare.train import TrainConfig

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    settings = FitSettings(model="vae", model_params={"hidden": (8,), "latent_dim": 2}, train=TrainConfig(epochs=1))
    trained = train_model(x[:90], x[90:], settings, seed=0)
    calls: list[tuple[str, int]] = []
    original = fitting.component_scores

    def counted(model, data, scorer, **kwargs):
        calls.append((scorer, len(data)))
        return original(model, data, scorer, **kwargs)

    monkeypatch.setattr(fitting, "component_scores", counted)
    first = finish_detector(trained, FitSettings(**{**vars(settings), "scorer": "mse+latent_knn"}))
    second = finish_detector(trained, FitSettings(**{**vars(settings), "scorer": "loss+latent_knn"}))
    computed = [(p, n) for scorer, n in calls for p in scorer.split("+")]
    assert sorted(computed) == sorted({(p, n) for p, n in computed})  # nothing computed twice
    assert {p for p, _ in computed} == {"mse", "latent_knn", "loss"}
    options = second.files.score_options
    direct = score(trained.model, trained.xv, "loss+latent_knn", **options, reference=second.files.reference)
    np.testing.assert_allclose(second.val_scores, direct, rtol=1e-12)  # the cache changes no number
    assert first.files.score_options["standardisation"]["latent_knn"] == options["standardisation"]["latent_knn"]


def test_splits_of_different_sizes_train_each_on_its_own_data_and_scaler() -> None:
    from aecompare.fitting import FitSettings, train_on_splits
    from aecompare.train import TrainConfig

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(60, 4)).astype(np.float32), (5 + rng.normal(size=(80, 4))).astype(np.float32)
    settings = FitSettings(model="ae", model_params={"hidden": (8,), "latent_dim": 2}, train=TrainConfig(epochs=1))
    first, second = train_on_splits([(a[:50], a[50:]), (b[:70], b[70:])], settings, seeds=[[0, 1], [2]])
    assert [t.seed for t in first] == [0, 1]
    assert [t.seed for t in second] == [2]
    assert len(first[0].xt) == 50
    assert len(second[0].xt) == 70
    assert abs(float(second[0].xt.mean())) < 0.5  # standardised on its own split (b's columns lie near 5)
