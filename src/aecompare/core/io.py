"""Files on disk: atomic writes that honour the umask, JSON, safe folder names, and one writer per folder.

Every name that comes from a user (a model or dataset label, a class name) becomes a path only through
:func:`safe_name`; every output folder is written by one process at a time (:class:`OutputLock`).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
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
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file.

    Raises:
        DataError: when the file is not valid JSON (names the file).
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); it may be truncated: delete the folder it is in "
                        "and run again") from None


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
        raise ConfigError(f"{what} {text!r} contains a path separator; a label names one folder inside the "
                          "output folder: use letters, digits, '-', '_', '+' or '.'")
    if text.startswith(".") or ".." in text:
        raise ConfigError(f"{what} {text!r} starts with '.' or contains '..'; use letters, digits, '-', '_' "
                          "or '+' (a leading dot would hide the folder, '..' would leave it)")
    return _UNSAFE.sub("_", text)


def check_distinct_names(names: dict[str, str], what: str) -> None:
    """Refuse names that become the same folder: ``names`` maps each original to its :func:`safe_name`.

    Raises:
        ConfigError: naming the two originals that collide (``"a b"`` and ``"a_b"``).
    """
    seen: dict[str, str] = {}
    for original, folder in names.items():
        if folder in seen and seen[folder] != original:
            raise ConfigError(f"{what}s {seen[folder]!r} and {original!r} both become the folder {folder!r}; "
                              "rename one of them")
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
    """An exclusive lock on an output folder, held while one process writes it (``fcntl.flock``).

    The lock file holds the holder's pid; the lock itself dies with the process, so a killed run never
    leaves the folder locked. Use as a context manager.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(f"{self.folder} is being written by another aecompare process (pid {holder}, lock "
                              f"{path}); wait for it to finish, or pass another --output") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


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
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))
