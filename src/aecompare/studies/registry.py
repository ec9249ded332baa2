"""The table of studies: each names how to load its spec, run it and build its report's blocks.

The CLI and the report dispatch through :data:`STUDIES`; adding a study is one folder under
``aecompare/studies/`` and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aecompare.core.io import OutputLock, read_json
from aecompare.errors import DataNotFoundError, unknown_name
from aecompare.report.document import Block, write_document
from aecompare.runs.executors import ExecutorOptions
from aecompare.runs.folder import EXPERIMENT
from aecompare.studies.convergence import report as convergence_report
from aecompare.studies.convergence.run import run_convergence
from aecompare.studies.convergence.spec import load_convergence_spec
from aecompare.studies.generation import report as generation_report
from aecompare.studies.generation.run import run_generation
from aecompare.studies.generation.spec import load_generation_spec
from aecompare.studies.grid import report as grid_report
from aecompare.studies.grid.run import run_experiment
from aecompare.studies.grid.spec import load_spec
from aecompare.studies.specfile import study_kind


@dataclass(frozen=True)
class RunOptions:
    """What the CLI passes to every study's run (each takes what applies to it)."""

    output: Path
    data_dir: str | None = None
    progress: bool | None = None
    workers: int | None = None
    force: bool = False
    yes: bool = False
    executor: ExecutorOptions | None = None  # None: the local pool


@dataclass(frozen=True)
class Study:
    """One kind of study: ``load(name_or_path, overrides, seeds)`` gives its spec, ``run(spec, options)``
    trains it and returns its folder, ``report(folder)`` gives its report's blocks."""

    name: str
    load: Callable[[str | Path, list[str], int | None], Any]
    run: Callable[[Any, RunOptions], Path]
    report: Callable[[Path], list[Block]]


def _run_grid(spec: Any, o: RunOptions) -> Path:
    return run_experiment(
        spec,
        o.output,
        data_dir=o.data_dir,
        progress=o.progress,
        workers=o.workers,
        force=o.force,
        yes=o.yes,
        executor=o.executor,
    )


def _run_convergence(spec: Any, o: RunOptions) -> Path:
    return run_convergence(spec, o.output, data_dir=o.data_dir, force=o.force)


def _run_generation(spec: Any, o: RunOptions) -> Path:
    return run_generation(spec, o.output / spec.name, data_dir=o.data_dir, progress=o.progress)


STUDIES: dict[str, Study] = {
    "grid": Study("grid", load_spec, _run_grid, grid_report.report_blocks),
    "convergence": Study("convergence", load_convergence_spec, _run_convergence, convergence_report.report_blocks),
    "generate": Study(
        "generate",
        lambda name, overrides, seeds: load_generation_spec(name, overrides),
        _run_generation,
        generation_report.report_blocks,
    ),
}


def study_of_spec(name_or_path: str | Path) -> Study:
    """The study a spec declares (``study:``; a grid when it declares none)."""
    kind = study_kind(name_or_path)
    if kind not in STUDIES:
        raise unknown_name("study", kind, STUDIES)
    return STUDIES[kind]


def write_report(folder: str | Path) -> Path:
    """Write ``report.md``, ``report.html`` and ``figures/`` into a study's folder, through its study's report
    blocks; returns the HTML's path.

    Raises:
        DataNotFoundError: when the folder holds nothing finished (or is not a study's folder).
    """
    folder = Path(folder)
    if not (folder / EXPERIMENT).exists():
        inner = sorted(p.parent.name for p in folder.glob(f"*/{EXPERIMENT}"))
        hint = (
            f"; it holds the experiment folders {', '.join(inner)}: pass one of them, e.g. {folder / inner[0]}"
            if inner
            else "; pass an experiment folder such as runs/quick"
        )
        raise DataNotFoundError(f"{folder} is not an experiment folder (no {EXPERIMENT}){hint}")
    record = read_json(folder / EXPERIMENT)
    kind = record.get("study") or "grid"
    if kind not in STUDIES:
        raise unknown_name("study", kind, STUDIES)
    with OutputLock(folder):
        blocks = STUDIES[kind].report(folder)
        return write_document(folder, blocks, record.get("name", folder.name))
