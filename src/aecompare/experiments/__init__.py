"""Experiments: validated YAML specs and the runner that expands and executes their grids."""

from aecompare.experiments.runner import Run, collect_results, expand_runs, run_experiment, write_results
from aecompare.experiments.spec import ExperimentSpec, builtin_specs, load_spec

__all__ = ["ExperimentSpec", "Run", "builtin_specs", "collect_results", "expand_runs", "load_spec",
           "run_experiment", "write_results"]
