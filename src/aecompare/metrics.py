"""Metrics as pure functions on arrays; anomaly (label 1) is the positive class, higher score = anomalous."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score, roc_curve

from aecompare.errors import DataError

POOLED = "all"


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), and at ``threshold`` (score > threshold: anomaly) precision, recall,
    F1 and the confusion counts ``tp``, ``fp``, ``tn``, ``fn``."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    if len(np.unique(labels)) != 2:
        raise DataError("metrics need both normal (0) and anomalous (1) samples")
    predicted = (scores > threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predicted, average="binary", pos_label=1, zero_division=0
    )
    return {
        "auroc": float(roc_auc_score(labels, scores)),
        "auprc": float(average_precision_score(labels, scores)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "tp": int(((predicted == 1) & (labels == 1)).sum()),
        "fp": int(((predicted == 1) & (labels == 0)).sum()),
        "tn": int(((predicted == 0) & (labels == 0)).sum()),
        "fn": int(((predicted == 0) & (labels == 1)).sum()),
        "n_normal": int((labels == 0).sum()),
        "n_anomalous": int((labels == 1).sum()),
    }


def metrics_by_group(
    labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float
) -> list[dict[str, float | str]]:
    """Metrics for all normals against each anomaly group in turn, then pooled (group ``"all"``).

    Args:
        labels: (N,) 1 for anomalies, 0 for normals.
        scores: (N,) anomaly scores.
        groups: (N,) each sample's group name (its class, or the kind of defect); used for anomalies.
        threshold: the decision threshold, from normal data only.

    Returns:
        One dict per group with a ``"group"`` key and the :func:`binary_metrics` keys.
    """
    labels, groups = np.asarray(labels).astype(int), np.asarray(groups).astype(str)
    normal = labels == 0
    rows = []
    for group in sorted(set(groups[~normal]), key=_natural_key):
        keep = normal | (groups == group)
        rows.append({"group": group, **binary_metrics(labels[keep], scores[keep], threshold)})
    rows.append({"group": POOLED, **binary_metrics(labels, scores, threshold)})
    return rows


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of the ROC curve."""
    fpr, tpr, _ = roc_curve(np.asarray(labels).astype(int), np.asarray(scores, dtype=float))
    return fpr, tpr


def _natural_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name)
