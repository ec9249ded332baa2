"""Data-parallel training: two CPU processes with gloo under torchrun give the weights of one process trained
at the same global batch size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from aecompare.train.distributed import shard, world
from formats import write_images

SETTINGS = [
    "--set",
    "image_size=16",
    "--set",
    "train.epochs=3",
    "--set",
    "train.batch_size=6",
    "--set",
    "grid=2",
    "--set",
    "model.channels=[4, 8]",
    "--set",
    "model.strides=[2, 2]",
    "--set",
    "model.latent_dim=3",
    "--set",
    "val_fraction=0.2",
    "--device",
    "cpu",
    "-q",
]


def _generate(tmp_path: Path, name: str, processes: int) -> dict[str, torch.Tensor]:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
        if processes > 1
        else [sys.executable]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            *launcher,
            "-m",
            "aecompare",
            "generate",
            "--images",
            str(tmp_path / "faces"),
            "--output",
            str(tmp_path / name),
            *SETTINGS,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return load_file(tmp_path / name / "model" / "model.safetensors")


def test_two_gloo_processes_equal_one_process_at_the_same_global_batch(tmp_path: Path) -> None:
    write_images(tmp_path / "faces", n=26)  # 21 training images: global batches of 6, 6, 6, 3
    one = _generate(tmp_path, "one", 1)
    two = _generate(tmp_path, "two", 2)
    assert one.keys() == two.keys()
    for name in one:  # the VAE's noise too: each process takes its rows of the global batch's draws
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    # the two processes really split the batches (one process alone gives the same weights trivially)
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["processes"] == 2
    assert json.loads((tmp_path / "one" / "summary.json").read_text())["processes"] == 1


def test_outside_torchrun_there_is_one_process_holding_every_row() -> None:
    assert world() == (0, 1)
    assert shard(7) == slice(0, 7)
