"""Writers of small files in the datasets' real on-disk formats, for loader and end-to-end tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from aecompare.data.sources import CIFAR10_FOLDER, CIFAR10_TEST, CIFAR10_TRAIN, CREDITCARD_COLUMNS, MNIST_FILES

# The six ODDS tables in ../shared/datasets: (rows, features, anomalies)
ODDS = {
    "cardio": (1831, 21, 176),
    "thyroid": (3772, 6, 93),
    "annthyroid": (7200, 6, 534),
    "mammography": (11183, 6, 260),
    "satellite": (6435, 36, 2036),
    "shuttle": (49097, 9, 3511),
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file, gzipped, as MNIST ships them."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_folder(folder: Path, n_train: int = 30, n_test: int = 20, seed: int = 0) -> Path:
    """MNIST's four IDX files with random pixels and labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28)),
        "y_train": np.arange(n_train) % 10,
        "x_test": rng.integers(0, 256, (n_test, 28, 28)),
        "y_test": np.arange(n_test) % 10,
    }
    for key, name in MNIST_FILES.items():
        write_idx(folder / name, arrays[key])
    return folder


def write_cifar_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    """A CIFAR-10 python batch: a pickled dict with byte-string keys, rows of 3072 uint8 (R, G, B planes)."""
    batch = {
        b"batch_label": b"test batch",
        b"labels": list(labels),
        b"data": data.astype(np.uint8),
        b"filenames": [f"{i}.png".encode() for i in range(len(labels))],
    }
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


def write_creditcard(path: Path, n_normal: int = 300, n_fraud: int = 12, seed: int = 0) -> Path:
    """A small file in the Kaggle schema and quoting: quoted header, quoted "0"/"1" labels; frauds lie off the
    normal rows' 3-d subspace."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, 30))
    normal = rng.normal(size=(n_normal, 3)) @ basis + 0.05 * rng.normal(size=(n_normal, 30))
    fraud = 3.0 * rng.normal(size=(n_fraud, 30))
    x = np.concatenate([normal, fraud])
    y = np.repeat([0, 1], [n_normal, n_fraud])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(",".join(f'"{c}"' for c in CREDITCARD_COLUMNS) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.6f}" for v in row) + f',"{label}"\n')
    return path


def part_image(seed: int, size: int = 24, defect: bool = False) -> np.ndarray:
    """A gray disc on a light background (a 'casting'); a defect adds a dark notch."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size), 200, dtype=np.uint8)
    img[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2] = 120 + int(rng.integers(-10, 10))
    if defect:
        y, x = rng.integers(size // 3, 2 * size // 3, size=2)
        img[y : y + 3, x : x + 3] = 10
    return np.stack([img] * 3, axis=-1)


def write_castings(root: Path, n_train: int = 24, n_ok: int = 6, n_def: int = 8) -> Path:
    """Kaggle's castings layout under ``root/casting/casting_data``."""
    base = root / "casting" / "casting_data"
    for k, (folder, n, defect) in enumerate(
        (("train/ok_front", n_train, False), ("test/ok_front", n_ok, False), ("test/def_front", n_def, True))
    ):
        (base / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(part_image(1000 * k + i, defect=defect)).save(base / folder / f"cast_{i}.jpeg")
    return root


def write_mvtec(root: Path, n_train: int = 20, n_good: int = 4, n_crack: int = 4) -> Path:
    """The MVTec AD layout with masks for the crack images."""
    for folder, n, defect in (
        ("train/good", n_train, False),
        ("test/good", n_good, False),
        ("test/crack", n_crack, True),
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(part_image(100 + i + 50 * defect, defect=defect)).save(root / folder / f"{i:03d}.png")
    (root / "ground_truth" / "crack").mkdir(parents=True)
    for i in range(n_crack - 1):  # the last crack image has no mask: unknown, not "no defect"
        mask = np.zeros((24, 24), dtype=np.uint8)
        mask[8:16, 8:16] = 255
        Image.fromarray(mask).save(root / "ground_truth" / "crack" / f"{i:03d}_mask.png")
    return root


def write_images(folder: Path, n: int = 6, size: tuple[int, int] = (20, 12), seed: int = 0) -> list[np.ndarray]:
    """``n`` small RGB images, PNG and JPEG alternately: a bright square on a dark background."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        w, h = size
        a = np.full((h, w, 3), 30, dtype=np.uint8)
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        a[y : y + 4, x : x + 4] = (220, 180, 40)
        Image.fromarray(a).save(folder / f"img{i:02d}.{'png' if i % 2 == 0 else 'jpg'}")
        arrays.append(a)
    return arrays
