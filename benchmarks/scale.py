"""Scale figures (issue 14): the quick grid on the local pool against a local Ray instance with the same CPUs
(Ray's start-up timed apart), one image training in 2 gloo processes against 1, and the peak memory of an image
folder streamed from the on-disk cache against the same folder held in memory.

    python benchmarks/scale.py [--append] [--images 6000]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from quick_comparison import machine, publish

ROOT = Path(__file__).resolve().parents[1]
SMALL_VAE = [
    "--set",
    "model.channels=[8, 16]",
    "--set",
    "model.strides=[2, 2]",
    "--set",
    "model.latent_dim=16",
    "--set",
    "grid=4",
    "--device",
    "cpu",
    "-q",
]


def _results(folder: Path) -> list[dict[str, str]]:
    with open(folder / "quick" / "results.csv") as f:
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in csv.DictReader(f)]


def ray_against_local(tmp: Path) -> list[str]:
    """The quick grid with 2 local worker processes, then as Ray tasks on a local instance of 2 CPUs."""
    import ray

    from aecompare.runs.executors import ExecutorOptions
    from aecompare.studies.grid.run import run_experiment
    from aecompare.studies.grid.spec import load_spec

    spec = load_spec("quick")
    start = time.perf_counter()
    run_experiment(spec, tmp / "local", progress=False, workers=2)
    local = time.perf_counter() - start
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    run_experiment(spec, tmp / "ray", progress=False, executor=ExecutorOptions(kind="ray"))
    on_ray = time.perf_counter() - start
    ray.shutdown()
    same = _results(tmp / "local") == _results(tmp / "ray")
    return [
        f"- `quick` (99 runs), 2 local worker processes: **{local:.1f} s**; as Ray tasks on a local instance of "
        f"2 CPUs: **{on_ray:.1f} s**, ratio **{on_ray / local:.2f}x** (target <= 1.15x); Ray's start-up, "
        f"left out of the ratio: {startup:.1f} s. results.csv identical but for train_seconds: {same}."
    ]


def write_folder(folder: Path, n: int, size: int) -> Path:
    """``n`` random-texture RGB PNGs of ``size`` x ``size``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB, GNU time's %M) of a command."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - start, int(done.stderr.strip().splitlines()[-1])


def ddp_against_one(tmp: Path) -> list[str]:
    """One VAE on 2,000 images at 32x32: 1 process with 2 threads against 2 gloo processes with 1 each."""
    images = write_folder(tmp / "ddp-images", 2000, 32)
    base = [
        "-m",
        "aecompare",
        "generate",
        "--images",
        str(images),
        "--set",
        "image_size=32",
        "--set",
        "train.epochs=3",
        "--set",
        "train.batch_size=64",
        *SMALL_VAE,
    ]
    one, _ = _timed([sys.executable, *base, "--output", str(tmp / "one")], {**os.environ, "OMP_NUM_THREADS": "2"})
    two, _ = _timed(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            *base,
            "--output",
            str(tmp / "two"),
        ],
        {**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return [
        f"- DDP, one VAE on 2,000 images at 32x32, 3 epochs, global batch 64: 1 process (2 threads) "
        f"**{one:.1f} s**, 2 gloo processes (1 thread each) **{two:.1f} s**: ratio **{two / one:.2f}x** "
        "(wall time of the whole command, start-up and decoding included)."
    ]


def streamed_against_memory(tmp: Path, n: int) -> list[str]:
    """Peak memory of ``generate`` on ``n`` images at 64x64, in memory and streamed from the cache."""
    images = write_folder(tmp / "big-images", n, 64)
    mb = n * 3 * 64 * 64 / 2**20
    base = [
        sys.executable,
        "-m",
        "aecompare",
        "generate",
        "--images",
        str(images),
        "--set",
        "image_size=64",
        "--set",
        "train.epochs=1",
        "--set",
        "train.batch_size=64",
        *SMALL_VAE,
    ]
    env = {**os.environ, "AECOMPARE_CACHE": str(tmp / "cache")}
    memory_s, memory_kib = _timed([*base, "--output", str(tmp / "memory")], env)
    stream_s, stream_kib = _timed([*base, "--set", "stream_above_mb=1", "--output", str(tmp / "stream")], env)
    again_s, again_kib = _timed([*base, "--set", "stream_above_mb=1", "--output", str(tmp / "again")], env)
    return [
        f"- Peak memory of `aecompare generate` on {n:,} images at 64x64 ({mb:.0f} MB as uint8, "
        f"{4 * mb:.0f} MB as float32), 1 epoch: in memory **{memory_kib / 1024:.0f} MB** ({memory_s:.1f} s); "
        f"streamed from the on-disk cache (`--set stream_above_mb=1`) **{stream_kib / 1024:.0f} MB** "
        f"({stream_s:.1f} s, decoding into the cache included); again with the cache built "
        f"**{again_kib / 1024:.0f} MB** ({again_s:.1f} s)."
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true", help="append the section to benchmarks/RESULTS.md")
    parser.add_argument("--images", type=int, default=6000, help="images in the streamed folder")
    args = parser.parse_args()
    lines = [
        f"## Scale (issue 14), {dt.date.today().isoformat()}",
        "",
        "- Command: `python benchmarks/scale.py`",
        f"- Machine: {machine()}",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        lines += ray_against_local(Path(tmp))
        lines += ddp_against_one(Path(tmp))
        lines += streamed_against_memory(Path(tmp), args.images)
    lines.append(
        "- GPU rows (`schneider-mnist-all` and `schneider-cifar10-all` with 3 seeds and `--runs-per-gpu`, "
        "`klimkevicius-casting` at 256x256): not run, no GPU was lent to this task."
    )
    publish("\n".join(lines) + "\n", args.append)


if __name__ == "__main__":
    main()
