"""Who wins, by how much and how sure: a paired comparison of models over blocks (a normal-class choice x a
seed, each model scored on the same split), as Demšar (2006) recommends for comparing classifiers.

Two models: the Wilcoxon signed-rank test on the paired differences. Three or more: the Friedman test on
the ranks within each block, then the Nemenyi post-hoc test of the leader against each other model, with
the critical difference of the mean ranks (drawn as Demšar's diagram). scipy computes every statistic and
p-value. "No significant difference" is a verdict like a win, and is said as plainly.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

ALPHA = 0.05  # the significance level of every test here
TIE_DIGITS = 3  # two values equal when printed with this many decimals are a tie (the tables' precision)


@dataclass(frozen=True)
class Verdict:
    """The paired comparison of models on one metric (higher is better).

    ``models`` is best first (by mean over the blocks); ``record[m]`` is the leader's (wins, ties, losses)
    against ``m``; ``better[m]`` says whether the leader is significantly better than ``m`` at :data:`ALPHA`
    (by Wilcoxon for two models, by Nemenyi after a significant Friedman test for more).
    """

    models: list[str]
    means: dict[str, float]
    mean_ranks: dict[str, float]  # 1 = best in a block; ties share the mean rank
    n_blocks: int
    dropped: int  # blocks left out because a model had no value there (a diverged or missing run)
    margin: float | None  # the leader's mean paired difference to the runner-up
    interval: tuple[float, float] | None  # its 95% t-interval (None with fewer than 2 blocks)
    record: dict[str, tuple[int, int, int]]
    test: str  # "Wilcoxon signed-rank", "Friedman" or "" when too few blocks for a test
    p_value: float | None
    pairwise_p: dict[str, float] = field(default_factory=dict)  # the leader against each other model
    critical_difference: float | None = None  # Nemenyi's, of the mean ranks (three or more models)

    @property
    def leader(self) -> str:
        return self.models[0]

    @property
    def better(self) -> dict[str, bool]:
        significant = self.p_value is not None and self.p_value < ALPHA
        lead = self.mean_ranks[self.leader]  # the post-hoc test is two-sided: the leader must rank ahead too
        return {
            m: significant and self.pairwise_p.get(m, 1.0) < ALPHA and lead < self.mean_ranks[m]
            for m in self.models[1:]
        }

    @property
    def outcome(self) -> str:
        """``"wins"`` (significantly better than every other model), ``"leads"`` (than some) or ``"tie"``."""
        better = self.better
        if better and all(better.values()):
            return "wins"
        return "leads" if any(better.values()) else "tie"


def compare(values: Mapping[str, Mapping[Hashable, float]]) -> Verdict:
    """The paired comparison of the models in ``values`` (``{model: {block: value}}``, higher is better).

    Only the blocks every model has a finite value for are compared; how many were left out is recorded.

    Raises:
        ValueError: with fewer than two models or no block that every model has.
    """
    from scipy import stats

    names = list(values)
    if len(names) < 2:
        raise ValueError(f"a verdict compares two or more models, got {names}")
    blocks = [b for b in values[names[0]] if all(math.isfinite(values[m].get(b, math.nan)) for m in names)]
    if not blocks:
        raise ValueError("no block (normal class x seed) has a value for every model")
    table = np.array([[float(values[m][b]) for m in names] for b in blocks])  # (blocks, models)
    ranks = np.mean([stats.rankdata(-row) for row in table], axis=0)
    order = sorted(range(len(names)), key=lambda i: (-table[:, i].mean(), ranks[i]))
    models = [names[i] for i in order]
    table = table[:, order]
    test, p_value, pairwise, cd = _tests(table)
    margin, interval = _margin(table[:, 0] - table[:, 1])
    shown = np.round(table, TIE_DIGITS)
    record = {
        m: (
            int(np.sum(shown[:, 0] > shown[:, j])),
            int(np.sum(shown[:, 0] == shown[:, j])),
            int(np.sum(shown[:, 0] < shown[:, j])),
        )
        for j, m in enumerate(models)
        if j > 0
    }
    return Verdict(
        models=models,
        means={m: float(table[:, j].mean()) for j, m in enumerate(models)},
        mean_ranks={m: float(ranks[i]) for m, i in zip(models, order)},
        n_blocks=len(blocks),
        dropped=len(set().union(*(values[m] for m in names))) - len(blocks),
        margin=margin,
        interval=interval,
        record=record,
        test=test,
        p_value=p_value,
        pairwise_p={m: p for m, p in zip(models[1:], pairwise)},
        critical_difference=cd,
    )


def _tests(table: np.ndarray) -> tuple[str, float | None, list[float], float | None]:
    """The omnibus test of a (blocks, models) table whose first column leads: its name, p-value, the leader's
    p-value against each other model, and (three or more models) Nemenyi's critical difference of mean ranks."""
    from scipy import stats

    n, k = table.shape
    if n < 2:
        return "", None, [], None
    if k == 2:
        diff = table[:, 0] - table[:, 1]
        p = 1.0 if not np.any(diff) else float(stats.wilcoxon(diff).pvalue)  # every pair tied: nothing to test
        return "Wilcoxon signed-rank", p, [p], None
    if np.all(table == table[:, :1]):  # every model equal in every block: Friedman's statistic is undefined
        return "Friedman", 1.0, [1.0] * (k - 1), None
    p = float(stats.friedmanchisquare(*table.T).pvalue)
    ranks = np.mean([stats.rankdata(-row) for row in table], axis=0)
    scale = math.sqrt(k * (k + 1) / (6.0 * n))  # the standard error of a difference of mean ranks
    # Nemenyi: the studentized range of k means with infinite degrees of freedom (Demšar 2006, section 3.2.2)
    pairwise = [
        float(stats.studentized_range.sf(abs(ranks[0] - r) / scale * math.sqrt(2), k, np.inf)) for r in ranks[1:]
    ]
    cd = float(stats.studentized_range.ppf(1 - ALPHA, k, np.inf) / math.sqrt(2) * scale)
    return "Friedman", p, pairwise, cd


def _margin(diff: np.ndarray) -> tuple[float | None, tuple[float, float] | None]:
    """The mean of the paired differences and its 95% t-interval (scipy: a one-sample t-test of the differences,
    the paired t-test)."""
    from scipy import stats

    margin = float(diff.mean())
    if len(diff) < 2:
        return margin, None
    if np.ptp(diff) == 0:  # no spread: the interval is the point
        return margin, (margin, margin)
    low, high = stats.ttest_1samp(diff, 0.0).confidence_interval(0.95)
    return margin, (float(low), float(high))


def p_text(p: float) -> str:
    """A p-value as a reader wants it: two significant digits (three where two would round it across
    :data:`ALPHA`, so 0.0498 never reads as 0.05), or ``< 0.001``."""
    if p < 0.001:
        return "p < 0.001"
    text = f"{p:.2g}"
    return f"p = {p:.3g}" if (float(text) < ALPHA) != (p < ALPHA) else f"p = {text}"


def headline(verdict: Verdict, where: str, metric: str = "AUROC", blocks: str = "normal class x seed") -> str:
    """Plain sentences saying who wins on ``where``, by how much and how sure."""
    v, lead = verdict, verdict.leader
    counted = f"{v.n_blocks} paired runs ({blocks})" + (
        f"; {v.dropped} left out where a model had no result" if v.dropped else ""
    )
    if not v.test:
        return (
            f"{where}: too few paired runs for a test ({counted}); {lead} has the higher mean {metric}, which "
            f"says nothing about how sure that is. Mean {metric}: {_means(v)}."
        )
    if v.outcome == "wins":
        first = f"{where}: {lead} wins, significantly ahead of every other model ({_test_text(v)})."
    elif v.outcome == "leads":
        beaten = ", ".join(m for m, b in v.better.items() if b)
        level = ", ".join(m for m, b in v.better.items() if not b)
        first = f"{where}: {lead} leads, significantly ahead of {beaten} but not of {level} ({_test_text(v)})."
    else:
        first = f"{where}: no significant difference between {_and(v.models)} ({_test_text(v)})."
    records = "; ".join(
        f"{_count(w, 'win')}, {_count(t, 'tie')}, {_count(lo, 'loss')} against {m}"
        for m, (w, t, lo) in v.record.items()
    )
    return f"{first} Mean {metric}: {_means(v)}; {margin_text(v)}. Over {counted}, {lead} has {records}."


def margin_text(v: Verdict) -> str:
    """The leader's margin over the runner-up with its interval, or that they tie at the printed precision."""
    if round(v.margin, TIE_DIGITS) == 0:
        return f"{v.leader} and {v.models[1]} are equal at {TIE_DIGITS} decimals"
    if v.interval is None or v.interval[0] == v.interval[1]:
        return f"{v.leader} {v.margin:+.3f} over {v.models[1]}"
    return f"{v.leader} {v.margin:+.3f} over {v.models[1]} (95% CI {v.interval[0]:+.3f} to {v.interval[1]:+.3f})"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


def _means(v: Verdict) -> str:
    return ", ".join(f"{m} {v.means[m]:.3f}" for m in v.models)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _test_text(v: Verdict) -> str:
    """The omnibus test and, after a significant Friedman test, Nemenyi's of the leader against each model."""
    text = f"{v.test} {p_text(v.p_value)}"
    if len(v.models) < 3 or v.p_value >= ALPHA:
        return text
    parts = ", ".join(f"{m} {p_text(p)}" for m, p in v.pairwise_p.items())
    return f"{text}; Nemenyi, {v.leader} against {parts}"


def outcome_text(v: Verdict, terse: bool = False) -> str:
    """The verdict in a few words: ``ae wins``, ``ae leads (significantly ahead of vae, not of aae)``, ``no
    significant difference``; ``terse`` drops the parentheses (the terminal adds its own)."""
    if not v.test:
        return f"{v.leader} ahead, too few runs for a test"
    if v.outcome == "wins":
        return f"{v.leader} wins"
    if v.outcome == "leads":
        beaten = _and([m for m, b in v.better.items() if b])
        which = f"significantly ahead of {beaten}, not of {_and([m for m, b in v.better.items() if not b])}"
        return f"{v.leader} leads, {which}" if terse else f"{v.leader} leads ({which})"
    return "no significant difference"


def short(v: Verdict) -> str:
    """The verdict for the terminal: ``ae wins (+0.006 over aae; Friedman p < 0.001, n=30)``."""
    evidence = f"{v.test.split()[0]} {p_text(v.p_value)}, n={v.n_blocks}" if v.test else f"n={v.n_blocks}"
    tied = round(v.margin, TIE_DIGITS) == 0
    margin = f"{v.leader} = {v.models[1]} at {TIE_DIGITS} decimals" if tied else f"{v.margin:+.3f} over {v.models[1]}"
    return f"{outcome_text(v, terse=True)} ({margin}; {evidence})"
