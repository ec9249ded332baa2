"""Dataset sources: generated or embedded data, and loaders of real files in their standard formats.

A source returns a :class:`Dataset` with a train and a test partition and class labels; the one-class
split (:mod:`aecompare.data.split`) decides what is normal. Images come as float32 (N, C, H, W) in [0, 1];
tables as float32 (N, D), unscaled.
"""

from __future__ import annotations

import gzip
import inspect
import os
import pickle
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.data.dataset import DATA_ENV, Dataset, locate, resolve_data_dir
from aecompare.data.images import casting, image_folder
from aecompare.data.preprocessing import LoaderTransform, precise_dtype
from aecompare.errors import ConfigError, DataError, DataNotFoundError, unknown_name

# --- generated and embedded -----------------------------------------------------------------------------

LINE_CLASSES = ("line", "defect", "offcentre")


def _line_images(
    n: int, size: int, rng: np.random.Generator, offset: np.ndarray | float = 0.0, white: str = "random"
) -> np.ndarray:
    """Binary (n, size, size) images split into a white and a black half by a line at a random angle.

    The line passes ``offset`` pixels from the centre (0: through it, as in Patuzzo 2020). ``white``:
    ``"random"`` puts the white half on either side (the images form a circle); ``"below"`` keeps it below
    the line (the images form an interval, one per slope: the set a one-unit bottleneck can encode).
    """
    top = np.pi if white == "below" else 2.0 * np.pi
    angle = rng.uniform(0.0, top, size=n)[:, None, None]  # direction of the white side's normal (rows grow down)
    coords = np.arange(size) - (size - 1) / 2.0
    yy, xx = np.meshgrid(coords, coords, indexing="ij")  # (size, size)
    signed = xx * np.cos(angle) + yy * np.sin(angle)  # (n, size, size) signed distance to the line
    return (signed > np.asarray(offset).reshape(-1, 1, 1)).astype(np.float32)


def lines(
    data_dir: Path | None = None,
    *,
    n_train: int = 1000,
    n_test: int = 200,
    n_anomalies: int = 100,
    size: int = 32,
    white: str = "random",
    seed: int = 0,
) -> Dataset:
    """Patuzzo's lines: binary ``size`` x ``size`` images cut in two by a line through the centre.

    ``white``: ``"random"`` (either half white) or ``"below"`` (the white half below the line, so each slope
    gives one image, as in the paper's "a line with a given slope"). Test anomalies come in two groups of
    ``n_anomalies``: ``defect`` (a line image with a square patch of ``size // 6`` pixels flipped) and
    ``offcentre`` (the line misses the centre by 15-35% of the size).
    """
    if min(n_train, n_test, n_anomalies) < 1 or size < 4:
        raise ConfigError("lines needs n_train, n_test and n_anomalies of at least 1 and a size of at least 4")
    if white not in ("random", "below"):
        raise unknown_name("lines white side", white, ("random", "below"))
    rng = np.random.default_rng(seed)
    train = _line_images(n_train, size, rng, white=white)
    normal_test = _line_images(n_test, size, rng, white=white)
    defect = _line_images(n_anomalies, size, rng, white=white)
    patch = max(1, size // 6)
    corners = rng.integers(0, size - patch + 1, size=(n_anomalies, 2))
    rows = corners[:, 0, None] + np.arange(patch)  # (n, patch)
    cols = corners[:, 1, None] + np.arange(patch)
    idx = np.arange(n_anomalies)[:, None, None]
    defect[idx, rows[:, :, None], cols[:, None, :]] = 1.0 - defect[idx, rows[:, :, None], cols[:, None, :]]
    offset = rng.uniform(0.15, 0.35, size=n_anomalies) * size * rng.choice([-1.0, 1.0], size=n_anomalies)
    offcentre = _line_images(n_anomalies, size, rng, offset, white=white)
    x_test = np.concatenate([normal_test, defect, offcentre])[:, None]
    y_test = np.repeat([0, 1, 2], [n_test, n_anomalies, n_anomalies])
    return Dataset("lines", train[:, None], np.zeros(n_train, dtype=int), x_test, y_test, LINE_CLASSES)


SQUARE_CLASSES = ("line", "other")
SQUARE_LINES = ("0011", "1010", "1100", "0101")  # Patuzzo's 2x2 set: upper-left, upper-right, lower-left, lower-right


def squares(data_dir: Path | None = None, *, copies: int = 1) -> Dataset:
    """Patuzzo's 2x2 set: the four images 0011, 1010, 1100 and 0101 (lines at multiples of 90 degrees).

    Pixels are read upper-left, upper-right, lower-left, lower-right. Training holds the four images
    ``copies`` times; the test set holds them once plus the twelve other binary 2x2 images (class ``other``).
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ConfigError(f"squares: copies must be a positive integer, got {copies!r}")
    patterns = [f"{i:04b}" for i in range(16)]
    others = [p for p in patterns if p not in SQUARE_LINES]

    def images(codes: list[str] | tuple[str, ...]) -> np.ndarray:  # -> (n, 1, 2, 2)
        return np.array([[int(c) for c in code] for code in codes], dtype=np.float32).reshape(-1, 1, 2, 2)

    x_train = np.tile(images(SQUARE_LINES), (copies, 1, 1, 1))
    x_test = np.concatenate([images(SQUARE_LINES), images(others)])
    y_test = np.repeat([0, 1], [len(SQUARE_LINES), len(others)])
    return Dataset("squares", x_train, np.zeros(len(x_train), dtype=int), x_test, y_test, SQUARE_CLASSES)


def digits(data_dir: Path | None = None, *, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, ships with scikit-learn), split stratified by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"digits: test_fraction must be in (0, 1), got {test_fraction}")
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        x, bunch.target, test_size=test_fraction, stratify=bunch.target, random_state=seed
    )
    return Dataset(
        "digits",
        x_train,
        y_train,
        x_test,
        y_test,
        tuple(str(i) for i in range(10)),
        transform=LoaderTransform(divide_by=16.0),
    )  # load_digits' intensities are 0-16


# --- files ----------------------------------------------------------------------------------------------

MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (plain or .gz), the format of the original MNIST files."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError; a truncated file, EOFError
        raise DataError(
            f"{path} cannot be read ({type(e).__name__}: {e}): the file is damaged or was not "
            "downloaded completely; delete it and fetch it again (aecompare data download)"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: header says {dims}, found {data.size} values")
    return data.reshape(dims)


MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _idx_dataset(
    name: str,
    folder: Path,
    class_names: tuple[str, ...],
    how_to_get: str,
    per_class: int | None,
    binarize: bool = False,
) -> Dataset:
    """The four MNIST-layout IDX files in ``folder`` as a checked :class:`Dataset` of (N, 1, 28, 28) images."""
    missing = [file for file in MNIST_FILES.values() if not (folder / file).exists()]
    if missing:
        raise DataNotFoundError(
            f"{name}: file {missing[0]} not found in {folder}. Put the four IDX files "
            f"({', '.join(MNIST_FILES.values())}) there ({how_to_get}), or point --data-dir / ${DATA_ENV} at "
            f"a folder with a {folder.name}/ subfolder that holds them."
        )
    arrays = {key: read_idx(folder / file) for key, file in MNIST_FILES.items()}
    parts = {}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        where = f"{name} {part} files in {folder}"
        _check_images(x, y, (28, 28), len(class_names), where)
        x, y = _first_per_class(x, y, per_class)
        x = (x.astype(np.float32) / 255.0)[:, None]  # (N, 1, 28, 28) in [0, 1]
        if binarize:
            x = (x >= 0.5).astype(np.float32)
        parts[part] = (x, y.astype(np.int64))
    return Dataset(
        name,
        *parts["train"],
        *parts["test"],
        class_names,
        transform=LoaderTransform(divide_by=255.0, binarize_at=0.5 if binarize else None),
        files=tuple(folder / file for file in MNIST_FILES.values()),
    )


def _first_per_class(x: np.ndarray, y: np.ndarray, per_class: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` samples of each class, in file order; everything when None."""
    if per_class is None:
        return x, y
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ConfigError(f"per_class must be a positive integer, got {per_class!r}")
    rank = np.zeros(len(y), dtype=np.int64)  # each sample's position among the samples of its class
    for c in np.unique(y):
        members = y == c
        rank[members] = np.arange(members.sum())
    keep = rank < per_class
    return x[keep], y[keep]


def _check_images(x: np.ndarray, y: np.ndarray, image_shape: tuple[int, ...], n_classes: int, where: str) -> None:
    """Raise a :class:`DataError` unless images and labels agree in count, shape and label range."""
    if x.ndim != 1 + len(image_shape) or tuple(x.shape[1:]) != image_shape:
        raise DataError(f"{where}: images have shape {tuple(x.shape[1:])}, expected {image_shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{where}: {len(x)} images but {len(y)} labels; the files do not belong together")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{where}: labels range from {y.min()} to {y.max()}, expected 0 to {n_classes - 1}")


def mnist(data_dir: Path | None = None, *, per_class: int | None = None, binarize: bool = False) -> Dataset:
    """MNIST from the four original IDX ``.gz`` files in ``<data dir>/mnist/``.

    ``per_class`` keeps the first N images of each class in each partition (quick trials). ``binarize``
    sets each pixel to 1 where its grey value is at least 0.5, else 0 (Patuzzo's "black and white" MNIST).
    """
    if not isinstance(binarize, bool):
        raise ConfigError(f"mnist: binarize must be true or false, got {binarize!r}")
    return _idx_dataset(
        "mnist",
        (data_dir or resolve_data_dir()) / "mnist",
        MNIST_CLASSES,
        "`aecompare data download mnist` fetches them",
        per_class,
        binarize,
    )


def fashion_mnist(data_dir: Path | None = None, *, per_class: int | None = None) -> Dataset:
    """Fashion-MNIST (Xiao et al., 2017) from its four IDX ``.gz`` files in ``<data dir>/fashion-mnist/``.

    The files have MNIST's names and format; the classes are clothing items. ``per_class`` as for MNIST.
    """
    return _idx_dataset(
        "fashion-mnist",
        (data_dir or resolve_data_dir()) / "fashion-mnist",
        FASHION_MNIST_CLASSES,
        "`aecompare data download fashion-mnist` fetches them",
        per_class,
    )


CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a batch file cannot run code when loaded."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,)."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{path} is not a CIFAR-10 python batch file: {e}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 python batch file: expected a dict with b'data' and b'labels'")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8:  # a silent cast would wrap 256 to 0 and -1 to 255
        outside = data.dtype.kind not in "biu" or data.size and (data.min() < 0 or data.max() > 255)
        raise DataError(
            f"{path}: data is {data.dtype}, expected uint8 pixels 0-255"
            + (" (it holds values outside 0-255)" if outside else "")
            + "; the file is not an original "
            "CIFAR-10 batch: fetch it again (aecompare data download cifar10)"
        )
    if (
        labels.ndim != 1
        or labels.dtype.kind not in "iu"
        or len(labels) != len(data)
        or (labels.size and (labels.min() < 0 or labels.max() > 9))
    ):
        raise DataError(f"{path}: labels must be {len(data)} integers 0-9, one per image")
    labels = labels.astype(np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: data has shape {data.shape}, expected (N, 3072) (3 x 32 x 32 pixels per row)")
    return data.reshape(-1, 3, 32, 32), labels  # rows are channel-major: 1024 red, 1024 green, 1024 blue


def cifar10(data_dir: Path | None = None, *, per_class: int | None = None) -> Dataset:
    """CIFAR-10 from the python pickle batches in ``<data dir>/cifar10/cifar-10-batches-py/``.

    ``per_class`` keeps the first N images of each class in each partition (quick trials).
    """
    folder = (data_dir or resolve_data_dir()) / "cifar10" / CIFAR10_FOLDER
    missing = [file for file in (*CIFAR10_TRAIN, *CIFAR10_TEST) if not (folder / file).exists()]
    if missing:
        raise DataNotFoundError(
            f"cifar10: file {missing[0]} not found in {folder}. Extract the python version of CIFAR-10 "
            f"(cifar-10-python.tar.gz, which holds {CIFAR10_FOLDER}/) into the data directory's cifar10/ "
            f"folder (`aecompare data download cifar10` does this), or point --data-dir / ${DATA_ENV} at a "
            "folder that has it."
        )
    parts = {}
    for part, files in (("train", CIFAR10_TRAIN), ("test", CIFAR10_TEST)):
        batches = [read_cifar_batch(folder / file) for file in files]
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        _check_images(x, y, (3, 32, 32), len(CIFAR10_CLASSES), f"cifar10 {part} batches in {folder}")
        x, y = _first_per_class(x, y, per_class)
        parts[part] = (x.astype(np.float32) / 255.0, y)  # (N, 3, 32, 32) in [0, 1]
    return Dataset(
        "cifar10",
        *parts["train"],
        *parts["test"],
        CIFAR10_CLASSES,
        transform=LoaderTransform(divide_by=255.0),
        files=tuple(folder / file for file in (*CIFAR10_TRAIN, *CIFAR10_TEST)),
    )


# --- tables ---------------------------------------------------------------------------------------------

TABLE_CLASSES = ("normal", "anomaly")
TABLE_SUFFIXES = (".csv", ".npz", ".mat")
CREDITCARD_COLUMNS = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class")


def read_table(path: str | os.PathLike, label: str = "label") -> tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]:
    """A labelled table from a CSV, NPZ or MAT file: features X (N, D) float32, labels y (N,) with 1 =
    anomaly, 0 = normal, and the feature names (a CSV's header; None for NPZ and MAT, which name no columns).

    CSV: a header row; the column named ``label`` holds the labels, every other column is a numeric feature.
    NPZ (ADBench) and MAT (ODDS): arrays ``X`` and ``y``.

    Raises:
        DataNotFoundError: when the file is missing.
        DataError: for another format, missing arrays or columns, non-numeric values, or labels other than 0/1.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"table file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        x, y, names = _read_csv_table(path, label)
    elif suffix in (".npz", ".mat"):
        arrays = _read_npz(path) if suffix == ".npz" else _read_mat(path)
        missing = [k for k in ("X", "y") if k not in arrays]
        if missing:
            raise DataError(
                f"{path} has no array {missing[0]!r} (found {', '.join(sorted(arrays)) or 'none'}); "
                "a table file holds X (samples x features) and y (1 = anomaly, 0 = normal)"
            )
        x = np.asarray(arrays["X"])
        y = np.asarray(arrays["y"]).reshape(-1)
        if x.ndim != 2 or len(x) != len(y):
            raise DataError(f"{path}: X has shape {x.shape} and y {len(y)} entries; expected X (N, D) and y (N,)")
        if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
            raise DataError(f"{path}: X and y must be numeric, got {x.dtype} and {y.dtype}")
        names = None
    else:
        raise DataError(f"{path}: unknown table format {suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}")
    if not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise DataError(f"{path}: labels must be 0 (normal) or 1 (anomaly), found {bad.tolist()}")
    return x.astype(precise_dtype(x)), y.astype(np.int64), names  # float32 unless that loses the spread


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path} is not a readable .npz file (not a zip archive): it is damaged, truncated or of "
            "another format; write it again with numpy.savez(path, X=X, y=y)"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError:  # an object array: loading it would unpickle, which could run code
        raise DataError(
            f"{path} holds Python objects, not plain numeric arrays; aecompare does not unpickle "
            "files. Save X and y as numeric arrays (numpy.savez(path, X=X, y=y))"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:  # not a zip, or truncated
        raise DataError(
            f"{path} is not a readable .npz file ({type(e).__name__}): it is damaged, truncated or "
            "of another format; write it again with numpy.savez(path, X=X, y=y)"
        ) from None


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    from scipy.io import loadmat  # scipy comes with scikit-learn
    from scipy.io.matlab import MatReadError

    try:
        return {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    except NotImplementedError:
        raise DataError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read; open it with h5py and "
            "save X and y with numpy.savez"
        ) from None
    except (MatReadError, ValueError, OSError, TypeError, EOFError, IndexError, KeyError) as e:  # empty, truncated
        raise DataError(
            f"{path} is not a readable MATLAB .mat file ({type(e).__name__}: {e}); it is empty, "
            "damaged or of another format: save X and y with scipy.io.savemat"
        ) from None


def read_features(path: str | os.PathLike, label: str = "label") -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The features of a CSV, NPZ or MAT table, labelled or not (new data to score): X (N, D) float32 and the
    feature names (None for NPZ and MAT). A CSV's ``label`` column is left out when present; an NPZ or MAT file
    holds ``X``.

    Raises:
        DataNotFoundError: when the file is missing.
        DataError: for another format, a missing ``X``, or non-numeric values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"table file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        x, _, names = _read_csv_table(path, label, required=False)
        return x.astype(precise_dtype(x)), names
    if suffix not in (".npz", ".mat"):
        raise DataError(f"{path}: unknown table format {suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}")
    arrays = _read_npz(path) if suffix == ".npz" else _read_mat(path)
    x = np.asarray(arrays.get("X", np.empty(0)))
    if "X" not in arrays or x.ndim != 2 or x.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: expected a numeric array X (samples x features), found {', '.join(sorted(arrays)) or 'no arrays'}"
        )
    return x.astype(precise_dtype(x)), None


def _read_csv_table(
    path: Path, label: str, required: bool = True
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    import csv

    try:  # utf-8-sig: a byte-order mark (Excel's CSV export) is read as such, not as part of the first name
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason}); save the CSV as UTF-8") from None
    if not header:
        raise DataError(f"{path} is empty; a CSV table needs a header row and data rows")
    header = [h.strip() for h in header]
    if label not in header and required:
        raise DataError(
            f"{path}: no label column {label!r}; the columns are: {', '.join(header[:40])}. Name the "
            "column that marks anomalies (1) and normal rows (0), e.g. params: {label: Class}"
        )
    try:  # numpy's C parser: 284,807 rows in a few seconds
        values = np.loadtxt(
            path, delimiter=",", skiprows=1, quotechar='"', dtype=np.float64, ndmin=2, encoding="utf-8-sig"
        )
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: every value must be a number ({e})") from None
    if values.shape[1] != len(header):
        raise DataError(f"{path}: the header names {len(header)} columns but the rows have {values.shape[1]}")
    if label not in header:
        return values, None, tuple(header)
    column = header.index(label)
    names = tuple(h for i, h in enumerate(header) if i != column)
    return np.delete(values, column, axis=1), values[:, column], names


def _table_dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    test_fraction: float,
    seed: int,
    feature_names: tuple[str, ...] | None = None,
    file: Path | None = None,
) -> Dataset:
    """The one-class partition of a labelled table: a seeded ``test_fraction`` of the normal rows and every
    anomaly form the test set; the other normal rows are the training partition (validation is cut from it)."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"{name}: test_fraction must be in (0, 1), got {test_fraction}")
    normal, anomalous = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    if len(normal) < 2 or len(anomalous) == 0:
        raise DataError(
            f"{name}: a one-class table needs at least 2 normal rows and 1 anomaly, found "
            f"{len(normal)} and {len(anomalous)}"
        )
    normal = np.random.default_rng(seed).permutation(normal)
    n_test = min(max(1, int(round(test_fraction * len(normal)))), len(normal) - 1)
    test = np.concatenate([normal[:n_test], anomalous])
    train = np.sort(normal[n_test:])
    return Dataset(
        name,
        x[train],
        np.zeros(len(train), dtype=np.int64),
        x[test],
        y[test],
        TABLE_CLASSES,
        feature_names=feature_names,
        files=(file,) if file else (),
    )


def tabular(data_dir: Path | None = None, *, table: str = "", test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """An ODDS / ADBench benchmark table from ``<data dir>/tabular/``: ``table: cardio`` reads ``cardio.npz``
    or ADBench's ``6_cardio.npz`` (or a ``.mat`` / ``.csv`` of that name).

    ``test_fraction`` of the normal rows (drawn with ``seed``) and all anomalies are the test set.
    """
    folder = (data_dir or resolve_data_dir()) / "tabular"
    found = {_table_name(p): p for p in sorted(folder.glob("*")) if p.suffix.lower() in TABLE_SUFFIXES}
    if not table:
        raise ConfigError(
            f"tabular: name a table, e.g. params: {{table: cardio}}; tables in {folder}: "
            f"{', '.join(sorted(found)) or '(none)'}"
        )
    if table not in found:
        raise DataNotFoundError(
            f"tabular: no table {table!r} in {folder} (looked for {table}.npz or <number>_{table}.npz, .mat, .csv); "
            f"tables there: {', '.join(sorted(found)) or '(none)'}. ADBench's Classical/*.npz and ODDS's .mat "
            f"files work as they are; put them in that folder or point --data-dir / ${DATA_ENV} elsewhere."
        )
    x, y, names = read_table(found[table])
    return _table_dataset(table, x, y, test_fraction, seed, names, found[table])


def _table_name(path: Path) -> str:
    """``6_cardio.npz`` -> ``cardio`` (ADBench numbers its files), ``cardio.mat`` -> ``cardio``."""
    stem = path.stem
    prefix, _, rest = stem.partition("_")
    return rest if prefix.isdigit() and rest else stem


def table(
    data_dir: Path | None = None, *, path: str = "", label: str = "label", test_fraction: float = 0.3, seed: int = 0
) -> Dataset:
    """Any labelled table (CSV with a ``label`` column, NPZ or MAT with ``X``, ``y``): ``path`` as given, or
    relative to the data directory. The one-class partition as in :func:`tabular`."""
    if not path:
        raise ConfigError("table: give the file, e.g. params: {path: my_data.csv, label: is_fraud}")
    file = locate(path, data_dir)
    if not file.is_file():
        raise DataNotFoundError(
            f"table: {path} not found (as given, or in the data directory {data_dir or resolve_data_dir()})"
        )
    x, y, names = read_table(file, label)
    return _table_dataset(file.stem, x, y, test_fraction, seed, names, file)


def creditcard(data_dir: Path | None = None, *, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """The Kaggle credit-card fraud table (ULB; 284,807 transactions, 492 frauds): ``creditcard.csv`` with
    columns Time, V1..V28, Amount, Class, in the data directory or its ``creditcard/`` folder. All 30
    features are kept; standardisation happens later, on normal training rows only."""
    root = data_dir or resolve_data_dir()
    candidates = [root / "creditcard.csv", root / "creditcard" / "creditcard.csv"]
    file = next((c for c in candidates if c.is_file()), None)
    if file is None:
        raise DataNotFoundError(
            f"creditcard: creditcard.csv not found (looked at {candidates[0]} and {candidates[1]}). It needs a "
            "Kaggle account, so aecompare cannot fetch it: download it from "
            "https://www.kaggle.com/mlg-ulb/creditcardfraud and put creditcard.csv (columns Time, V1..V28, "
            "Amount, Class) at one of those places, or point --data-dir / $AECOMPARE_DATA at its folder."
        )
    with open(file, encoding="utf-8") as f:
        header = tuple(h.strip().strip('"') for h in f.readline().strip().split(","))
    if header != CREDITCARD_COLUMNS:
        missing = [c for c in CREDITCARD_COLUMNS if c not in header]
        raise DataError(
            f"{file} does not have the credit-card schema (Time, V1..V28, Amount, Class): "
            + (f"column {missing[0]!r} is missing" if missing else f"the columns are {header}")
        )
    x, y, names = read_table(file, "Class")
    return _table_dataset("creditcard", x, y, test_fraction, seed, names, file)


SOURCES: dict[str, Callable[..., Dataset]] = {
    "casting": casting,
    "cifar10": cifar10,
    "creditcard": creditcard,
    "digits": digits,
    "fashion-mnist": fashion_mnist,
    "image-folder": image_folder,
    "lines": lines,
    "mnist": mnist,
    "squares": squares,
    "table": table,
    "tabular": tabular,
}


def available_datasets() -> list[str]:
    """The names :func:`load_dataset` accepts."""
    return sorted(SOURCES)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, **params: Any) -> Dataset:
    """Load or generate the dataset ``name`` with source-specific ``params``.

    Raises:
        ConfigError: for an unknown dataset or parameter (the valid ones are listed).
        DataNotFoundError: when a file-based source finds no files (says where it looked).
    """
    check_source_params(name, params)
    return SOURCES[name](resolve_data_dir(data_dir), **params)


def source_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every parameter of the source ``name`` that they leave out at its default: the same data
    asked for with or without its defaults written out gives the same settings."""
    check_source_params(name, params)
    defaults = {
        p.name: p.default
        for p in inspect.signature(SOURCES[name]).parameters.values()
        if p.name != "data_dir" and p.default is not inspect.Parameter.empty
    }
    return {**defaults, **params}


def check_source_params(name: str, params: dict[str, Any], where: str = "") -> None:
    """Raise a :class:`ConfigError` for an unknown dataset or parameter, listing the valid ones."""
    if name not in SOURCES:
        raise unknown_name("dataset", name, SOURCES)
    valid = [p for p in inspect.signature(SOURCES[name]).parameters if p != "data_dir"]
    for key in params:
        if key not in valid:
            raise ConfigError(
                f"{where}dataset {name!r}: unknown parameter {key!r}; "
                f"valid parameters are: {', '.join(valid) or '(none)'}"
            )
