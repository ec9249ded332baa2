"""The generation study: the face VAE's generate command end to end, resuming, and its spec."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from aecompare.models import build_model
from aecompare.studies.generation.spec import load_generation_spec
from conftest import run_cli
from formats import write_images

TINY_FACE = [
    "--set",
    "image_size=16",
    "--set",
    "train.epochs=2",
    "--set",
    "train.batch_size=4",
    "--set",
    "grid=3",
    "--set",
    "model.channels=[8, 8]",
    "--set",
    "model.strides=[2, 2]",
    "--set",
    "model.latent_dim=4",
]


def test_generate_writes_samples_reconstructions_and_interpolation(tmp_path: Path) -> None:
    write_images(tmp_path / "faces", n=10)
    code, out, _ = run_cli(
        ["generate", "--images", str(tmp_path / "faces"), "--output", str(tmp_path / "gen"), *TINY_FACE, "-q"]
    )
    assert code == 0
    folder = tmp_path / "gen"
    assert Path(out.splitlines()[-1]) == folder / "report.html"
    sizes = {
        name: Image.open(folder / "figures" / f"{name}.png").size
        for name in ("samples", "reconstructions", "interpolation")
    }
    assert sizes["samples"][0] == sizes["samples"][1]  # a 3 x 3 grid of square images
    assert sizes["interpolation"][0] == 10 * sizes["interpolation"][1]  # ten steps in a row
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["images"], summary["n_val"], summary["epochs_run"]) == (10, 1, 2)
    report = (folder / "report.md").read_text()
    assert "figures/samples.png" in report
    assert "trained on 9 images" in report
    assert (folder / "model" / "model.safetensors").exists()


def test_generate_on_two_folders_keeps_a_folder_each_by_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("faces", "my cats"):
        write_images(tmp_path / name, n=6)
        code, out, err = run_cli(["generate", "--images", name, *TINY_FACE, "-q"])
        assert code == 0, err
    # named through the one safe-name function, as tables and images are
    assert sorted(p.name for p in (tmp_path / "runs" / "generate").iterdir()) == ["faces", "my_cats"]
    assert Path(out.splitlines()[-1]) == Path("runs") / "generate" / "my_cats" / "report.html"
    # one folder, another input of the same size: refused, never resumed from the other's checkpoint
    code, _, err = run_cli(["generate", "--images", "faces", "-o", "runs/generate/my_cats", *TINY_FACE, "-q"])
    assert code == 2
    assert "holds a generation run on" in err
    assert "pass another --output" in err


def test_generate_resumes_a_longer_run_from_the_checkpoint(tmp_path: Path) -> None:
    write_images(tmp_path / "faces", n=8)
    args = ["--images", str(tmp_path / "faces"), "--output", str(tmp_path / "gen"), *TINY_FACE, "-q"]
    assert run_cli(["generate", *args])[0] == 0
    assert run_cli(["generate", *args, "--set", "train.epochs=3"])[0] == 0
    history = json.loads((tmp_path / "gen" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    first = json.loads((tmp_path / "gen" / "checkpoint" / "checkpoint.json").read_text())
    assert first["epoch"] == 3


def test_generate_errors_are_clear(tmp_path: Path) -> None:
    code, _, err = run_cli(["generate", "--images", str(tmp_path / "missing"), "-o", str(tmp_path / "g"), "-q"])
    assert code == 2
    assert "image folder" in err
    assert "not found" in err
    write_images(tmp_path / "faces", n=3)
    code, _, err = run_cli(["generate", "--images", str(tmp_path / "faces"), "--set", "model.name=fiorino-ae", "-q"])
    assert code == 2
    assert "must be a VAE" in err
    code, _, err = run_cli(["generate", "--images", str(tmp_path / "faces"), "--set", "image_size=2", "-q"])
    assert code == 2
    assert "image_size must be an integer of at least 4, got 2" in err


def test_fiorino_faces_spec_has_the_reports_architecture_and_optimiser() -> None:
    spec = load_generation_spec("fiorino-faces")
    assert (spec.image_size, spec.train.lr, spec.model) == (128, 0.0005, "fiorino-face-vae")
    model = build_model(spec.model, (3, 128, 128))
    convs = [m.out_channels for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    deconvs = [m.out_channels for m in model.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert convs == [32, 64, 64, 64]
    assert deconvs == [64, 64, 32, 3]
    assert isinstance(model.encoder.convs[1], torch.nn.LeakyReLU)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 128, 128))
    assert out.recon.shape == (1, 3, 128, 128)
    assert float(out.recon.min()) >= 0.0
    assert float(out.recon.max()) <= 1.0
