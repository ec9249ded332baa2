"""Folders of image files (PNG, JPEG, ...): decoded once, centre-cropped and resized to a square, held as uint8.

Decoding is the slow part of an image dataset, so it happens once per run; training then reads the cached
array. Pillow (a dependency of matplotlib) does the decoding. The sources here read the two common layouts of
anomaly-detection image sets:

- the castings layout (Kaggle's casting data): ``train/ok_front``, ``test/ok_front``, ``test/def_front``;
- the MVTec AD layout: ``train/good``, ``test/good``, ``test/<defect>``, ``ground_truth/<defect>/*_mask.png``.

In both, the classes under ``train/`` are normal and every other class under ``test/`` is a defect.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from aecompare.core.validation import check_int
from aecompare.data.dataset import Dataset, locate, resolve_data_dir
from aecompare.data.defects import DEFECTS, apply_defect
from aecompare.errors import ConfigError, DataError, DataNotFoundError, unknown_name

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
ON_ERROR = ("raise", "skip")


MAX_SIZE = 2048  # pixels a side: 3 x 2048 x 2048 is within the models' input limit


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name.

    Raises:
        DataNotFoundError: when the folder is missing or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"image folder {folder} not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def _decode_square(path: Path, size: int) -> np.ndarray:
    """One image file as uint8 (3, size, size). An image above Pillow's decompression-bomb limit is an error
    (a warning turned into one), never a silent multi-gigabyte decode."""
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when the file is much larger
            square = ImageOps.fit(img.convert("RGB"), (size, size), Image.Resampling.BILINEAR)
            return np.asarray(square, dtype=np.uint8).transpose(2, 0, 1)  # (3, size, size)


def read_images(
    paths: Sequence[Path], size: int, on_error: str = "raise", desc: str = ""
) -> tuple[np.ndarray, list[Path]]:
    """Decode ``paths`` as RGB, centre-crop each to a square and resize it to ``size`` x ``size``.

    Args:
        paths: image files.
        size: the side of the square output, in pixels.
        on_error: ``"raise"`` stops at an unreadable file with its name; ``"skip"`` leaves it out with a warning.
        desc: names the folder on a progress bar (shown on a terminal, for more than 200 files).

    Returns:
        The images (N, 3, size, size) as uint8, and the files they came from (without skipped ones).

    Raises:
        DataError: for an unreadable file (``on_error="raise"``), or when no file could be read.
    """
    from PIL import Image, UnidentifiedImageError

    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= MAX_SIZE:
        raise ConfigError(f"image size must be an integer of 4 to {MAX_SIZE} pixels, got {size!r}")
    images, kept = [], []
    show = bool(desc) and len(paths) > 200 and sys.stderr.isatty()  # large folders only, and on a terminal
    for path in tqdm(paths, desc=f"decoding {desc}", unit="image", disable=not show, leave=False):
        try:
            images.append(_decode_square(path, size))
            kept.append(path)
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            SyntaxError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as e:
            if on_error == "raise":
                raise DataError(
                    f"{path}: cannot read this image ({type(e).__name__}: {e}); remove or replace the "
                    "file, or skip unreadable files (on_error: skip)"
                ) from None
            log.warning("skipping unreadable image %s (%s)", path, e)
    if not images:
        raise DataError(f"none of the {len(paths)} image files could be read")
    return np.stack(images), kept


CASTING_FOLDER = "casting/casting_data"


def image_folder(
    data_dir: Path | None = None,
    *,
    path: str = "",
    size: int = 256,
    synthetic: list[str] | None = None,
    defect_seed: int = 0,
    salt_pepper_fraction: float = 0.05,
    on_error: str = "raise",
    per_class: int | None = None,
) -> Dataset:
    """A folder in the castings or MVTec AD layout (see the module's docstring), images resized to ``size``.

    Args:
        path: the folder holding ``train/`` and ``test/``: as given, or relative to the data directory.
        size: the square side images are centre-cropped and resized to.
        synthetic: defect kinds (``gaussian``, ``salt_pepper``, ``objects``) to add to the test set: each is a
            seeded, corrupted copy of every normal test image, in a class of that name, so each kind's test set
            is half good, half defective.
        defect_seed: the synthetic defects' seed.
        salt_pepper_fraction: the share of pixels salt & pepper changes.
        on_error: ``raise`` at an unreadable image, or ``skip`` it with a warning.
        per_class: keep the first N files (by name) of each class folder, for quick trials.
    """
    if not path:
        raise ConfigError("image-folder: give the folder, e.g. params: {path: mvtec/bottle} or --images DIR")
    root = locate(path, data_dir)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise DataNotFoundError(
            f"image-folder: {path} (as given, or under the data directory) has no train/ and test/ folders; the "
            "layout is train/<good class>/, test/<good class>/ and test/<defect>/ (castings: train/ok_front, "
            "test/ok_front, test/def_front; MVTec AD: train/good, test/good, test/<defect>)"
        )
    return _folder_dataset(
        root, root.name, size, synthetic or [], defect_seed, salt_pepper_fraction, on_error, per_class
    )


def casting(
    data_dir: Path | None = None,
    *,
    size: int = 256,
    synthetic: list[str] | None = None,
    defect_seed: int = 0,
    salt_pepper_fraction: float = 0.05,
    on_error: str = "raise",
    per_class: int | None = None,
) -> Dataset:
    """Kaggle's casting product images (ravirajsinh45): ``<data dir>/casting/casting_data/`` with
    ``train/ok_front`` (2875 good parts), ``test/ok_front`` (262) and ``test/def_front`` (453 real defects).
    ``synthetic`` adds Klimkevicius's synthetic defect sets (default: all three); the rest as for
    :func:`image_folder`."""
    root = (data_dir or resolve_data_dir()) / CASTING_FOLDER
    if not (root / "train" / "ok_front").is_dir():
        raise DataNotFoundError(
            f"casting: {root / 'train' / 'ok_front'} not found. Download 'casting product image data for quality "
            "inspection' from https://www.kaggle.com/datasets/ravirajsinh45/real-life-industrial-dataset-of-"
            f"casting-product (a Kaggle account is needed) and extract its casting_data/ folder into "
            f"{root.parent}, or point --data-dir / $AECOMPARE_DATA at a folder that has casting/casting_data/."
        )
    kinds = list(DEFECTS) if synthetic is None else synthetic
    return _folder_dataset(root, "casting", size, kinds, defect_seed, salt_pepper_fraction, on_error, per_class)


def _folder_dataset(
    root: Path,
    name: str,
    size: int,
    synthetic: list[str],
    defect_seed: int,
    salt_pepper_fraction: float,
    on_error: str,
    per_class: int | None = None,
) -> Dataset:
    if per_class is not None:
        check_int(per_class, "image-folder: per_class")
    if isinstance(synthetic, str) or not isinstance(synthetic, (list, tuple)):
        raise ConfigError(f"synthetic must be a list of defect kinds, e.g. [gaussian, objects], got {synthetic!r}")
    for kind in synthetic:
        if kind not in DEFECTS:
            raise unknown_name("synthetic defect", kind, DEFECTS)
    normal = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not normal:
        raise DataNotFoundError(f"{root / 'train'} has no class folder (e.g. train/good/) of good images")
    defects = sorted(p.name for p in (root / "test").iterdir() if p.is_dir() and p.name not in normal)
    classes = (*normal, *defects)
    clash = [k for k in synthetic if k in classes]
    if clash:
        raise ConfigError(f"{root}: a test class is named {clash[0]!r} like a synthetic defect; rename the folder")

    def load(part: str, names: list[str]) -> tuple[np.ndarray, np.ndarray, list[Path]]:
        images, labels, files = [], [], []
        for c in names:
            folder = root / part / c
            if not folder.is_dir():
                continue
            pixels, kept = read_images(list_images(folder)[:per_class], size, on_error, desc=f"{part}/{c}")
            images.append(pixels)
            labels.append(np.full(len(pixels), classes.index(c)))
            files += kept
        if not images:
            raise DataNotFoundError(f"{root / part} has no images in {', '.join(names)}")
        return np.concatenate(images), np.concatenate(labels), files

    # uint8 (N, 3, size, size): the decoded images stay cached as bytes; each run scales its own float copy
    x_train, y_train, _ = load("train", normal)
    x_test, y_test, test_files = load("test", [*normal, *defects])
    masks = _read_masks(root, test_files, [classes[i] for i in y_test], normal, size)
    good = np.isin(y_test, [classes.index(c) for c in normal])
    extra_x, extra_y = [], []
    for i, kind in enumerate(synthetic):  # Klimkevicius: corrupted copies of the held-out good images
        params = {"fraction": salt_pepper_fraction} if kind == "salt_pepper" else {}
        corrupted = apply_defect(kind, x_test[good] / np.float32(255.0), seed=defect_seed + i, **params)
        extra_x.append(np.round(corrupted * 255.0).astype(np.uint8))  # 8 bits, as a camera would give
        extra_y.append(np.full(int(good.sum()), len(classes) + i))
    if synthetic:
        x_test = np.concatenate([x_test, *extra_x])
        y_test = np.concatenate([y_test, *extra_y])
        if masks is not None:  # no pixel truth for synthetic defects
            masks = np.concatenate([masks, np.full((sum(len(e) for e in extra_x), size, size), np.nan, np.float32)])
    return Dataset(name, x_train, y_train, x_test, y_test, (*classes, *synthetic), masks)


def _read_masks(root: Path, files: list[Path], labels: list[str], normal: list[str], size: int) -> np.ndarray | None:
    """MVTec's ``ground_truth/<defect>/<image>_mask.png`` per test image, resized like the images (nearest):
    (N, size, size) in {0, 1}; all-zero for good images, NaN for a defect image without a mask. None when
    the folder has no ground_truth/."""
    from PIL import Image, ImageOps

    truth = root / "ground_truth"
    if not truth.is_dir():
        return None
    masks = np.full((len(files), size, size), np.nan, dtype=np.float32)
    for i, (file, label) in enumerate(zip(files, labels)):
        if label in normal:
            masks[i] = 0.0
            continue
        mask_file = truth / label / f"{file.stem}_mask.png"
        if mask_file.exists():
            try:
                with Image.open(mask_file) as m:
                    square = ImageOps.fit(m.convert("L"), (size, size), Image.Resampling.NEAREST)
                    masks[i] = (np.asarray(square) > 127).astype(np.float32)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                raise DataError(
                    f"{mask_file}: cannot read this ground-truth mask ({type(e).__name__}: {e}); "
                    "replace it with the dataset's original, or delete it (the image then counts "
                    "as a defect with an unknown mask)"
                ) from None
    return masks
