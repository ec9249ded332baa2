"""scikit-learn's own estimator checks on the Detector, with each check it is excused from and why."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from aecompare import Detector
from aecompare.errors import DataError, DataWarning

# PyOD's conventions, kept on purpose (docs/library.md): the checks of scikit-learn's own outlier detectors want
# predict in {-1, +1} (inliers +1) and a decision_function that is higher for inliers.
PYOD_LABELS = (
    "labels are PyOD's, 1 for an anomaly and 0 for normal, where scikit-learn's outlier detectors give -1 and +1; "
    "its other outlier checks (scores, shapes, malformed input) pass"
)
EXPECTED_FAILED_CHECKS = {
    "check_outliers_fit_predict": PYOD_LABELS,
    "check_outliers_train": PYOD_LABELS,
    "check_do_not_raise_errors_in_init_or_set_params": (
        "__init__ takes **deprecated only to accept the old name score= for one release; the check passes a "
        "keyword called 'deprecated', which is refused like any unknown argument"
    ),
    "check_methods_subset_invariance": (
        "float32 matrix products on the CPU round the last bit differently with the number of rows, so a "
        "reconstruction of a sample scored in a batch and alone differs by ~2e-8 and its score by ~1e-7: the "
        "check's own tolerance. It passed or failed by chance on where a sample's score lies; decision_function's "
        "batches are otherwise independent (tests/test_scoring.py checks scores per sample)"
    ),
}


def test_detector_passes_scikit_learns_estimator_checks() -> None:
    logging.disable(logging.WARNING)  # tiny 2-epoch models collapse on purpose-built check data; that is fine
    try:
        results = check_estimator(
            Detector(model="mlp-ae", epochs=2, random_state=0),
            expected_failed_checks=EXPECTED_FAILED_CHECKS,
            on_fail=None,
        )
    finally:
        logging.disable(logging.NOTSET)
    failed = [f"{r['check_name']}: {r['exception']}" for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 38


def test_scikit_learn_sees_an_outlier_detector_and_tunes_it_by_auroc_with_shuffled_folds(table_data) -> None:
    from sklearn.base import is_outlier_detector
    from sklearn.metrics import get_scorer, roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    assert is_outlier_detector(Detector())
    normal, anomalous = table_data
    X = np.concatenate([normal, anomalous])  # stored normal rows first, as tables often are
    y = np.repeat([0, 1], [len(normal), len(anomalous)])
    det = Detector("mlp-ae", epochs=2, random_state=0).fit(normal)
    # the roc_auc scorer calls decision_function (higher = more anomalous), so it agrees with the AUROC by hand
    assert get_scorer("roc_auc")(det, X, y) == pytest.approx(roc_auc_score(y, det.decision_function(X)))
    search = GridSearchCV(
        Detector("mlp-ae", epochs=2, random_state=0),
        {"scorer": ["mse", "latent_knn"]},
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=2, shuffle=True, random_state=0),
    ).fit(X, y)
    # each fold's AUROC is defined (both classes in every shuffled fold) and finds the anomalies off the plane
    assert (search.cv_results_["mean_test_score"] > 0.9).all()
    assert set(np.unique(search.predict(X))) <= {0, 1}  # PyOD's labels, not scikit-learn's -1/+1


def test_it_works_in_a_pipeline_whose_score_is_scikit_learns(table_data) -> None:
    normal, anomalous = table_data
    pipe = make_pipeline(StandardScaler(), Detector("mlp-ae", epochs=2, random_state=0)).fit(normal)
    assert pipe.predict(anomalous).shape == (len(anomalous),)
    assert set(np.unique(pipe.predict(np.concatenate([normal, anomalous])))) <= {0, 1}


def test_the_old_score_argument_still_works_with_a_warning(table_data) -> None:
    with pytest.warns(FutureWarning, match="scorer="):
        det = Detector("mlp-ae", epochs=1, score="mae", random_state=0)
    assert det.scorer == "mae"
    assert "score" not in det.get_params()


def test_labels_are_pyods_and_probabilities_and_confidences_are_bounded(table_data) -> None:
    normal, anomalous = table_data
    det = Detector("mlp-ae", epochs=5, random_state=0, contamination=0.1)
    labels = det.fit_predict(normal)
    np.testing.assert_array_equal(labels, det.labels_)
    np.testing.assert_array_equal(det.predict(normal), labels)
    assert set(np.unique(labels)) == {0, 1}
    x = np.concatenate([normal[:20], anomalous])
    for method in ("linear", "unify"):
        proba = det.predict_proba(x, method=method)
        assert proba.shape == (len(x), 2)
        np.testing.assert_allclose(proba.sum(1), 1.0)
        assert proba[20:, 1].mean() > proba[:20, 1].mean()  # anomalies look more anomalous
    confidence = det.predict_confidence(x)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    labels, with_confidence = det.predict(x, return_confidence=True)  # PyOD's signature
    np.testing.assert_array_equal(labels, det.predict(x))
    np.testing.assert_array_equal(with_confidence, confidence)


def test_reordered_dataframe_columns_are_refused_also_after_save_and_load(table_data, tmp_path) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    normal = table_data[0]
    frame = pd.DataFrame(normal, columns=[f"c{i}" for i in range(normal.shape[1])])
    det = Detector("mlp-ae", epochs=1, random_state=0).fit(frame)
    assert list(det.feature_names_in_) == list(frame.columns)
    with pytest.raises(DataError, match="feature names"):
        det.decision_function(frame[frame.columns[::-1]])
    loaded = Detector.load(det.save(tmp_path / "det"))
    assert list(loaded.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(loaded.decision_function(frame), det.decision_function(frame))
    with pytest.raises(DataError, match="feature names"):
        loaded.decision_function(frame[frame.columns[::-1]])


def test_a_dataframe_far_outside_the_training_range_warns_naming_its_column(table_data) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    normal = table_data[0]
    frame = pd.DataFrame(normal, columns=[f"c{i}" for i in range(normal.shape[1])])
    det = Detector("mlp-ae", epochs=1, random_state=0).fit(frame)
    shifted = frame.copy()
    shifted["c2"] = shifted["c2"] * 1000 + 1e4  # one column scaled differently, in every row
    with pytest.warns(DataWarning, match=r"inputs lie far outside the training range \(column 'c2' spans"):
        det.decision_function(shifted)


def test_sparse_input_gets_a_clear_message(table_data) -> None:
    from scipy.sparse import csr_matrix

    with pytest.raises(DataError, match="[Ss]parse"):
        Detector("mlp-ae", epochs=1).fit(csr_matrix(table_data[0]))
