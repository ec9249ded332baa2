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
