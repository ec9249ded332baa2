"""The label-free recommendation: the highest mean synthetic AUROC wins, and its real rank is reported."""

from __future__ import annotations

from aecompare.studies.grid.results import RunSummary
from aecompare.studies.grid.selection import recommendations, weak_lead


def _row(model: str, seed: int, synthetic, auroc: float, normal: str = "a", diverged=False, group: str = "all"):
    counts = dict.fromkeys(("auprc", "precision", "recall", "f1", "tp", "fp", "tn", "fn", "threshold"), 0.0)
    return RunSummary(
        experiment="e",
        dataset="d",
        normal=normal,
        model=model,
        seed=seed,
        group=group,
        synthetic_auroc=synthetic,
        auroc=auroc,
        diverged=diverged,
        collapsed=False,
        n_normal=10,
        n_anomalous=10,
        train_seconds=1.0,
        best_epoch=1,
        epochs_run=1,
        **counts,
    )


def test_the_highest_mean_synthetic_auroc_is_recommended_and_ranked_by_real_auroc() -> None:
    rows = [
        _row("A", 0, 0.9, 0.70),
        _row("A", 1, 0.7, 0.72),  # synthetic mean 0.80
        _row("B", 0, 0.85, 0.90),
        _row("B", 1, 0.85, 0.92),  # 0.85: recommended, best on test too
        _row("C", 0, 0.6, 0.95),
        _row("C", 1, 0.6, 0.97),  # best on test
        _row("A", 0, 0.99, 0.1, group="cls-1"),
    ]  # a per-group row: not a candidate's summary
    (rec,) = recommendations(rows, ["A", "B", "C"])
    assert rec["recommended"] == "B"
    assert rec["synthetic_auroc"] == 0.85
    assert rec["auroc"] == 0.91
    assert rec["rank"] == 2
    assert rec["candidates"] == 3
    assert rec["best"] == "C"


def test_diverged_runs_and_missing_synthetic_aurocs_are_no_candidates_and_ties_go_to_the_first() -> None:
    rows = [
        _row("A", 0, 0.8, 0.5),
        _row("B", 0, 0.8, 0.9),
        _row("C", 0, 0.99, 0.99, diverged=True),
        _row("D", 0, None, 0.99),
        _row("E", 0, 0.7, 0.4, normal="b"),
    ]
    recs = recommendations(rows, ["A", "B", "C", "D", "E"])
    assert [(r["normal"], r["recommended"], r["candidates"]) for r in recs] == [("a", "A", 2), ("b", "E", 1)]
    assert (recs[0]["rank"], recs[0]["best"]) == (2, "B")  # ranked among the candidates only (not C, not D)
    assert recommendations([_row("A", 0, None, 0.5)], ["A"]) == []  # run without select: nothing to recommend


def test_the_lead_over_the_runner_up_is_weak_when_within_the_seeds_spread() -> None:
    rows = [
        _row("A", 0, 0.90, 0.7),
        _row("A", 1, 0.80, 0.7),  # mean 0.85, std 0.0707
        _row("B", 0, 0.84, 0.9),
        _row("B", 1, 0.84, 0.9),  # 0.84: runner-up, 0.01 behind
        _row("C", 0, 0.70, 0.8),
        _row("C", 1, 0.70, 0.8),
    ]
    (rec,) = recommendations(rows, ["A", "B", "C"])
    assert (rec["recommended"], rec["runner_up"]) == ("A", "B")
    assert abs(rec["lead"] - 0.01) < 1e-12
    assert abs(rec["synthetic_std"] - 0.0707107) < 1e-6
    assert weak_lead(rec)
    (clear,) = recommendations([r for r in rows if r.model != "B"], ["A", "C"])  # 0.15 ahead of C
    assert clear["runner_up"] == "C"
    assert not weak_lead(clear)
    (alone,) = recommendations(rows[:1], ["A"])  # one seed, one candidate: nothing to compare
    assert (alone["runner_up"], alone["lead"], alone["synthetic_std"]) == (None, None, None)
    assert not weak_lead(alone)
