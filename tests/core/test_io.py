"""Files on disk: safe names, the output lock, atomic writes that honour the umask, folder replacement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aecompare.core.io import (
    OutputLock,
    atomic_write_text,
    check_distinct_names,
    read_json,
    replace_folder,
    safe_name,
    write_json,
)
from aecompare.errors import ConfigError, DataError


@pytest.mark.parametrize("label", ["", "  ", "../../../../victim", "a/b", "/abs/path", "a\\b", "..", ".hidden", "x..y"])
def test_safe_name_refuses_names_that_could_leave_their_folder(label: str) -> None:
    with pytest.raises(ConfigError, match="model label"):
        safe_name(label, "model label")


def test_safe_name_keeps_plain_names_and_replaces_other_characters() -> None:
    assert safe_name("vae-b2", "model label") == "vae-b2"
    assert safe_name("A1 5-2-5", "variant label") == "A1_5-2-5"
    assert safe_name("T-shirt/top", "class", allow_separators=True) == "T-shirt_top"  # data, not a user's label
    with pytest.raises(ConfigError, match="'..'"):
        safe_name("../x", "class", allow_separators=True)  # even data may not climb out


def test_names_that_become_one_folder_are_refused() -> None:
    with pytest.raises(ConfigError, match="'a b' and 'a_b' both become the folder 'a_b'"):
        check_distinct_names({n: safe_name(n, "class") for n in ("a b", "a_b")}, "class")
    check_distinct_names({n: safe_name(n, "class") for n in ("a", "b")}, "class")  # distinct: no error


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "report.md", "# hello\n")
    finally:
        os.umask(old)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == mode
    assert (tmp_path / "report.md").read_text() == "# hello\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left


def test_a_second_writer_is_refused_naming_the_lock(tmp_path: Path) -> None:
    with (
        OutputLock(tmp_path / "out"),
        pytest.raises(ConfigError, match=r"another aecompare process \(lock .*\.aecompare\.lock\)"),
    ):
        OutputLock(tmp_path / "out").__enter__()
    with OutputLock(tmp_path / "out"):  # released: the next writer gets it
        pass


def test_replace_folder_swaps_in_the_new_contents(tmp_path: Path) -> None:
    final, new = tmp_path / "seed-0", tmp_path / ".seed-0.partial-1"
    for folder, text in ((final, "old"), (new, "new")):
        folder.mkdir()
        (folder / "metrics.json").write_text(text)
    replace_folder(new, final)
    assert (final / "metrics.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed-0"]


def test_truncated_json_names_the_file(tmp_path: Path) -> None:
    write_json(tmp_path / "config.json", {"a": 1})
    (tmp_path / "config.json").write_text('{"a": ')
    with pytest.raises(DataError, match="config.json is not valid JSON"):
        read_json(tmp_path / "config.json")
