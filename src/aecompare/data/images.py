"""Folders of image files (PNG, JPEG, ...): decoded once, centre-cropped and resized to a square, held as uint8.

Decoding is the slow part of an image dataset, so it happens once per run; training then reads the cached
array. Pillow (a dependency of matplotlib) does the decoding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aecompare.errors import ConfigError, DataError, DataNotFoundError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
ON_ERROR = ("raise", "skip")


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


def read_images(paths: Sequence[Path], size: int, on_error: str = "raise") -> tuple[np.ndarray, list[Path]]:
    """Decode ``paths`` as RGB, centre-crop each to a square and resize it to ``size`` x ``size``.

    Args:
        paths: image files.
        size: the side of the square output, in pixels.
        on_error: ``"raise"`` stops at an unreadable file with its name; ``"skip"`` leaves it out with a warning.

    Returns:
        The images (N, 3, size, size) as uint8, and the files they came from (without skipped ones).

    Raises:
        DataError: for an unreadable file (``on_error="raise"``), or when no file could be read.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ConfigError(f"image size must be an integer of at least 4 pixels, got {size!r}")
    images, kept = [], []
    for path in paths:
        try:
            with Image.open(path) as img:
                img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when the file is much larger
                square = ImageOps.fit(img.convert("RGB"), (size, size), Image.Resampling.BILINEAR)
                images.append(np.asarray(square, dtype=np.uint8).transpose(2, 0, 1))  # (3, size, size)
                kept.append(path)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            if on_error == "raise":
                raise DataError(f"{path}: cannot read this image ({e}); remove or replace the file, or skip "
                                "unreadable files (on_error: skip)") from None
            log.warning("skipping unreadable image %s (%s)", path, e)
    if not images:
        raise DataError(f"none of the {len(paths)} image files could be read")
    return np.stack(images), kept


def read_image_folder(folder: str | Path, size: int, on_error: str = "raise") -> np.ndarray:
    """Every image directly in ``folder`` as uint8 (N, 3, size, size); see :func:`read_images`."""
    return read_images(list_images(folder), size, on_error)[0]
