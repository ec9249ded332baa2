"""Benchmark the default comparison (`aecompare run quick`): wall time and each model's mean AUROC.

Runs the CLI in a fresh process and a fresh output folder (no resume), so the time includes imports,
data, training, scoring and the report; prints a Markdown section for benchmarks/RESULTS.md.

    python benchmarks/quick_comparison.py [--workers N] [--append]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """A one-line description of where this ran."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), {gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, {platform.system()}"
    )


def run_timed(
    experiment: str, output: str, overrides: list[str], workers: int | None = None, seeds: int | None = None
) -> float:
    """Run ``aecompare run EXPERIMENT`` in a fresh process into ``output`` (finished runs there are resumed);
    return its wall time in seconds."""
    command = [
        sys.executable,
        "-m",
        "aecompare",
        "run",
        experiment,
        "--output",
        output,
        "--quiet",
        *[f"--set={s}" for s in overrides],
    ]
    command += ["--workers", str(workers)] if workers else []
    command += ["--seeds", str(seeds)] if seeds else []
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def command_line() -> str:
    """How this benchmark was called, as RESULTS.md records it: ``python benchmarks/<script> <arguments>``."""
    return " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def publish(section: str, append: bool) -> None:
    """Print a Markdown section and, with ``append``, add it to RESULTS.md."""
    print(section)
    if append:
        with open(RESULTS, "a") as f:
            f.write("\n" + section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, help="passed to aecompare run (default: one per core)")
    parser.add_argument("--append", action="store_true", help=f"append the section to {RESULTS}")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "aecompare", "run", "quick", "--output", out, "--quiet"]
        if args.workers:
            command += ["--workers", str(args.workers)]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - start
        with open(Path(out) / "quick" / "results.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["group"] == "all"]

    auroc: dict[tuple[str, str], list[float]] = defaultdict(list)
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        auroc[(r["dataset"], r["model"])].append(float(r["auroc"]))
        seconds[(r["dataset"], r["model"])].append(float(r["train_seconds"]))
    shown = "aecompare run quick --quiet" + (f" --workers {args.workers}" if args.workers else "")
    lines = [
        f"## Default comparison (`quick`), {dt.date.today().isoformat()}",
        "",
        f"- Command: `python benchmarks/quick_comparison.py{' --workers ' + str(args.workers) if args.workers else ''}`"
        f" (runs `{shown}` in a fresh process and output folder)",
        f"- Machine: {machine()}",
        f"- Wall time, imports to written report: **{wall:.1f} s** for {len(rows)} runs",
        "",
        "| dataset | model | mean AUROC (pooled, over normal classes and seeds) | runs | train s per run |",
        "|---|---|---|---|---|",
    ]
    for (dataset, model), values in auroc.items():
        lines.append(
            f"| {dataset} | {model} | {np.mean(values):.4f} | {len(values)} | "
            f"{np.mean(seconds[(dataset, model)]):.2f} |"
        )
    publish("\n".join(lines) + "\n", args.append)


if __name__ == "__main__":
    main()
