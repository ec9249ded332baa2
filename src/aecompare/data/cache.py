"""Image folders larger than memory: decoded once into an on-disk uint8 cache, then streamed in batches.

The cache is one raw file of (N, 3, S, S) bytes plus a JSON record, named by a hash of every file's path, size
and modification time and of the image size, so a changed folder is decoded again and an unchanged one never
is. It lives in ``$AECOMPARE_CACHE`` (default ``~/.cache/aecompare``), never beside data that may be read-only.
Decoding runs in background threads; a batch read copies just its rows and hands the mapped pages back, so
memory stays bounded by the batch, not by the folder.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aecompare.core.io import atomic_write_text, read_json
from aecompare.data.images import read_images

CACHE_ENV = "AECOMPARE_CACHE"
CHUNK = 256  # images decoded per background task


def cache_dir() -> Path:
    """Where decoded folders are kept: ``$AECOMPARE_CACHE``, else ``~/.cache/aecompare``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "aecompare").expanduser()


def cache_key(paths: Sequence[Path], size: int) -> str:
    """A hash of each file's path, size and modification time, and the image size."""
    digest = hashlib.sha256(f"{size}".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"\n{path.resolve()}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def cached_images(
    paths: Sequence[Path], size: int, on_error: str = "raise", threads: int = 4
) -> tuple[DiskImages, list[Path]]:
    """``paths`` decoded as :func:`~aecompare.data.images.read_images` does, into (or from) the cache.

    Returns:
        The images as a :class:`DiskImages` of (N, 3, size, size), and the files kept (unreadable ones
        skipped when ``on_error="skip"``).
    """
    key = cache_key(paths, size)
    folder = cache_dir()
    data, record = folder / f"{key}.u8", folder / f"{key}.json"
    if not (data.exists() and record.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        _decode_into(data, record, paths, size, on_error, threads)
    kept = [Path(p) for p in read_json(record)["kept"]]
    return DiskImages(data, (len(kept), 3, size, size)), kept


def _decode_into(data: Path, record: Path, paths: Sequence[Path], size: int, on_error: str, threads: int) -> None:
    """Decode ``paths`` in chunks on background threads and append each chunk's bytes to a temporary file;
    the record, written last, names the files kept."""
    partial = data.with_name(f".{data.name}.{os.getpid()}.partial")
    kept: list[str] = []
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    try:
        with open(partial, "wb") as out, ThreadPoolExecutor(threads) as pool:
            for pixels, files in pool.map(lambda chunk: read_images(chunk, size, on_error), chunks):
                out.write(np.ascontiguousarray(pixels).tobytes())  # in order: pool.map keeps the chunks' order
                kept += [str(f) for f in files]
        os.replace(partial, data)
    finally:
        partial.unlink(missing_ok=True)
    atomic_write_text(record, json.dumps({"shape": [len(kept), 3, size, size], "kept": kept}))


class DiskImages:
    """uint8 images (N, C, H, W) in a file, read as float tensors in [0, 1] a batch at a time.

    Indexing with a slice, an index array or an index tensor returns a float32 tensor on :attr:`device`;
    ``rows`` restricts the view to some rows (a training or validation subset) without reading anything.
    """

    def __init__(
        self, path: Path, shape: tuple[int, ...], rows: np.ndarray | None = None, device: torch.device | str = "cpu"
    ) -> None:
        self.path, self.full_shape, self.device = Path(path), tuple(shape), torch.device(device)
        self.rows = np.arange(shape[0]) if rows is None else np.asarray(rows)
        self._map: mmap.mmap | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.full_shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, rows: np.ndarray) -> DiskImages:
        """The images ``rows`` of this view (indices into it)."""
        return DiskImages(self.path, self.full_shape, self.rows[np.asarray(rows)], self.device)

    def to(self, device: torch.device | str, **_: Any) -> DiskImages:
        """The same view, whose batches are created on ``device`` (the images stay on disk)."""
        return DiskImages(self.path, self.full_shape, self.rows, device)

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        wanted = self.rows[index]
        if self._map is None:
            with open(self.path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        images = np.frombuffer(self._map, dtype=np.uint8).reshape(self.full_shape)
        batch = torch.from_numpy(images[wanted].astype(np.float32) / 255.0)  # a copy of just these rows
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)  # hand the mapped pages back: memory stays one batch's
        return batch.to(self.device)
