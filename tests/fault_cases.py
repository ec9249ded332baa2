"""The fault matrix: what users meet on real machines (a half-downloaded file, a tampered model, a bad value, a
spec built to blow up), each as a command that must end in one clear line, exit status 2, naming the file or
setting at fault. ``tests/test_faults.py`` runs every case in-process; ``benchmarks/faults.py`` runs them as
subprocesses and records the counts in ``benchmarks/RESULTS.md``.

A case's ``setup(folder)`` writes what it needs under ``folder`` and returns the command's arguments and the
text the error must contain.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from formats import write_cifar_folder, write_mnist_folder, write_mvtec

Setup = Callable[[Path], tuple[list[str], str]]


@dataclass(frozen=True)
class Fault:
    """One case: its name, what kind of fault it is, and how to provoke it."""

    name: str
    kind: str  # "file", "model", "value", "size"
    setup: Setup


def _spec(folder: Path, datasets: list, **extra) -> Path:
    """A one-seed, two-epoch spec over ``datasets`` (JSON is YAML)."""
    spec = {
        "name": "fault",
        "seeds": 1,
        "models": ["ae"],
        "train": {"epochs": 2},
        "model": {"hidden": [8], "latent_dim": 2, "channels": [4], "strides": [2]},
        "datasets": datasets,
        **extra,
    }
    path = folder / "spec.yaml"
    path.write_text(json.dumps(spec))
    return path


def _run(folder: Path, spec: Path, *more: str) -> list[str]:
    return ["run", str(spec), "--output", str(folder / "out"), "--workers", "1", "-q", *more]


def _table_spec(folder: Path, file: Path) -> list[str]:
    return _run(folder, _spec(folder, [{"name": "table", "normal": ["normal"], "params": {"path": str(file)}}]))


# --- broken files ---------------------------------------------------------------------------------------------


def truncated_gz(folder: Path) -> tuple[list[str], str]:
    data = write_mnist_folder(folder / "data" / "mnist").parent
    path = data / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    return _run(
        folder, _spec(folder, [{"name": "mnist", "normal": [0]}]), "--data-dir", str(data)
    ), "train-images-idx3-ubyte.gz cannot be read"


def bad_crc_gz(folder: Path) -> tuple[list[str], str]:
    data = write_mnist_folder(folder / "data" / "mnist").parent
    path = data / "mnist" / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-6] ^= 0xFF  # the CRC-32 in the gzip trailer
    path.write_bytes(bytes(raw))
    return _run(
        folder, _spec(folder, [{"name": "mnist", "normal": [0]}]), "--data-dir", str(data)
    ), "train-labels-idx1-ubyte.gz cannot be read"


def truncated_npz(folder: Path) -> tuple[list[str], str]:
    path = folder / "t.npz"
    np.savez(path, X=np.random.default_rng(0).normal(size=(50, 4)), y=np.zeros(50))
    path.write_bytes(path.read_bytes()[:200])
    return _table_spec(folder, path), "t.npz is not a readable .npz file"


def random_npz(folder: Path) -> tuple[list[str], str]:
    path = folder / "t.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return _table_spec(folder, path), "t.npz is not a readable .npz file"


def pickled_npz(folder: Path) -> tuple[list[str], str]:
    path = folder / "t.npz"
    np.savez(path, X=np.array([{"a": 1}] * 5, dtype=object), y=np.zeros(5))
    return _table_spec(folder, path), "t.npz holds Python objects"


def empty_mat(folder: Path) -> tuple[list[str], str]:
    path = folder / "t.mat"
    path.write_bytes(b"")
    return _table_spec(folder, path), "t.mat is not a readable MATLAB .mat file"


def text_mat(folder: Path) -> tuple[list[str], str]:
    path = folder / "t.mat"
    path.write_text("this is not a MATLAB file\n" * 20)
    return _table_spec(folder, path), "t.mat is not a readable MATLAB .mat file"


def latin1_csv(folder: Path) -> tuple[list[str], str]:
    path = folder / "t.csv"
    path.write_bytes("caf\xe9,label\n1.0,0\n2.0,1\n".encode("latin-1"))
    return _table_spec(folder, path), "t.csv is not UTF-8"


def cifar_not_uint8(folder: Path) -> tuple[list[str], str]:
    data = folder / "data"
    path = write_cifar_folder(data, per_batch=4) / "data_batch_1"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # the test's own file
    batch[b"data"] = batch[b"data"].astype(np.int16) + 200  # values up to 455: a cast to uint8 would wrap
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return _run(
        folder, _spec(folder, [{"name": "cifar10", "normal": [0]}]), "--data-dir", str(data)
    ), "data_batch_1: data is int16, expected uint8 pixels 0-255 (it holds values outside 0-255)"


def corrupt_mask(folder: Path) -> tuple[list[str], str]:
    root = write_mvtec(folder / "bottle")
    (root / "ground_truth" / "crack" / "000_mask.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    spec = _spec(folder, [{"name": "image-folder", "normal": "train", "params": {"path": str(root), "size": 16}}])
    return _run(folder, spec), "000_mask.png: cannot read this ground-truth mask"


# --- tampered model files (a finished run, then one file changed) ------------------------------------------


def finished_table_run(folder: Path) -> Path:
    """A finished run on a small generated table; returns its run folder."""
    from conftest import run_cli

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(120, 4)), 4 + rng.normal(size=(12, 4))])
    y = np.repeat([0, 1], [120, 12])
    np.savez(folder / "train.npz", X=x, y=y)
    code, _, err = run_cli(_table_spec(folder, folder / "train.npz"))
    assert code == 0, err
    return folder / "out" / "fault" / "table" / "ae" / "normal-normal" / "seed-0"


def _score(folder: Path, run_dir: Path) -> list[str]:
    np.savez(folder / "new.npz", X=np.zeros((3, 4)), y=np.zeros(3))
    return ["score", str(run_dir), "--table", str(folder / "new.npz")]


def _tamper_json(name: str, change: Callable[[dict], object], expected: str) -> Setup:
    def setup(folder: Path) -> tuple[list[str], str]:
        run_dir = finished_table_run(folder)
        meta = json.loads((run_dir / name).read_text())
        change(meta)
        (run_dir / name).write_text(json.dumps(meta))
        return _score(folder, run_dir), expected

    return setup


def _tamper_weights(change: Callable[[dict], None], expected: str) -> Setup:
    def setup(folder: Path) -> tuple[list[str], str]:
        run_dir = finished_table_run(folder)
        tensors = load_file(run_dir / "model.safetensors")
        change(tensors)
        save_file(tensors, run_dir / "model.safetensors")
        return _score(folder, run_dir), expected

    return setup


def _cut(name: str, expected: str, keep: int = 40) -> Setup:
    def setup(folder: Path) -> tuple[list[str], str]:
        run_dir = finished_table_run(folder)
        (run_dir / name).write_bytes((run_dir / name).read_bytes()[:keep])
        return _score(folder, run_dir), expected

    return setup


def _first_weight(tensors: dict, value: float | None = None, shape: tuple | None = None) -> None:
    key = sorted(tensors)[0]
    if shape is not None:
        tensors[key] = torch.zeros(shape)
    else:
        tensors[key].view(-1)[0] = value


# --- bad values, and specs built to blow up ----------------------------------------------------------------


def _quick(*sets: str, experiment: str = "quick") -> Setup:
    def setup(folder: Path) -> tuple[list[str], str]:
        return ["run", experiment, "--output", str(folder / "out"), "-q", *[f"--set={s}" for s in sets]], ""

    return setup


def _expect(setup: Setup, expected: str) -> Setup:
    def wrapped(folder: Path) -> tuple[list[str], str]:
        return setup(folder)[0], expected

    return wrapped


def tag_in_extends_base(folder: Path) -> tuple[list[str], str]:
    (folder / "base.yaml").write_text("name: base\nseeds: !!python/object/apply:os.system ['echo pwned']\n")
    (folder / "child.yaml").write_text("extends: base.yaml\nname: child\n")
    return ["run", str(folder / "child.yaml"), "--output", str(folder / "out"), "-q"], "base.yaml is not valid YAML"


def yaml_bomb(folder: Path) -> tuple[list[str], str]:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    (folder / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return ["run", str(folder / "bomb.yaml"), "--output", str(folder / "out"), "-q"], "aliases expand to"


def huge_grid(folder: Path) -> tuple[list[str], str]:
    return ["run", "quick", "--seeds", "700", "--output", str(folder / "out"), "-q"], "Pass --yes to run them"


def output_is_a_file(folder: Path) -> tuple[list[str], str]:
    (folder / "taken").write_text("a file, not a folder\n")
    return ["run", "quick", "--output", str(folder / "taken"), "-q"], "a path component is a file"


# --- folders from elsewhere: planted links, special files and absurd values (each must leave VICTIM as it was) ---

VICTIM = "victim.txt"  # a file outside the output folder that a planted link points at
VICTIM_TEXT = b"a file a planted link must not change\n"


def _victim(folder: Path) -> Path:
    victim = folder / VICTIM
    victim.write_bytes(VICTIM_TEXT)
    return victim


def _experiment(run_dir: Path) -> Path:
    return run_dir.parents[3]  # <experiment>/<dataset>/<model>/normal-<c>/seed-<n>


def planted_lock(folder: Path) -> tuple[list[str], str]:
    run_dir = finished_table_run(folder)
    lock = _experiment(run_dir) / ".aecompare.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(_victim(folder))
    return _table_spec(folder, folder / "train.npz"), ".aecompare.lock is a symbolic link"


def planted_figure(folder: Path) -> tuple[list[str], str]:
    experiment = _experiment(finished_table_run(folder))
    figure = sorted((experiment / "figures").glob("*.png"))[0]
    figure.unlink()
    figure.symlink_to(_victim(folder))
    return ["report", str(experiment)], f"{figure.name} is a symbolic link or not a file"


def planted_onnx(folder: Path) -> tuple[list[str], str]:
    run_dir = finished_table_run(folder)
    (run_dir / "model.onnx").symlink_to(_victim(folder))
    return ["export", str(run_dir)], "model.onnx is a symbolic link or not a file"


def _replace_file(name: str, make: Callable[[Path, Path], None], expected: str) -> Setup:
    """A finished run whose file ``name`` is replaced by ``make(path, folder)`` (a link, a FIFO, ...)."""

    def setup(folder: Path) -> tuple[list[str], str]:
        run_dir = finished_table_run(folder)
        (run_dir / name).unlink()
        make(run_dir / name, folder)
        return _score(folder, run_dir), expected

    return setup


def _deep_json(path: Path, folder: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def _scores_changed(folder: Path) -> tuple[list[str], str]:
    """A finished table run, then its table rewritten: a resume must not keep the old results."""
    finished_table_run(folder)
    rng = np.random.default_rng(1)
    np.savez(folder / "train.npz", X=rng.normal(size=(132, 4)), y=np.repeat([0, 1], [120, 12]))
    return _table_spec(folder, folder / "train.npz"), "the file train.npz changed since 1 finished run was trained"


def swapped_columns(folder: Path) -> tuple[list[str], str]:
    """A run on a CSV table, scored with a file whose header lacks one of its columns and adds another."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(120, 3)), 4 + rng.normal(size=(12, 3))])
    rows = [f"{a},{b},{c},{int(i >= 120)}" for i, (a, b, c) in enumerate(x)]
    (folder / "t.csv").write_text("f1,f2,f3,label\n" + "\n".join(rows) + "\n")
    from conftest import run_cli

    code, _, err = run_cli(_table_spec(folder, folder / "t.csv"))
    assert code == 0, err
    (folder / "new.csv").write_text("f1,f2,g\n1,2,3\n")
    run_dir = folder / "out" / "fault" / "table" / "ae" / "normal-normal" / "seed-0"
    return ["score", str(run_dir), "--table", str(folder / "new.csv")], "it lacks f3; it has g"


FAULTS: list[Fault] = [
    Fault("truncated MNIST .gz", "file", truncated_gz),
    Fault("MNIST .gz with a bad CRC", "file", bad_crc_gz),
    Fault("truncated .npz table", "file", truncated_npz),
    Fault("random bytes as .npz", "file", random_npz),
    Fault(".npz of Python objects", "file", pickled_npz),
    Fault("0-byte .mat", "file", empty_mat),
    Fault("text as .mat", "file", text_mat),
    Fault("CSV that is not UTF-8", "file", latin1_csv),
    Fault("CIFAR batch with int16 data outside 0-255", "file", cifar_not_uint8),
    Fault("corrupt ground-truth mask", "file", corrupt_mask),
    Fault(
        "model.json with an unknown key",
        "model",
        _tamper_json("model.json", lambda m: m.update(extra=1), "model.json: expected exactly the keys"),
    ),
    Fault(
        "model.json without its config",
        "model",
        _tamper_json("model.json", lambda m: m.pop("config"), "model.json: expected exactly the keys"),
    ),
    Fault(
        "model.json with a wrong type",
        "model",
        _tamper_json(
            "model.json", lambda m: m["config"].update(latent_dim="2"), "config.latent_dim: expected an integer"
        ),
    ),
    Fault(
        "model.json of another format version",
        "model",
        _tamper_json("model.json", lambda m: m.update(format_version=99), "format_version 99"),
    ),
    Fault("truncated model.safetensors", "model", _cut("model.safetensors", "is not a readable safetensors file")),
    Fault(
        "tensor of another shape",
        "model",
        _tamper_weights(lambda t: _first_weight(t, shape=(3, 3)), "the weights belong to another model"),
    ),
    Fault("NaN weight", "model", _tamper_weights(lambda t: _first_weight(t, float("nan")), "NaN or infinite")),
    Fault(
        "infinite threshold",
        "model",
        _tamper_json(
            "detector.json", lambda m: m.update(threshold_=float("inf")), "threshold_ must be a finite number"
        ),
    ),
    Fault(
        "scaler scale of 0",
        "model",
        _tamper_json("detector.json", lambda m: m["scaler"].update(scale=[0.0] * 4), "positive, finite scales"),
    ),
    Fault(
        "detector.json with an unknown key",
        "model",
        _tamper_json("detector.json", lambda m: m.update(backdoor=True), "unknown key 'backdoor'"),
    ),
    Fault("truncated detector.json", "model", _cut("detector.json", "detector.json is not valid JSON")),
    Fault("weight_decay negative", "value", _expect(_quick("train.weight_decay=-1"), "train.weight_decay must be")),
    Fault("lr: .inf", "value", _expect(_quick("train.lr=.inf"), "train.lr must be a positive, finite number")),
    Fault("float epochs", "value", _expect(_quick("train.epochs=2.5"), "train.epochs: expected an integer")),
    Fault("device tpu", "value", _expect(_quick("train.device=tpu"), "unknown device 'tpu'")),
    *(
        [Fault("device cuda without CUDA", "value", _expect(_quick("train.device=cuda"), "no usable CUDA"))]
        if not torch.cuda.is_available()
        else []
    ),
    Fault(
        "python tag in --set",
        "value",
        _expect(_quick("seeds=!!python/object/apply:os.system ['echo pwned']"), "tags such as !!python"),
    ),
    Fault("python tag in an extends base", "value", tag_in_extends_base),
    Fault("YAML alias bomb", "size", yaml_bomb),
    Fault("grid of 23,100 runs", "size", huge_grid),
    Fault("output path is a file", "environment", output_is_a_file),
    Fault("seeds=1000000000", "size", _expect(_quick("seeds=1000000000"), "seeds must be 1 to 1000 seeds")),
    Fault("latent_dim 10**7", "size", _expect(_quick("model.latent_dim=10000000"), "latent_dim must be at most")),
    Fault("lr 1e15", "size", _expect(_quick("train.lr=1e15"), "train.lr must be a positive, finite number of at")),
    Fault(
        "n_samples 10**9",
        "size",
        _expect(_quick("evaluation.n_samples=1000000000"), "evaluation.n_samples must be 1 to"),
    ),
    Fault("table rewritten between runs", "data", _scores_changed),
    Fault("columns missing and added", "column", swapped_columns),
    Fault("symlinked output lock", "untrusted", planted_lock),
    Fault("symlinked report figure", "untrusted", planted_figure),
    Fault("symlinked model.onnx", "untrusted", planted_onnx),
    Fault(
        "model.json: a link to /dev/zero",
        "untrusted",
        _replace_file("model.json", lambda p, f: p.symlink_to("/dev/zero"), "model.json is a symbolic link"),
    ),
    Fault(
        "model.json: a FIFO",
        "untrusted",
        _replace_file("model.json", lambda p, f: os.mkfifo(p), "model.json is not a regular file"),
    ),
    Fault(
        "detector.json nested 100,000 deep",
        "untrusted",
        _replace_file("detector.json", _deep_json, "detector.json is nested deeper than"),
    ),
    Fault(
        "model.json input_shape [400000000]",
        "untrusted",
        _tamper_json("model.json", lambda m: m.update(input_shape=[400_000_000]), "has 400000000 values, more than"),
    ),
    Fault(
        "model.json hidden [200000, 200000]",
        "untrusted",
        _tamper_json("model.json", lambda m: m["config"].update(hidden=[200_000, 200_000]), "parameters, more than"),
    ),
    Fault(
        "scaler scale 1e-300",
        "untrusted",
        _tamper_json(
            "detector.json", lambda m: m["scaler"].update(scale=[1e-300] * 4), "the scaler's scales lie outside"
        ),
    ),
    Fault("a weight of 3e38", "untrusted", _tamper_weights(lambda t: _first_weight(t, 3e38), "holds a value beyond")),
    Fault(
        "threshold -1e300",
        "untrusted",
        _tamper_json("detector.json", lambda m: m.update(threshold_=-1e300), "lies far outside the training scores"),
    ),
]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove a fault changed nothing that was there)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
