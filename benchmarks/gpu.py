"""The GPU benchmark, one short script (about 10 minutes) for a session that is lent a device: Schneider et
al.'s one-class protocols over every class (``schneider-mnist-all``, ``schneider-cifar10-all``) with three seeds,
several runs side by side on the GPU (``--runs-per-gpu``), and Klimkevicius's casting CAE and CVAE at 256x256.

Each step is ``aecompare run`` in a fresh process with a wall-clock budget; a step cut off by its budget keeps
its finished runs (a rerun resumes them), and the table says how many of the grid's runs finished. Prints a
Markdown section for benchmarks/RESULTS.md (``--append`` adds it there).

    python benchmarks/gpu.py [--data-dir DIR] [--output /tmp/gpu-runs] [--budget 180] [--runs-per-gpu 8]
    python benchmarks/gpu.py --dry-run      # the commands, without a GPU

Needs CUDA and the datasets (MNIST, CIFAR-10, the castings) under ``--data-dir`` / ``$AECOMPARE_DATA``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from quick_comparison import RESULTS, command_line, machine, publish

CASTING_MODELS = "[{name: klimkevicius-cae, label: CAE}, {name: klimkevicius-cvae, label: CVAE}]"  # no VGG weights
STEPS = {  # name: (experiment, extra arguments, the grid's runs)
    "schneider-mnist-all": ("schneider-mnist-all", ["--seeds", "3"], 90),
    "schneider-cifar10-all": ("schneider-cifar10-all", ["--seeds", "3"], 90),
    "klimkevicius-casting (CAE, CVAE, 256x256)": (
        "klimkevicius-casting",
        ["--seeds", "1", "--set", f"models={CASTING_MODELS}"],
        2,
    ),
}


def command(experiment: str, extra: list[str], args: argparse.Namespace) -> list[str]:
    """The ``aecompare run`` command of one step."""
    argv = [sys.executable, "-m", "aecompare", "run", experiment, "--output", args.output, "--quiet", "--yes", *extra]
    argv += ["--device", "cuda"] + (["--runs-per-gpu", str(args.runs_per_gpu)] if args.runs_per_gpu else [])
    return argv + (["--data-dir", args.data_dir] if args.data_dir else [])


def summary(folder: Path) -> tuple[int, str]:
    """Finished runs and the mean pooled AUROC per model of an experiment folder's results.csv."""
    if not (folder / "results.csv").exists():
        return 0, "–"
    with open(folder / "results.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["group"] == "all"]
    by_model = defaultdict(list)
    for r in rows:
        if r["diverged"] != "True":
            by_model[r["model"]].append(float(r["auroc"]))
    means = ", ".join(f"{m} {sum(v) / len(v):.4f}" for m, v in by_model.items())
    return len(rows), means or "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--output", default="/tmp/gpu-runs")
    parser.add_argument("--budget", type=float, default=180.0, help="seconds per step (default 180)")
    parser.add_argument("--runs-per-gpu", type=int, help="runs side by side on the GPU (default: from its memory)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--append", action="store_true", help=f"append the section to {RESULTS}")
    args = parser.parse_args()
    if args.dry_run:
        for experiment, extra, _ in STEPS.values():
            print(" ".join(command(experiment, extra, args)))
        return
    import torch

    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py: no CUDA device here; run it on a machine with a GPU (or pass --dry-run)")
    rows = []
    for name, (experiment, extra, n_runs) in STEPS.items():
        start = time.perf_counter()
        try:
            done = subprocess.run(command(experiment, extra, args), capture_output=True, text=True, timeout=args.budget)
            outcome = "finished" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-200:]}"
        except subprocess.TimeoutExpired:
            outcome = f"cut off at the {args.budget:.0f} s budget"
        finished, means = summary(Path(args.output) / experiment)
        rows.append(f"| {name} | {time.perf_counter() - start:.0f} | {finished} of {n_runs} | {means} | {outcome} |")
        print(rows[-1], flush=True)
    lines = [
        f"## GPU benchmark (issue 22), {dt.date.today().isoformat()}",
        "",
        f"- Command: `{command_line()}`",
        f"- Machine: {machine()}; GPU {torch.cuda.get_device_name(0)}",
        "",
        "| step | wall s | runs finished | mean pooled AUROC | outcome |",
        "|---|---|---|---|---|",
        *rows,
    ]
    publish("\n".join(lines) + "\n", args.append)


if __name__ == "__main__":
    main()
