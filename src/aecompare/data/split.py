"""The one-class split: normal training data, normal validation data, and a labelled test set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aecompare.data.sources import Dataset
from aecompare.errors import ConfigError, DataError


@dataclass
class OneClassSplit:
    """Everything one run sees. Only ``x_train`` and ``x_val`` (normal data) may feed a choice;
    ``y_test`` and ``group_test`` are for metrics alone."""

    dataset: str
    normal: tuple[str, ...]
    x_train: np.ndarray  # (N, *input_shape) normal
    x_val: np.ndarray  # (M, *input_shape) normal, for early stopping, checkpoints and thresholds
    x_test: np.ndarray  # (T, *input_shape)
    y_test: np.ndarray  # (T,) 1 = anomaly, 0 = normal
    group_test: np.ndarray  # (T,) each test sample's class name (the anomaly's group)
    masks_test: np.ndarray | None = None  # (T, H, W) defect masks in {0, 1}, NaN where unknown (MVTec layout)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape."""
        return tuple(self.x_train.shape[1:])


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The one way aecompare holds out validation data: a seeded permutation of ``n`` samples, the first
    ``round(fraction * n)`` (at most ``n - 1``: at least one training sample stays) for validation.

    Returns:
        (training indices, validation indices).
    """
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(int(round(fraction * n)), n - 1)
    return order[n_val:], order[:n_val]


def one_class_split(
    dataset: Dataset, normal: Sequence[str], *, val_fraction: float = 0.2, seed: int = 0
) -> OneClassSplit:
    """Split ``dataset`` with the classes ``normal`` as normal and every other class as anomalous.

    Args:
        dataset: a loaded :class:`Dataset`.
        normal: the names of the normal classes.
        val_fraction: the share of normal training data held out for validation (seeded by ``seed``).
        seed: the validation draw's seed.

    Raises:
        ConfigError: for an unknown class name or a bad fraction.
        DataError: when the normal classes have no training samples or the test set lacks a side.
    """
    normal = tuple(str(c) for c in normal)
    if not normal:
        raise ConfigError(f"{dataset.name}: name at least one normal class")
    for c in normal:
        if c not in dataset.class_names:
            raise ConfigError(f"{dataset.name}: unknown class {c!r}; classes are: {', '.join(dataset.class_names)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    for part, x in (("training", dataset.x_train), ("test", dataset.x_test)):
        bad = ~np.isfinite(x)
        if bad.any():
            first = int(np.flatnonzero(bad.reshape(len(x), -1).any(1))[0])
            raise DataError(
                f"{dataset.name}: the {part} data has {int(bad.sum())} NaN or infinite values "
                f"(first in sample {first}); clean the source files or drop those samples"
            )
    normal_idx = [dataset.class_names.index(c) for c in normal]
    x_normal = dataset.x_train[np.isin(dataset.y_train, normal_idx)]
    if len(x_normal) == 0:
        raise DataError(
            f"{dataset.name}: the normal class(es) {', '.join(normal)} have no training samples; "
            "choose classes present in the training data"
        )
    train_idx, val_idx = validation_split(len(x_normal), val_fraction, seed)
    y_test = (~np.isin(dataset.y_test, normal_idx)).astype(int)
    if y_test.min() == y_test.max():
        side = "anomalous" if y_test.min() == 0 else "normal"
        raise DataError(f"{dataset.name}: the test set has no {side} samples with normal classes {normal}")
    names = np.asarray(dataset.class_names)
    return OneClassSplit(
        dataset=dataset.name,
        normal=normal,
        x_train=x_normal[train_idx],
        x_val=x_normal[val_idx],
        x_test=dataset.x_test,
        y_test=y_test,
        group_test=names[dataset.y_test],
        masks_test=dataset.masks_test,
    )
