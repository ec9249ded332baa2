"""Tables that don't mislead: every entry tied with the best at the printed precision is bold, an AUROC below
chance and collapsed runs are flagged beside the number."""

from __future__ import annotations

from aecompare.report.document import _inline
from aecompare.studies.grid.report import _metric_table
from conftest import result_row


def _rows(cells: dict[tuple[str, str], list[float]], collapsed: set[tuple[str, str, int]] = frozenset()) -> list:
    return [
        result_row(normal=n, model=m, seed=s, auroc=v, collapsed=(n, m, s) in collapsed)
        for (n, m), values in cells.items()
        for s, v in enumerate(values)
    ]


def test_entries_equal_to_the_best_at_the_printed_precision_are_all_bold() -> None:
    rows = _rows({("0", "ae"): [1.0, 1.0], ("0", "vae"): [0.99996, 1.0], ("0", "aae"): [0.98, 0.99]})
    table = _metric_table(rows, "auroc", ["ae", "vae", "aae"], ["0"])
    assert table.rows[0] == ["0", "**1.000 ± 0.000**", "**1.000 ± 0.000**", "0.985 ± 0.005"]


def test_an_auroc_below_chance_and_collapsed_runs_are_flagged_beside_the_number() -> None:
    rows = _rows({("0", "ae"): [0.26, 0.27], ("0", "vae"): [0.11, 0.12]}, collapsed={("0", "vae", 1)})
    table = _metric_table(rows, "auroc", ["ae", "vae"], ["0"])
    assert table.rows[0] == ["0", "**0.265 ± 0.005** (below 0.5)", "0.115 ± 0.005 (below 0.5; 1 of 2 collapsed)"]
    assert _metric_table(rows, "auprc", ["ae", "vae"], ["0"]).rows[0][1] == "**0.900 ± 0.000**"  # AUROC's flag only


def test_bold_inside_a_flagged_cell_renders_as_html_bold() -> None:
    assert _inline("**0.265** (below 0.5) <x>") == "<b>0.265</b> (below 0.5) &lt;x&gt;"


def test_numbers_are_right_aligned_and_words_left_in_html_tables() -> None:
    from aecompare.report.document import _cell

    assert _cell("**0.991 ± 0.001** (below 0.5)", first=False) == "<td class='n'><b>0.991 ± 0.001</b> (below 0.5)</td>"
    assert _cell("-0.003", first=False).startswith("<td class='n'>")
    assert _cell("no significant difference", first=False) == "<td>no significant difference</td>"
    assert _cell("0", first=True) == "<td>0</td>"  # the row's label


def test_the_verdict_counts_the_collapsed_runs_it_rests_on() -> None:
    from aecompare.studies.grid.report import _verdict_blocks
    from aecompare.studies.grid.verdicts import grid_verdicts

    rows = _rows({("0", "ae"): [0.9, 0.91, 0.92], ("0", "vae"): [0.5, 0.52, 0.51]}, collapsed={("0", "vae", 2)})
    table = _verdict_blocks(grid_verdicts(rows, ["ae", "vae"]), rows)[1]
    assert table.rows[0][1].endswith("(1 of 6 runs collapsed, kept: see 'Runs that failed')")
    clean = _rows({("0", "ae"): [0.9, 0.91, 0.92], ("0", "vae"): [0.5, 0.52, 0.51]})
    assert "collapsed" not in _verdict_blocks(grid_verdicts(clean, ["ae", "vae"]), clean)[1].rows[0][1]
