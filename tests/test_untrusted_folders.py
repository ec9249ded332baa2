"""A run or output folder from elsewhere is not trusted: every planted link, special file, oversized config and
absurd value of ``tests/fault_cases.py`` (kind "untrusted") ends in one clear line and exit status 2, and the
file a planted link points at is byte-identical afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aecompare.core.io import JSON_DEPTH, atomic_write_text, read_arrays, read_file, read_json
from aecompare.errors import DataError
from conftest import run_cli
from fault_cases import FAULTS, VICTIM, VICTIM_TEXT, Fault


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.kind == "untrusted"], ids=lambda f: f.name)
def test_each_planted_case_is_one_clear_line_and_changes_nothing(fault: Fault, tmp_path: Path) -> None:
    if fault.name == "symlinked model.onnx":
        pytest.importorskip("onnxscript", reason="the export case needs the onnx extra (pip install '.[onnx]')")
    argv, expected = fault.setup(tmp_path)
    code, out, err = run_cli(argv)
    assert code == 2, err
    assert expected in err
    assert err.startswith("aecompare: error: ")
    assert err.count("\n") == 1
    assert out == ""
    if (tmp_path / VICTIM).exists():
        assert (tmp_path / VICTIM).read_bytes() == VICTIM_TEXT


def test_reads_refuse_links_special_files_and_oversized_files(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_text('{"a": 1}')
    (tmp_path / "link.json").symlink_to(target)
    with pytest.raises(DataError, match="is a symbolic link"):
        read_json(tmp_path / "link.json")
    with pytest.raises(DataError, match="not a regular file"):
        read_file(tmp_path)
    with pytest.raises(DataError, match="holds 8 bytes, more than the 4"):
        read_file(target, limit=4)
    assert read_json(target) == {"a": 1}


def test_json_nested_beyond_the_limit_is_refused_and_within_it_read(tmp_path: Path) -> None:
    ok, deep = tmp_path / "ok.json", tmp_path / "deep.json"
    ok.write_text("[" * JSON_DEPTH + "]" * JSON_DEPTH)
    deep.write_text("[" * (JSON_DEPTH + 1) + "]" * (JSON_DEPTH + 1))
    assert read_json(ok) is not None
    with pytest.raises(DataError, match=f"nested deeper than {JSON_DEPTH} levels"):
        read_json(deep)


def test_an_array_header_promising_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scores.npy"
    path.write_bytes(_npy_with_shape((400_000_000_000,), np.zeros(4)))
    with pytest.raises(DataError, match="promises"):
        read_arrays(path)
    path.write_bytes(_npy_with_shape((4,), np.arange(4.0)))
    assert read_arrays(path)[""].tolist() == [0.0, 1.0, 2.0, 3.0]


def _npy_with_shape(shape: tuple[int, ...], values: np.ndarray) -> bytes:
    """An .npy file whose header claims ``shape`` but which holds only ``values``' bytes."""
    header = {"descr": values.dtype.str, "fortran_order": False, "shape": shape}
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + values.tobytes()


def test_writes_refuse_to_replace_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "report.md").symlink_to(victim)
    with pytest.raises(DataError, match="report.md is a symbolic link"):
        atomic_write_text(tmp_path / "report.md", "# report\n")
    assert victim.read_text() == "keep me\n"


def test_saved_training_codes_of_another_shape_are_refused(tmp_path: Path) -> None:
    from aecompare import Detector

    rng = np.random.default_rng(0)
    det = Detector("mlp-ae", epochs=1, scorer="latent_knn", random_state=0).fit(rng.normal(size=(60, 5)))
    folder = det.save(tmp_path / "det")
    assert Detector.load(folder).reference_codes_.shape == det.reference_codes_.shape  # as saved: loads
    np.save(folder / "reference_codes.npy", np.zeros((10, det.reference_codes_.shape[1] + 1)))
    with pytest.raises(DataError, match="expected at least 2 codes of width"):
        Detector.load(folder)
    np.save(folder / "reference_codes.npy", np.full_like(det.reference_codes_, np.nan))
    with pytest.raises(DataError, match="codes are not all finite"):
        Detector.load(folder)
