"""The table of studies: every shipped spec loads through its study, and reports dispatch through the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aecompare.errors import DataNotFoundError
from aecompare.studies.registry import STUDIES, study_of_spec, write_report
from aecompare.studies.specfile import builtin_specs


@pytest.mark.parametrize("name", sorted(builtin_specs()))
def test_every_shipped_spec_loads_through_its_study(name: str) -> None:
    study = study_of_spec(name)
    assert study.name in STUDIES
    overrides = ["images=faces"] if study.name == "generate" else []  # generation needs a folder named
    spec = study.load(name, overrides, None)
    assert spec.name == name


def test_a_spec_without_a_study_is_a_grid_and_unknown_studies_are_named(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("study: survey\n")
    with pytest.raises(Exception, match="unknown study 'survey'; choose one of: convergence, generate, grid"):
        study_of_spec(tmp_path / "s.yaml")
    assert study_of_spec("quick").name == "grid"


def test_report_of_a_parent_folder_points_at_the_experiments_inside(tmp_path: Path) -> None:
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / "experiment.json").write_text(json.dumps({"name": "quick"}))
    with pytest.raises(DataNotFoundError, match=r"holds the experiment folders quick: pass one of them"):
        write_report(tmp_path)
