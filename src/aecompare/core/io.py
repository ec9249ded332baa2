"""Files on disk: atomic writes that honour the umask, guarded reads, JSON, safe folder names, and one writer
per folder.

Every name that comes from a user (a model or dataset label, a class name) becomes a path only through
:func:`safe_name`; every output folder is written by one process at a time (:class:`OutputLock`).

A run or output folder may come from elsewhere, so nothing in it is trusted: writes refuse a symbolic link or
anything but a file at their path (:func:`refuse_planted`), and reads (:func:`read_file`, :func:`read_json`,
:func:`read_arrays`) refuse links, anything but a regular file, files over a size limit, JSON nested deeper
than :data:`JSON_DEPTH` and arrays whose headers promise more than their files hold.
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.errors import ConfigError, DataError


def _umask() -> int:
    """The process's umask (read by setting it and back: there is no getter before Python 3.13's os)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    The file gets the mode a plain ``open()`` would give (0644 under umask 022), not mkstemp's 0600, so a
    colleague or a web server can read reports and results.

    Raises:
        DataError: when ``path`` is a symbolic link (planted in a folder from elsewhere) or not a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_planted(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refuse_planted(path: Path) -> None:
    """Refuse to write ``path`` when it is a symbolic link or not a file: ``os.replace`` would replace a link
    rather than write through it, but a link where aecompare writes means the folder is not what it made.

    Raises:
        DataError: naming the path.
    """
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise DataError(
            f"{path} is a symbolic link or not a file; aecompare writes only files of its own there: "
            "remove it, or use an output folder you trust"
        )


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


READ_LIMIT = 4 << 30  # bytes: a weights or scores file larger than this was not written by aecompare
JSON_LIMIT = 256 << 20  # bytes of one JSON file
JSON_DEPTH = 32  # nesting of a JSON file: aecompare writes at most 6 levels


def read_file(path: str | Path, limit: int = READ_LIMIT) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, opened without following a symbolic link and
    without blocking on a FIFO or device (a planted ``model.json`` that is a link to /dev/zero or a pipe).

    Raises:
        FileNotFoundError: when there is no such file.
        DataError: for a link, anything but a regular file, or a file over the limit (names it).
    """
    path = Path(path)
    if path.is_symlink():  # also where the system has no O_NOFOLLOW
        raise DataError(
            f"{path} is a symbolic link; aecompare reads only files it wrote in this folder: "
            "remove the link or use a folder you trust"
        )
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DataError(f"{path} is a symbolic link; aecompare reads only files it wrote in this folder") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise DataError(
            f"{path} is not a regular file (a pipe, device or folder); aecompare reads only files "
            "it wrote: remove it or use a folder you trust"
        )
    with os.fdopen(fd, "rb") as f:
        if info.st_size > limit:
            raise DataError(
                f"{path} holds {info.st_size} bytes, more than the {limit} a file of aecompare's "
                "holds; it was not written by aecompare"
            )
        data = f.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{path} holds more than {limit} bytes; it was not written by aecompare")
    return data


def read_json(path: str | Path, limit: int = JSON_LIMIT) -> Any:
    """Read a JSON file through :func:`read_file`, refusing nesting deeper than :data:`JSON_DEPTH`.

    Raises:
        DataError: when the file is not valid JSON, too large, too deep, or not a regular file (names it).
    """
    deep = DataError(f"{path} is nested deeper than {JSON_DEPTH} levels; it was not written by aecompare")
    try:
        value = json.loads(read_file(path, limit).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(
            f"{path} is not valid JSON ({e}); it may be truncated: delete the folder it is in and run again"
        ) from None
    except RecursionError:
        raise deep from None
    if _depth(value) > JSON_DEPTH:
        raise deep
    return value


def _depth(value: Any) -> int:
    """How deeply lists and mappings nest in ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_arrays(path: str | Path, limit: int = READ_LIMIT) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (or the one array of an ``.npy`` file, as ``{"": array}``) read through
    :func:`read_file`, each header checked against the bytes that follow it before anything is allocated.

    Raises:
        DataError: for a damaged file, an object array, or a header that promises more than the file holds.
    """
    data = read_file(path, limit)
    try:
        if not data.startswith(b"PK"):
            return {"": _npy_array(data, path)}
        arrays = {}
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                if member.file_size > limit:
                    raise DataError(
                        f"{path}: member {member.filename} unpacks to {member.file_size} bytes; the "
                        "file was not written by aecompare"
                    )
                arrays[member.filename.removesuffix(".npy")] = _npy_array(archive.read(member), path)
        return arrays
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} cannot be read ({type(e).__name__}: {e}); it is damaged: run again") from None


def read_array(path: str | Path) -> np.ndarray:
    """The array of an ``.npy`` file (see :func:`read_arrays`)."""
    arrays = read_arrays(path)
    if set(arrays) != {""}:
        raise DataError(f"{path} is not a single .npy array")
    return arrays[""]


def _npy_array(data: bytes, path: str | Path) -> np.ndarray:
    """One ``.npy`` array from its bytes, after checking that its header's shape fits the bytes it has."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = header(stream)
    if dtype.hasobject:
        raise DataError(f"{path}: holds Python objects; aecompare writes numbers only")
    if int(np.prod(shape, dtype=object)) * dtype.itemsize > len(data) - stream.tell():
        raise DataError(
            f"{path}: an array header promises {shape} values, more than the file holds; it is "
            "damaged or was not written by aecompare"
        )
    stream.seek(0)
    return np.load(stream, allow_pickle=False)


def array_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of an ``.npy`` file (for :func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def arrays_bytes(arrays: dict[str, np.ndarray], *, compressed: bool = False) -> bytes:
    """``arrays`` as the bytes of an ``.npz`` file (for :func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def canonical_json(obj: Any) -> str:
    """``obj`` as compact JSON with sorted keys: equal values give equal text (for hashes and comparisons)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


_UNSAFE = re.compile(r"[^\w.+-]")


def safe_name(text: str, what: str, *, allow_separators: bool = False) -> str:
    """``text`` as one folder name: characters other than letters, digits, ``.``, ``+`` and ``-`` become ``_``.

    The one way a name from a user or a dataset becomes a path. Labels (``allow_separators=False``) must not
    try to leave their folder; class names, which are data (Fashion-MNIST's ``T-shirt/top``), may hold a
    separator, which becomes ``_`` like any other character.

    Args:
        text: the name.
        what: what it names, for the error (``"model label"``).
        allow_separators: turn ``/`` and ``\\`` into ``_`` instead of refusing them.

    Raises:
        ConfigError: for an empty name, a name starting with ``.`` or holding ``..``, or (unless allowed) an
            absolute path or a path separator.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{what} {text!r} is empty; give it a name of letters, digits, '-', '_' or '.'")
    if not allow_separators and ("/" in text or "\\" in text or os.path.isabs(text)):
        raise ConfigError(
            f"{what} {text!r} contains a path separator; a label names one folder inside the "
            "output folder: use letters, digits, '-', '_', '+' or '.'"
        )
    if text.startswith(".") or ".." in text:
        raise ConfigError(
            f"{what} {text!r} starts with '.' or contains '..'; use letters, digits, '-', '_' "
            "or '+' (a leading dot would hide the folder, '..' would leave it)"
        )
    return _UNSAFE.sub("_", text)


def check_distinct_names(names: dict[str, str], what: str) -> None:
    """Refuse names that become the same folder: ``names`` maps each original to its :func:`safe_name`.

    Raises:
        ConfigError: naming the two originals that collide (``"a b"`` and ``"a_b"``).
    """
    seen: dict[str, str] = {}
    for original, folder in names.items():
        if folder in seen and seen[folder] != original:
            raise ConfigError(
                f"{what}s {seen[folder]!r} and {original!r} both become the folder {folder!r}; rename one of them"
            )
        seen[folder] = original


def inside(folder: Path, path: Path) -> Path:
    """``path``, after checking that it lies inside ``folder`` (a last guard behind :func:`safe_name`).

    Raises:
        ConfigError: when it does not.
    """
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ConfigError(f"{path} lies outside the output folder {folder}; refusing to write there")
    return path


LOCK_FILE = ".aecompare.lock"


class OutputLock:
    """An exclusive lock on an output folder, held while one process writes it (the ``filelock`` library:
    ``flock`` on POSIX, ``msvcrt.locking`` on Windows).

    The lock dies with the process, so a killed run never leaves the folder locked. A symbolic link planted
    as the lock file is refused, never opened (``filelock`` would truncate what it points to before 3.20.1).
    Use as a context manager.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock: Any = None

    def __enter__(self) -> OutputLock:
        from filelock import FileLock, Timeout

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ConfigError(
                f"{path} is a symbolic link or not a file; aecompare's lock file is one it makes "
                "itself: remove it, or pass another --output"
            )
        lock = FileLock(str(path), timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise ConfigError(
                f"{self.folder} is being written by another aecompare process (lock {path}); wait "
                "for it to finish, or pass another --output"
            ) from None
        self._lock = lock
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


_RENAME_EXCHANGE = 2  # linux/fs.h


def replace_folder(new: Path, final: Path) -> None:
    """Put the finished folder ``new`` at ``final``. Where ``final`` exists, the two are swapped in one
    step (Linux's ``renameat2(RENAME_EXCHANGE)``), so ``final`` is never absent, and the old one is deleted
    after; elsewhere the old one is moved aside first."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        os.replace(new, final)
        return
    if not _exchange(new, final):
        aside = new.with_name(new.name + ".old")
        os.replace(final, aside)
        os.replace(new, final)
        new = aside
    shutil.rmtree(new)  # now the old contents


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no CDLL(None)
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))
