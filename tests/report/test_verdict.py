"""The verdict's statistics against scipy and scikit-posthocs on hand-made results tables: a clear win, a tie,
a three-model Friedman case, and Demšar's own worked critical difference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from aecompare.report.verdict import compare, headline, outcome_text, p_text, short


def _values(table: np.ndarray, names: str = "abcdef") -> dict[str, dict[int, float]]:
    """``{model: {block: value}}`` of a (blocks, models) table."""
    return {names[j]: {i: float(table[i, j]) for i in range(len(table))} for j in range(table.shape[1])}


def test_a_clear_two_model_win_is_wilcoxon_significant_with_scipys_p_value_and_interval() -> None:
    rng = np.random.default_rng(0)
    b = rng.uniform(0.80, 0.90, 12)
    a = b + rng.uniform(0.01, 0.03, 12)  # a beats b in every block
    v = compare({"b": dict(enumerate(b)), "a": dict(enumerate(a))})
    assert v.models == ["a", "b"]
    assert v.test == "Wilcoxon signed-rank"
    assert v.p_value == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert v.p_value < 0.05
    assert v.outcome == "wins"
    assert v.record == {"b": (12, 0, 0)}
    assert v.margin == pytest.approx(np.mean(a - b))
    low, high = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert v.interval == pytest.approx((low, high))
    assert headline(v, "digits").startswith("digits: a wins, significantly ahead of every other model")
    assert short(v).startswith(f"a wins (+{np.mean(a - b):.3f} over b; Wilcoxon")


def test_a_tie_is_said_as_plainly_as_a_win() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0.80, 0.90, 10)
    b = a + rng.normal(0, 0.01, 10)  # noise either way
    v = compare(_values(np.column_stack([a, b])))
    assert v.p_value == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert v.p_value >= 0.05
    assert v.outcome == "tie"
    assert outcome_text(v) == "no significant difference"
    assert "no significant difference between" in headline(v, "tables")


def test_equal_values_at_the_printed_precision_count_as_ties() -> None:
    a = np.array([0.9001, 0.9502, 0.8, 0.7])
    b = np.array([0.9003, 0.9498, 0.7, 0.6])  # equal at 3 decimals in the first two blocks
    v = compare(_values(np.column_stack([a, b])))
    assert v.record == {"b": (2, 2, 0)}


def test_three_models_are_compared_by_friedman_then_nemenyi_as_scipy_and_scikit_posthocs_do() -> None:
    rng = np.random.default_rng(2)
    table = rng.uniform(0.6, 0.9, (15, 3))
    table[:, 0] += 0.25  # a ahead in every block, b and c alike
    v = compare(_values(table))
    assert v.test == "Friedman"
    assert v.p_value == pytest.approx(stats.friedmanchisquare(*table.T).pvalue)
    ranks = np.mean([stats.rankdata(-row) for row in table], axis=0)
    assert [v.mean_ranks[m] for m in "abc"] == pytest.approx(ranks)
    sp = pytest.importorskip("scikit_posthocs", reason="scikit-posthocs is a test extra (make install-test)")
    nemenyi = sp.posthoc_nemenyi_friedman(table).to_numpy()
    assert v.pairwise_p["b"] == pytest.approx(nemenyi[0, 1])
    assert v.pairwise_p["c"] == pytest.approx(nemenyi[0, 2])
    assert v.leader == "a"
    assert max(nemenyi[0, 1], nemenyi[0, 2]) < 0.05
    assert v.outcome == "wins"


def test_the_critical_difference_is_demsars_worked_example() -> None:
    # Demšar (2006), section 3.2.2: four classifiers on 14 data sets, q_0.05 = 2.569, CD = 1.25
    table = np.random.default_rng(3).uniform(size=(14, 4))
    v = compare(_values(table))
    assert v.critical_difference == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 14)), abs=1e-3)


def test_a_leader_not_ahead_of_everyone_leads_and_the_headline_names_who_it_is_level_with() -> None:
    rng = np.random.default_rng(4)
    base = rng.uniform(0.7, 0.8, 20)
    table = np.column_stack([base + 0.051, base + 0.05 + rng.normal(0, 0.002, 20), base])  # a ~ b >> c
    v = compare(_values(table))
    assert v.better == {"b": False, "c": True}
    assert v.outcome == "leads"
    assert "significantly ahead of c but not of b" in headline(v, "x")
    assert outcome_text(v) == "a leads (significantly ahead of c, not of b)"
    assert short(v).startswith("a leads, significantly ahead of c, not of b (")


def test_blocks_without_a_value_for_every_model_are_left_out_and_counted() -> None:
    table = np.array([[0.9, 0.8], [0.95, 0.85], [0.9, math.nan]])
    v = compare(_values(table))
    assert (v.n_blocks, v.dropped) == (2, 1)
    assert "1 left out" in headline(v, "x")


def test_one_block_is_too_few_for_a_test_and_says_so() -> None:
    v = compare({"a": {0: 0.9}, "b": {0: 0.8}, "c": {0: 0.7}})
    assert v.test == ""
    assert v.p_value is None
    assert v.outcome == "tie"
    assert "too few paired runs for a test" in headline(v, "x")
    assert short(v) == "a ahead, too few runs for a test (+0.100 over b; n=1)"


def test_identical_models_tie_without_an_error_from_the_tests() -> None:
    table = np.tile([[0.9, 0.9, 0.9]], (5, 1))
    v = compare(_values(table))
    assert (v.p_value, v.outcome) == (1.0, "tie")
    assert compare(_values(table[:, :2])).p_value == 1.0


def test_fewer_than_two_models_or_no_shared_block_is_refused() -> None:
    with pytest.raises(ValueError, match="two or more models"):
        compare({"a": {0: 0.9}})
    with pytest.raises(ValueError, match="no block"):
        compare({"a": {0: 0.9}, "b": {1: 0.8}})


def test_a_grid_whose_model_diverged_everywhere_compares_the_others_and_skips_what_cannot_be_compared() -> None:
    from aecompare.studies.grid.verdicts import ALL_DATASETS, grid_verdicts
    from conftest import result_row

    def row(dataset: str, model: str, normal: str, seed: int, auroc: float, diverged: bool = False):
        return result_row(dataset=dataset, model=model, normal=normal, seed=seed, auroc=auroc, diverged=diverged)

    rows = [row("d", m, "0", s, 0.9 - 0.1 * i) for i, m in enumerate(("ae", "vae")) for s in range(3)]
    rows += [row("d", "aae", "0", s, math.nan, diverged=True) for s in range(3)]  # every aae run diverged
    rows += [row("e", "ae", "0", 0, 0.8), row("e", "vae", "1", 0, 0.7)]  # no normal class in common
    verdicts = grid_verdicts(rows, ["ae", "vae", "aae"])
    assert list(verdicts) == ["d"]  # e has nothing to pair; no "all datasets" from one dataset
    assert verdicts["d"].models == ["ae", "vae"]
    assert ALL_DATASETS not in verdicts


def test_a_p_value_is_never_rounded_across_the_significance_level() -> None:
    assert p_text(0.0498) == "p = 0.0498"  # not "0.05", which would read as not significant
    assert (p_text(0.027), p_text(0.0004), p_text(0.41)) == ("p = 0.027", "p < 0.001", "p = 0.41")
