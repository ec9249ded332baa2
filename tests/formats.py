"""Writers of small files in the datasets' real on-disk formats, for loader and end-to-end tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from aecompare.data.sources import CIFAR10_FOLDER, CIFAR10_TEST, CIFAR10_TRAIN, MNIST_FILES


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file, gzipped, as MNIST ships them."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_folder(folder: Path, n_train: int = 30, n_test: int = 20, seed: int = 0) -> Path:
    """MNIST's four IDX files with random pixels and labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": np.arange(n_train) % 10,
              "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": np.arange(n_test) % 10}
    for key, name in MNIST_FILES.items():
        write_idx(folder / name, arrays[key])
    return folder


def write_cifar_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    """A CIFAR-10 python batch: a pickled dict with byte-string keys, rows of 3072 uint8 (R, G, B planes)."""
    batch = {b"batch_label": b"test batch", b"labels": list(labels), b"data": data.astype(np.uint8),
             b"filenames": [f"{i}.png".encode() for i in range(len(labels))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_cifar_folder(data_dir: Path, per_batch: int = 20, seed: int = 0) -> Path:
    """``<data_dir>/cifar10/cifar-10-batches-py/`` with five small training batches and a test batch.

    Pixels are random; each image's red plane is brighter for higher labels, so classes differ.
    """
    rng = np.random.default_rng(seed)
    folder = data_dir / "cifar10" / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate((*CIFAR10_TRAIN, *CIFAR10_TEST)):
        labels = [(i + j) % 10 for j in range(per_batch)]
        data = rng.integers(0, 100, (per_batch, 3072))
        data[:, :1024] += 15 * np.asarray(labels)[:, None]
        write_cifar_batch(folder / name, data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane"]}, f, protocol=2)
    return folder
