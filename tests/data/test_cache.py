"""Image folders larger than memory: the on-disk uint8 cache, keyed by the files, streamed in batches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from aecompare.data.cache import cache_dir, cached_images
from aecompare.data.images import list_images, read_images
from conftest import run_cli
from formats import write_images

TINY = [
    "--set",
    "image_size=16",
    "--set",
    "train.epochs=2",
    "--set",
    "train.batch_size=4",
    "--set",
    "grid=2",
    "--set",
    "model.channels=[4, 8]",
    "--set",
    "model.strides=[2, 2]",
    "--set",
    "model.latent_dim=3",
    "-q",
]


def test_the_cache_holds_what_decoding_gives_and_is_reused_until_a_file_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AECOMPARE_CACHE", str(tmp_path / "cache"))
    write_images(tmp_path / "faces", n=7)
    paths = list_images(tmp_path / "faces")
    images, kept = cached_images(paths, 12, threads=2)
    pixels, kept_direct = read_images(paths, 12)
    assert kept == kept_direct
    assert images.shape == (7, 3, 12, 12)
    torch.testing.assert_close(images[np.arange(7)], torch.from_numpy(pixels).float() / 255.0, rtol=0, atol=0)
    torch.testing.assert_close(images.subset([5, 1])[0:2], images[np.array([5, 1])], rtol=0, atol=0)
    (data,) = cache_dir().glob("*.u8")
    stamp = data.stat().st_mtime_ns
    cached_images(paths, 12)
    assert data.stat().st_mtime_ns == stamp  # reused, not decoded again
    os.utime(paths[0], ns=(stamp, stamp + 10**9))  # a file changed: decoded anew under another name
    cached_images(paths, 12)
    assert len(list(cache_dir().glob("*.u8"))) == 2


def test_streamed_generation_trains_as_in_memory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AECOMPARE_CACHE", str(tmp_path / "cache"))
    write_images(tmp_path / "faces", n=14)
    for name, limit in (("memory", "2048"), ("streamed", "0")):
        code, _, err = run_cli(
            [
                "generate",
                "--images",
                str(tmp_path / "faces"),
                "--output",
                str(tmp_path / name),
                *TINY,
                "--set",
                f"stream_above_mb={limit}",
            ]
        )
        assert code == 0, err
    summaries = {n: json.loads((tmp_path / n / "summary.json").read_text()) for n in ("memory", "streamed")}
    assert summaries["memory"]["streamed"] is False
    assert summaries["streamed"]["streamed"] is True
    memory, streamed = (load_file(tmp_path / n / "model" / "model.safetensors") for n in ("memory", "streamed"))
    for key in memory:
        # the same data in the same order; only a batch's memory differs (kernels may sum in another order)
        torch.testing.assert_close(streamed[key], memory[key], rtol=1e-5, atol=1e-6, msg=key)
