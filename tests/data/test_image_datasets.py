"""MNIST, Fashion-MNIST and CIFAR-10 loaders (on files written here in the real formats, and on the real
files when the data directory has them), and `aecompare data download` through file:// mirrors only."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from aecompare.cli import main
from aecompare.data import load_dataset
from aecompare.data.download import DOWNLOADS, Download, RemoteFile, download
from aecompare.data.sources import CIFAR10_FOLDER, FASHION_MNIST_CLASSES, MNIST_FILES, read_cifar_batch
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from formats import write_cifar_batch, write_cifar_folder, write_idx, write_mnist_folder


def test_cifar10_loader_reads_pickle_batches(tmp_path: Path) -> None:
    write_cifar_folder(tmp_path, per_batch=20)
    d = load_dataset("cifar10", tmp_path)
    assert d.x_train.shape == (100, 3, 32, 32)
    assert d.x_test.shape == (20, 3, 32, 32)
    assert d.x_train.dtype == np.float32
    assert d.x_train.min() >= 0.0
    assert d.x_train.max() <= 1.0
    assert d.class_names[5] == "dog"
    # Rows are channel-major: the writer brightened the red plane by 15/255 per label step.
    red, green = d.x_train[:, 0].mean(axis=(1, 2)), d.x_train[:, 1].mean(axis=(1, 2))
    assert np.corrcoef(red - green, d.y_train)[0, 1] > 0.95
    assert np.bincount(d.y_train).tolist() == [10] * 10


def test_fashion_mnist_uses_the_idx_loader_with_its_own_folder_and_classes(tmp_path: Path) -> None:
    write_mnist_folder(tmp_path / "fashion-mnist")
    d = load_dataset("fashion-mnist", tmp_path)
    assert d.x_train.shape == (30, 1, 28, 28)
    assert d.class_names == FASHION_MNIST_CLASSES
    with pytest.raises(DataNotFoundError, match=r"fashion-mnist.*data download fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path / "elsewhere")


def test_per_class_keeps_the_first_images_of_each_class(tmp_path: Path) -> None:
    write_mnist_folder(tmp_path / "mnist", n_train=50, n_test=40)
    full = load_dataset("mnist", tmp_path)
    d = load_dataset("mnist", tmp_path, per_class=2)
    assert np.bincount(d.y_train).tolist() == [2] * 10
    assert np.array_equal(d.x_train[d.y_train == 3], full.x_train[full.y_train == 3][:2])
    with pytest.raises(ConfigError, match="per_class must be a positive integer"):
        load_dataset("mnist", tmp_path, per_class=0)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("labels", "labels range from 0 to 12, expected 0 to 9"),
        ("count", "30 images but 29 labels"),
        ("shape", r"images have shape \(28, 27\), expected \(28, 28\)"),
    ],
)
def test_idx_files_are_checked_on_load(tmp_path: Path, problem: str, message: str) -> None:
    folder = write_mnist_folder(tmp_path / "mnist")
    labels = np.arange(30) % 10
    if problem == "labels":
        write_idx(folder / MNIST_FILES["y_train"], np.where(labels == 9, 12, labels))
    elif problem == "count":
        write_idx(folder / MNIST_FILES["y_train"], labels[:29])
    else:
        write_idx(folder / MNIST_FILES["x_train"], np.zeros((30, 28, 27)))
    with pytest.raises(DataError, match=message):
        load_dataset("mnist", tmp_path)


def test_cifar_batches_are_checked_on_load(tmp_path: Path) -> None:
    folder = write_cifar_folder(tmp_path)
    write_cifar_batch(folder / "data_batch_2", np.zeros((4, 3072)), [0, 1, 2, 10])
    with pytest.raises(DataError, match="data_batch_2: labels must be 4 integers 0-9"):
        load_dataset("cifar10", tmp_path)
    write_cifar_batch(folder / "data_batch_2", np.zeros((4, 3000)), [0, 1, 2, 3])
    with pytest.raises(DataError, match=r"data_batch_2: data has shape \(4, 3000\), expected \(N, 3072\)"):
        load_dataset("cifar10", tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch is not a CIFAR-10 python batch file"):
        read_cifar_batch(folder / "test_batch")


class _RunsCode:
    def __reduce__(self):  # unpickling this would call print(...): any callable could be here instead
        return (print, ("pwned",))


def test_a_batch_file_cannot_run_code(tmp_path: Path, capsys) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _RunsCode(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"refusing to load .*print: a CIFAR batch holds only arrays"):
        read_cifar_batch(path)
    assert "pwned" not in capsys.readouterr().out


def test_missing_cifar_says_what_to_put_where(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=rf"data_batch_1 not found in .*cifar10.*{CIFAR10_FOLDER}.*download"):
        load_dataset("cifar10", tmp_path)


def test_real_cifar10(real_data_dir: Path) -> None:
    if not (real_data_dir / "cifar10" / CIFAR10_FOLDER / "data_batch_1").exists():
        pytest.skip(f"CIFAR-10 not found in {real_data_dir / 'cifar10' / CIFAR10_FOLDER}")
    d = load_dataset("cifar10", real_data_dir)
    assert d.x_train.shape == (50000, 3, 32, 32)
    assert d.x_test.shape == (10000, 3, 32, 32)
    assert np.bincount(d.y_train).tolist() == [5000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    # The published per-channel training means (0.4914, 0.4822, 0.4465) fix the channel order.
    assert np.allclose(d.x_train.mean(axis=(0, 2, 3)), [0.4914, 0.4822, 0.4465], atol=5e-4)


# --- download -------------------------------------------------------------------------------------------


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_fetches_verifies_and_keeps_good_files(tmp_path: Path, monkeypatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.bin").write_bytes(b"hello")
    monkeypatch.setitem(DOWNLOADS, "tiny", Download("tiny", (mirror.as_uri(),), (RemoteFile("a.bin", _md5(b"hello")),)))
    folder = download("tiny", tmp_path / "data")
    assert (folder / "a.bin").read_bytes() == b"hello"
    (mirror / "a.bin").unlink()  # a second call finds the verified file and fetches nothing
    assert download("tiny", tmp_path / "data") == folder


def test_download_rejects_a_checksum_mismatch_and_keeps_nothing(tmp_path: Path, monkeypatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.bin").write_bytes(b"tampered")
    monkeypatch.setitem(DOWNLOADS, "tiny", Download("tiny", (mirror.as_uri(),), (RemoteFile("a.bin", _md5(b"hello")),)))
    with pytest.raises(DataError, match="checksum mismatch"):
        download("tiny", tmp_path / "data")
    assert list((tmp_path / "data" / "tiny").iterdir()) == []


def test_download_without_a_network_says_what_to_copy_where(tmp_path: Path, monkeypatch, capsys) -> None:
    unreachable = (tmp_path / "no-such-mirror").as_uri()
    monkeypatch.setitem(DOWNLOADS, "tiny", Download("tiny", (unreachable,), (RemoteFile("a.bin", _md5(b"x")),)))
    with pytest.raises(DataNotFoundError, match=r"could not download tiny .*copy a.bin \(MD5 .*\) into .*tiny"):
        download("tiny", tmp_path / "data")
    assert main(["data", "download", "tiny", "--data-dir", str(tmp_path / "data")]) == 2
    assert "copy a.bin" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown downloadable dataset 'cifar'; choose one of: cifar10, "):
        download("cifar", tmp_path)


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_download_extracts_archives_in_place_and_refuses_escapes(tmp_path: Path, monkeypatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    good = _tar_bytes({"inner/x.txt": b"x"})
    (mirror / "good.tar.gz").write_bytes(good)
    monkeypatch.setitem(
        DOWNLOADS, "tiny", Download("tiny", (mirror.as_uri(),), (RemoteFile("good.tar.gz", _md5(good), extract=True),))
    )
    assert (download("tiny", tmp_path / "data") / "inner" / "x.txt").read_bytes() == b"x"

    evil = _tar_bytes({"../escaped.txt": b"x"})
    (mirror / "evil.tar.gz").write_bytes(evil)
    monkeypatch.setitem(
        DOWNLOADS, "evil", Download("evil", (mirror.as_uri(),), (RemoteFile("evil.tar.gz", _md5(evil), extract=True),))
    )
    with pytest.raises(DataError, match="refusing to extract '../escaped.txt'"):
        download("evil", tmp_path / "data")
    assert not (tmp_path / "data" / "escaped.txt").exists()


def test_published_mnist_checksums_match_the_real_files(real_data_dir: Path, tmp_path: Path) -> None:
    if not (real_data_dir / "mnist" / MNIST_FILES["x_train"]).exists():
        pytest.skip(f"MNIST not found in {real_data_dir / 'mnist'}")
    folder = download("mnist", tmp_path, mirrors=((real_data_dir / "mnist").as_uri(),))
    assert sorted(p.name for p in folder.iterdir()) == sorted(MNIST_FILES.values())
    assert len(load_dataset("mnist", tmp_path).x_test) == 10000
