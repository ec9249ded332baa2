"""Image folders, training checkpoints that resume exactly, and the face VAE's generate command end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aecompare.data.images import list_images, read_images
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from aecompare.models import build_model
from aecompare.studies.generation.spec import load_generation_spec
from aecompare.train.loop import TrainConfig, fit
from conftest import run_cli


def write_images(folder: Path, n: int = 6, size: tuple[int, int] = (20, 12), seed: int = 0) -> list[np.ndarray]:
    """``n`` small RGB images, PNG and JPEG alternately: a bright square on a dark background."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        w, h = size
        a = np.full((h, w, 3), 30, dtype=np.uint8)
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        a[y:y + 4, x:x + 4] = (220, 180, 40)
        Image.fromarray(a).save(folder / f"img{i:02d}.{'png' if i % 2 == 0 else 'jpg'}")
        arrays.append(a)
    return arrays


def test_folder_images_are_centre_cropped_resized_rgb_uint8(tmp_path: Path) -> None:
    # a 20 x 12 image whose middle 12 x 12 square is white and whose side columns are black
    a = np.zeros((12, 20, 3), dtype=np.uint8)
    a[:, 4:16] = 255
    Image.fromarray(a).save(tmp_path / "wide.png")
    Image.fromarray(a[:, :, 0]).convert("L").save(tmp_path / "gray.png")  # grayscale becomes RGB
    (tmp_path / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    images = read_images(list_images(tmp_path), 12)[0]
    assert images.shape == (2, 3, 12, 12)
    assert images.dtype == np.uint8
    assert (images == 255).all()  # the crop kept only the white middle
    smaller = read_images(list_images(tmp_path), 6)[0]
    assert smaller.shape == (2, 3, 6, 6)
    assert (smaller[:, :, 1:5, 1:5] == 255).all()  # resized from the crop: no black column comes back


def test_unreadable_image_is_named_or_skipped(tmp_path: Path, caplog) -> None:
    write_images(tmp_path, n=2)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: cannot read this image.*on_error: skip"):
        read_images(list_images(tmp_path), 8)[0]
    with caplog.at_level(logging.WARNING):
        images, kept = read_images(list_images(tmp_path), 8, on_error="skip")
    assert len(images) == 2
    assert "broken.png" not in [p.name for p in kept]
    assert "skipping unreadable image" in caplog.text


def test_missing_or_empty_folder_and_bad_size_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="not found"):
        list_images(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match="no image files"):
        list_images(tmp_path)
    write_images(tmp_path, n=1)
    with pytest.raises(ConfigError, match="at least 4 pixels"):
        read_images(list_images(tmp_path), 2)[0]


def test_real_celeba_sample_decodes(real_data_dir: Path) -> None:
    folder = real_data_dir / "celeba-sample" / "img_align_celeba"
    if not folder.is_dir():
        pytest.skip(f"no CelebA sample in {folder}")
    files = list_images(folder)
    assert len(files) == 500
    images, _ = read_images(files[:8], 32)
    assert images.shape == (8, 3, 32, 32)
    assert images.std() > 10  # faces, not a blank decode


@pytest.mark.parametrize("name", ["vae", "aae"])
def test_training_resumes_from_its_checkpoint_exactly(tmp_path: Path, name: str) -> None:
    g = torch.Generator().manual_seed(0)
    x, val = torch.rand(120, 1, 8, 8, generator=g), torch.rand(30, 1, 8, 8, generator=g)

    def train(epochs: int, checkpoint: Path | None) -> tuple[torch.nn.Module, list]:
        torch.manual_seed(0)
        model = build_model(name, (1, 8, 8), channels=(8,), latent_dim=4, critic_hidden=(8,))
        config = TrainConfig(epochs=epochs, batch_size=32, lr_patience=1, early_stopping_patience=0)
        return model, fit(model, x, val, config, seed=3, progress=False, checkpoint_dir=checkpoint).history

    straight, history = train(4, None)
    train(2, tmp_path / "ckpt")  # an interrupted run: two epochs done
    resumed, resumed_history = train(4, tmp_path / "ckpt")
    assert resumed_history == history
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert [p.name for p in (tmp_path / "ckpt").glob("*.safetensors")] == ["epoch-4.checkpoint.safetensors"]


def test_checkpoint_of_another_setting_is_refused(tmp_path: Path) -> None:
    x = torch.rand(40, 6)
    fit(build_model("vae", (6,)), x, None, TrainConfig(epochs=1), progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="belongs to another model"):
        fit(build_model("vae", (6,)), x, None, TrainConfig(epochs=2, lr=0.1), progress=False, checkpoint_dir=tmp_path)


TINY_FACE = ["--set", "image_size=16", "--set", "train.epochs=2", "--set", "train.batch_size=4", "--set", "grid=3",
             "--set", "model.channels=[8, 8]", "--set", "model.strides=[2, 2]", "--set", "model.latent_dim=4"]


def test_generate_writes_samples_reconstructions_and_interpolation(tmp_path: Path) -> None:
    write_images(tmp_path / "faces", n=10)
    code, out, _ = run_cli(["generate", "--images", str(tmp_path / "faces"), "--output", str(tmp_path / "gen"),
                            *TINY_FACE, "-q"])
    assert code == 0
    folder = tmp_path / "gen"
    assert Path(out.splitlines()[-1]) == folder / "report.html"
    sizes = {name: Image.open(folder / "figures" / f"{name}.png").size
             for name in ("samples", "reconstructions", "interpolation")}
    assert sizes["samples"][0] == sizes["samples"][1]  # a 3 x 3 grid of square images
    assert sizes["interpolation"][0] == 10 * sizes["interpolation"][1]  # ten steps in a row
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["images"], summary["n_val"], summary["epochs_run"]) == (10, 1, 2)
    report = (folder / "report.md").read_text()
    assert "figures/samples.png" in report
    assert "trained on 9 images" in report
    assert (folder / "model" / "model.safetensors").exists()


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
    code, _, err = run_cli(["generate", "--images", str(tmp_path / "faces"), "--set", "model.name=fiorino-ae",
                            "-q"])
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
