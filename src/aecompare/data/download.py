"""``aecompare data download NAME``: fetch a dataset's original files into the data directory and verify them.

Files land where the loaders in :mod:`aecompare.data.sources` look, are written under a temporary name and
renamed only once their MD5 matches the published one, so an interrupted download leaves nothing half-done.
Without a network the error says which files to put where.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from aecompare.data.sources import MNIST_FILES, resolve_data_dir
from aecompare.errors import DataError, DataNotFoundError, unknown_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: its name, the published MD5, and whether it is a tar to extract in place."""

    name: str
    md5: str
    extract: bool = False


@dataclass(frozen=True)
class Download:
    """Where a dataset's files come from (tried in order) and the subfolder of the data directory they go to."""

    folder: str
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]


_MNIST_MD5 = (
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
)
_FASHION_MD5 = (
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "25c81989df183df01b3e8a0aad5dffbe",
    "bef4ecab320f06d8554ea6380940ec79",
    "bb300cfdad3c16e7a12a480ee83cd310",
)

DOWNLOADS: dict[str, Download] = {
    "mnist": Download(
        "mnist",
        # LeCun's page, the original, often refuses downloads; PyTorch's mirror serves the same bytes.
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        tuple(RemoteFile(f, m) for f, m in zip(MNIST_FILES.values(), _MNIST_MD5)),
    ),
    "fashion-mnist": Download(
        "fashion-mnist",
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        tuple(RemoteFile(f, m) for f, m in zip(MNIST_FILES.values(), _FASHION_MD5)),
    ),
    "cifar10": Download(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", extract=True),),
    ),
}


def md5sum(path: Path) -> str:
    """The MD5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    mirrors: tuple[str, ...] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch dataset ``name`` into ``<data dir>/<folder>/``, verify each file's MD5, extract archives.

    Files already present with the right checksum are kept. ``mirrors`` replaces the built-in base URLs
    (tests pass ``file://`` URLs).

    Returns:
        The dataset's folder.

    Raises:
        ConfigError: for an unknown name (the valid ones are listed).
        DataNotFoundError: when no mirror could be reached; says which files to put where by hand.
        DataError: when a downloaded file's checksum does not match (the file is not kept).
    """
    if name not in DOWNLOADS:
        raise unknown_name("downloadable dataset", name, DOWNLOADS)
    spec = DOWNLOADS[name]
    folder = resolve_data_dir(data_dir) / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    for remote in spec.files:
        target = folder / remote.name
        if not (target.exists() and md5sum(target) == remote.md5):
            errors = _fetch(remote, target, mirrors or spec.mirrors, timeout)
            if errors:
                needed = [
                    f"{f.name} (MD5 {f.md5})"
                    for f in spec.files
                    if not ((folder / f.name).exists() and md5sum(folder / f.name) == f.md5)
                ]
                raise DataNotFoundError(
                    f"could not download {name} ({'; '.join(errors)}). Without a network, copy "
                    f"{', '.join(needed)} into {folder} yourself, then run the same command again to verify."
                )
        if remote.extract:
            _extract(target, folder)
    return folder


def _fetch(remote: RemoteFile, target: Path, mirrors: tuple[str, ...], timeout: float) -> list[str]:
    """Fetch ``remote`` from the first mirror that answers; the mirrors' errors if none did."""
    partial = target.with_name(target.name + ".part")
    errors: list[str] = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + remote.name
        log.info("downloading %s", url)
        try:
            with (
                urllib.request.urlopen(url, timeout=timeout) as response,
                open(partial, "wb") as out,
                tqdm(
                    total=int(response.headers.get("Content-Length") or 0) or None,
                    unit="B",
                    unit_scale=True,
                    desc=remote.name,
                    disable=not sys.stderr.isatty(),
                    leave=False,
                ) as bar,
            ):
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            partial.unlink(missing_ok=True)
            continue
        got = md5sum(partial)
        if got != remote.md5:
            partial.unlink()
            raise DataError(
                f"{url}: checksum mismatch (MD5 {got}, expected {remote.md5}); the file was not "
                "kept. Try again later, or fetch it by hand from another mirror."
            )
        os.replace(partial, target)
        return []
    return errors


def _extract(archive: Path, folder: Path) -> None:
    """Extract a tar archive's regular files and folders inside ``folder``; nothing may land outside it."""
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            destination = (folder / member.name).resolve()
            if not (member.isfile() or member.isdir()) or folder.resolve() not in destination.parents:
                raise DataError(f"{archive}: refusing to extract {member.name!r} (a link or a path outside {folder})")
            members.append(member)
        # The "data" filter (Python >= 3.11.4) also strips permissions and owners from the archive.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(folder, members=members, **safe)
