"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from aecompare.errors import DataError
from aecompare.metrics import binary_metrics, metrics_by_group

# Four normals, three anomalies. Ranking by score: a1(0.9) n1(0.8) a2(0.7) n2(0.4) a3(0.35) n3(0.3) n4(0.1)
LABELS = np.array([0, 0, 0, 0, 1, 1, 1])
SCORES = np.array([0.8, 0.4, 0.3, 0.1, 0.9, 0.7, 0.35])


def test_auroc_counts_correctly_ordered_pairs() -> None:
    # Pairs (anomaly > normal): a1 beats 4, a2 beats 3, a3 beats 2 -> 9 of 12.
    assert binary_metrics(LABELS, SCORES, 0.5)["auroc"] == pytest.approx(9 / 12)


def test_auprc_is_average_precision() -> None:
    # Precision at each anomaly's rank: a1 1/1, a2 2/3, a3 3/5 -> mean over the three anomalies.
    assert binary_metrics(LABELS, SCORES, 0.5)["auprc"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_precision_recall_f1_at_threshold() -> None:
    m = binary_metrics(LABELS, SCORES, 0.5)  # flagged: n1, a1, a2 -> TP 2, FP 1, FN 1
    assert (m["precision"], m["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert m["f1"] == pytest.approx(2 / 3)
    assert (m["n_normal"], m["n_anomalous"]) == (4, 3)


def test_score_equal_to_threshold_is_normal() -> None:
    assert binary_metrics(LABELS, SCORES, 0.9)["recall"] == 0.0


def test_metrics_need_both_classes() -> None:
    with pytest.raises(DataError, match="both normal"):
        binary_metrics(np.zeros(3), np.arange(3.0), 1.0)


def test_metrics_by_group_pairs_all_normals_with_each_group_then_pools() -> None:
    groups = np.array(["n", "n", "n", "n", "cat", "dog", "dog"])
    rows = metrics_by_group(LABELS, SCORES, groups, 0.5)
    assert [r["group"] for r in rows] == ["cat", "dog", "all"]
    cat, dog, pooled = rows
    assert cat["auroc"] == pytest.approx(4 / 4)  # a1 beats all 4 normals
    assert dog["auroc"] == pytest.approx((3 + 2) / 8)  # a2 beats 3, a3 beats 2
    assert (cat["n_anomalous"], dog["n_anomalous"], pooled["n_anomalous"]) == (1, 2, 3)
    assert pooled["auroc"] == pytest.approx(9 / 12)


def test_numeric_groups_sort_naturally() -> None:
    labels = np.array([0] + [1] * 3)
    groups = np.array(["0", "10", "9", "2"])
    assert [r["group"] for r in metrics_by_group(labels, np.arange(4.0), groups, 0.5)] == ["2", "9", "10", "all"]
