"""Klimkevicius: image folders in the castings and MVTec layouts, synthetic defects, CAE/CVAE/TCAE/TCVAE, pixel
AUROC, and the casting and images experiments end to end on tiny folders."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aecompare.data import load_dataset
from aecompare.data.defects import apply_defect, gaussian_noise, pasted_objects, salt_and_pepper
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from aecompare.models import build_model
from aecompare.studies.grid.spec import load_spec
from aecompare.train.loop import TrainConfig, fit
from aecompare.train.losses import autoencoder_loss
from conftest import run_cli


def _part(seed: int, size: int = 24, defect: bool = False) -> np.ndarray:
    """A gray disc on a light background (a 'casting'); a defect adds a dark notch."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size), 200, dtype=np.uint8)
    img[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2] = 120 + int(rng.integers(-10, 10))
    if defect:
        y, x = rng.integers(size // 3, 2 * size // 3, size=2)
        img[y:y + 3, x:x + 3] = 10
    return np.stack([img] * 3, axis=-1)


def write_castings(root: Path, n_train: int = 24, n_ok: int = 6, n_def: int = 8) -> Path:
    """Kaggle's castings layout under ``root/casting/casting_data``."""
    base = root / "casting" / "casting_data"
    for k, (folder, n, defect) in enumerate((("train/ok_front", n_train, False), ("test/ok_front", n_ok, False),
                                             ("test/def_front", n_def, True))):
        (base / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(_part(1000 * k + i, defect=defect)).save(base / folder / f"cast_{i}.jpeg")
    return root


def write_mvtec(root: Path, n_train: int = 20, n_good: int = 4, n_crack: int = 4) -> Path:
    """The MVTec AD layout with masks for the crack images."""
    for folder, n, defect in (("train/good", n_train, False), ("test/good", n_good, False),
                              ("test/crack", n_crack, True)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(_part(100 + i + 50 * defect, defect=defect)).save(root / folder / f"{i:03d}.png")
    (root / "ground_truth" / "crack").mkdir(parents=True)
    for i in range(n_crack - 1):  # the last crack image has no mask: unknown, not "no defect"
        mask = np.zeros((24, 24), dtype=np.uint8)
        mask[8:16, 8:16] = 255
        Image.fromarray(mask).save(root / "ground_truth" / "crack" / f"{i:03d}_mask.png")
    return root


# --- data -------------------------------------------------------------------------------------------------


def test_castings_layout_with_synthetic_defect_sets(tmp_path: Path) -> None:
    write_castings(tmp_path)
    data = load_dataset("casting", tmp_path, size=16)
    assert data.class_names == ("ok_front", "def_front", "gaussian", "salt_pepper", "objects")
    assert data.x_train.shape == (24, 3, 16, 16)
    assert data.x_train.dtype == data.x_test.dtype == np.uint8  # decoded once, cached as bytes
    # 6 good + 8 real defects + one corrupted copy of each good test image per synthetic kind
    assert np.bincount(data.y_test).tolist() == [6, 8, 6, 6, 6]
    good = data.x_test[data.y_test == 0].astype(float) / 255
    noisy = data.x_test[data.y_test == 2].astype(float) / 255
    assert np.abs(noisy - good).mean() > 0.1  # copies of the same images, corrupted
    assert data.masks_test is None
    only_real = load_dataset("casting", tmp_path, size=16, synthetic=[])
    assert only_real.class_names == ("ok_front", "def_front")


def test_mvtec_layout_reads_masks(tmp_path: Path) -> None:
    write_mvtec(tmp_path / "bottle")
    data = load_dataset("image-folder", tmp_path, path="bottle", size=12, synthetic=["objects"])
    assert data.class_names == ("good", "crack", "objects")
    masks = data.masks_test
    assert masks.shape == (len(data.x_test), 12, 12)
    labels = np.asarray(data.class_names)[data.y_test]
    assert (masks[labels == "good"] == 0).all()
    crack = masks[labels == "crack"]
    assert np.isnan(crack[-1]).all()  # no mask file
    assert set(np.unique(crack[:-1])) == {0.0, 1.0}
    assert crack[0, 4:8, 4:8].all()  # the square at 8:16 of 24 pixels, at 12 pixels
    assert np.isnan(masks[labels == "objects"]).all()


def test_missing_folders_and_unknown_defects_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="kaggle.com/datasets/ravirajsinh45"):
        load_dataset("casting", tmp_path)
    with pytest.raises(DataNotFoundError, match="has no train/ and test/ folders"):
        load_dataset("image-folder", tmp_path, path="nowhere")
    write_castings(tmp_path, n_train=2, n_ok=1, n_def=1)
    with pytest.raises(ConfigError, match="unknown synthetic defect 'blur'; choose one of: gaussian, objects"):
        load_dataset("casting", tmp_path, synthetic=["blur"])
    with pytest.raises(ConfigError, match="synthetic must be a list of defect kinds"):
        load_dataset("casting", tmp_path, synthetic="gaussian")


def test_unreadable_image_in_a_folder_is_named_or_skipped(tmp_path: Path) -> None:
    write_castings(tmp_path, n_train=3, n_ok=2, n_def=2)
    bad = tmp_path / "casting" / "casting_data" / "train" / "ok_front" / "cast_bad.jpeg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"cast_bad\.jpeg: cannot read this image"):
        load_dataset("casting", tmp_path, size=8)
    assert len(load_dataset("casting", tmp_path, size=8, on_error="skip").x_train) == 3


def test_real_castings(real_data_dir: Path) -> None:
    if not (real_data_dir / "casting").is_dir():
        pytest.skip(f"no casting/ folder in {real_data_dir}")
    data = load_dataset("casting", real_data_dir, size=16, synthetic=["gaussian"])
    assert len(data.x_train) == 2875
    assert np.bincount(data.y_test).tolist() == [262, 453, 262]


# --- synthetic defects ------------------------------------------------------------------------------------


def test_gaussian_noise_has_the_stated_mean_and_spread() -> None:
    gray = np.full((20, 3, 32, 32), 0.5, dtype=np.float32)
    noisy = gaussian_noise(gray, mean=0.005, std=0.05, seed=1)  # small enough that clipping never bites
    shift = noisy - gray
    assert abs(shift.mean() - 0.005) < 0.001
    assert abs(shift.std() - 0.05) < 0.001
    paper = gaussian_noise(gray, seed=1)  # the paper's std 0.5 leaves [0, 1] often: clipped
    assert paper.min() == 0.0
    assert paper.max() == 1.0
    assert np.array_equal(paper, gaussian_noise(gray, seed=1))
    assert (gray == 0.5).all()  # the input is untouched


@pytest.mark.parametrize("fraction", [0.02, 0.2])
def test_salt_and_pepper_changes_the_stated_fraction_of_pixels(fraction: float) -> None:
    gray = np.full((10, 3, 64, 64), 0.5, dtype=np.float32)
    out = salt_and_pepper(gray, fraction=fraction, seed=0)
    changed = (out != 0.5).any(1)  # (N, H, W): a pixel changes in all channels together
    assert abs(changed.mean() - fraction) < 0.1 * fraction
    assert ((out == 0.5).all(1) | (out == 0.0).all(1) | (out == 1.0).all(1)).all()
    assert abs((out == 1.0).all(1).mean() - fraction / 2) < 0.15 * fraction


def test_pasted_objects_change_pixels_only_inside_their_boxes() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((30, 3, 40, 40)).astype(np.float32)
    out, boxes = pasted_objects(images, seed=3, return_boxes=True)
    for img, new, mine in zip(images, out, boxes):
        inside = np.zeros((40, 40), dtype=bool)
        for x0, y0, x1, y1 in mine:
            inside[y0:y1 + 1, x0:x1 + 1] = True
        changed = (new != img).any(0)
        assert not (changed & ~inside).any()
        assert changed.any()
    assert np.array_equal(out, apply_defect("objects", images, seed=3))
    assert not np.array_equal(out, apply_defect("objects", images, seed=4))


# --- models -----------------------------------------------------------------------------------------------


def test_cae_and_cvae_follow_section_4_1() -> None:
    cae = build_model("klimkevicius-cae", (3, 256, 256))
    assert cae.encoder.conv_shape == (64, 64, 64)  # the code: 64 x 64 x 64 at 256 input
    pools = [m for m in cae.encoder.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2
    cvae = build_model("klimkevicius-cvae", (3, 256, 256))
    assert cvae.encoder.conv_shape == (64, 32, 32)  # one more pool, then flatten
    assert (cvae.bottleneck.mu.in_features, cvae.bottleneck.mu.out_features) == (64 * 32 * 32, 32)
    assert cvae.config.logvar_clamp == (-10.0, 10.0)
    with torch.no_grad():
        assert cvae(torch.rand(1, 3, 256, 256)).recon.shape == (1, 3, 256, 256)


def test_cvae_clipping_keeps_the_loss_finite_on_extreme_inputs() -> None:
    torch.manual_seed(0)
    model = build_model("klimkevicius-cvae", (3, 16, 16))
    with torch.no_grad():
        model.bottleneck.logvar.bias.fill_(1e4)  # exp(1e4) would be inf without the clip
    x = torch.rand(4, 3, 16, 16) * 1e3
    out = model(x)
    assert out.logvar.max() == 10.0
    loss = autoencoder_loss(model, x, out)["total"]
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", ["klimkevicius-tcae", "klimkevicius-tcvae"])
def test_transfer_encoder_shape_and_frozen_weights(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, (3, 32, 32), pretrained=False)
    assert model.encoder.conv_shape == (128, 8, 8)  # block2_pool: 128 channels at 1/4 size
    assert [k for k in model.encoder.state_dict() if k.endswith("weight")] == [
        "features.0.weight", "features.2.weight", "features.5.weight", "features.7.weight"]  # torchvision's names
    frozen = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    decoder = {k: v.clone() for k, v in model.decoder.state_dict().items()}
    fit(model, torch.rand(32, 3, 32, 32), None, TrainConfig(epochs=1, batch_size=8, lr_patience=0), progress=False)
    assert all(torch.equal(frozen[k], v) for k, v in model.encoder.state_dict().items())
    assert any(not torch.equal(decoder[k], v) for k, v in model.decoder.state_dict().items())


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed here")
def test_pretrained_without_torchvision_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"torchvision.*set pretrained: false"):
        build_model("klimkevicius-tcae", (3, 32, 32))
    # the full experiment fails before training anything, not after its CAE and CVAE
    write_castings(tmp_path / "data", n_train=2, n_ok=1, n_def=1)
    code, _, err = run_cli(["run", "klimkevicius-casting", "--data-dir", str(tmp_path / "data"), "-o",
                            str(tmp_path / "runs"), "-q"])
    assert code == 2
    assert "pip install 'aecompare[vgg]'" in err
    assert not list((tmp_path / "runs").glob("**/metrics.json"))


def test_vgg16_backbone_rejects_gray_images() -> None:
    with pytest.raises(ConfigError, match="RGB images"):
        build_model("klimkevicius-tcae", (1, 32, 32), pretrained=False)


# --- experiments ------------------------------------------------------------------------------------------


def test_casting_specs_use_the_papers_training_and_numbers() -> None:
    full, cpu = load_spec("klimkevicius-casting"), load_spec("klimkevicius-casting-cpu")
    train = full.train_config(full.datasets[0])
    assert (train.epochs, train.batch_size, train.lr, train.lr_patience, train.early_stopping_patience) == (
        50, 16, 0.003, 2, 7)
    assert full.seeds == (42,)
    assert [m.label for m in full.models] == ["CAE", "CVAE", "TCAE", "TCVAE"]
    assert full.published["auprc"]["CAE"]["def_front"] == 0.837
    assert [m.label for m in cpu.models] == ["CAE", "CVAE"]
    assert cpu.datasets[0].params["size"] == 64


def test_casting_cpu_end_to_end_reports_every_defect_kind_beside_the_paper(tmp_path: Path) -> None:
    write_castings(tmp_path / "data")
    code, _, _ = run_cli(["run", "klimkevicius-casting-cpu", "--data-dir", str(tmp_path / "data"), "-o",
                          str(tmp_path / "runs"), "--set", "datasets.0.params.size=16", "--set", "train.epochs=1",
                          "--workers", "1", "-q"])
    assert code == 0
    folder = tmp_path / "runs" / "klimkevicius-casting-cpu"
    with open(folder / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["group"]) for r in rows} >= {(m, g) for m in ("CAE", "CVAE")
                                                        for g in ("def_front", "gaussian", "salt_pepper", "objects")}
    report = (folder / "report.md").read_text()
    for title in ("AUPRC (PR-AUC, average precision) per anomalous class", "Precision at the threshold",
                  "Recall at the threshold", "F1 at the threshold"):
        assert title in report
    assert "| def_front | 0.8370 |" in report  # the paper's CAE PR-AUC on real defects
    assert (folder / "figures" / "casting-pr.png").exists()
    run = folder / "casting" / "CAE" / "normal-ok_front" / "seed-42"
    assert not (run / "latent.npz").exists()  # the CAE's code is a feature map: not kept


def test_images_command_on_an_mvtec_folder_gives_pixel_auroc(tmp_path: Path) -> None:
    write_mvtec(tmp_path / "bottle")
    code, out, _ = run_cli(["images", "--images", str(tmp_path / "bottle"), "-o", str(tmp_path / "runs"),
                            "--set", "datasets.0.params.size=16", "--set", "train.epochs=1", "--workers", "1", "-q"])
    assert code == 0
    folder = tmp_path / "runs" / "images"
    assert Path(out.splitlines()[-1]) == folder / "report.html"
    metrics = json.loads((folder / "images" / "CAE" / "normal-good" / "seed-42" / "metrics.json").read_text())
    assert 0.0 <= metrics["pixel_auroc"] <= 1.0
    assert "pixel-level AUROC" in (folder / "report.md").read_text()


def test_images_command_rejects_bad_counts(tmp_path: Path) -> None:
    code, _, err = run_cli(["images", "--images", str(tmp_path), "--workers", "0", "-q"])
    assert code == 2
    assert "--workers must be an integer of at least 1" in err


def test_pixel_auroc_scores_error_maps_against_known_masks_only(monkeypatch) -> None:
    from aecompare.studies.grid import run as runner

    masks = np.zeros((3, 4, 4), dtype=np.float32)
    masks[1, :2, :2] = 1.0  # a defect in image 1
    masks[2] = np.nan  # image 2 has no mask: left out
    x = torch.zeros(3, 3, 4, 4)
    x[1, :, :2, :2] = 1.0  # the error map equals the defect in image 1...
    x[2] = 5.0  # ...and image 2, whose mask is unknown, would ruin the score if it counted
    monkeypatch.setattr(runner, "error_map", lambda model, images: images.pow(2))  # (N, C, H, W)
    assert runner.pixel_level_auroc(None, x, masks) == 1.0
    assert runner.pixel_level_auroc(None, x, np.zeros((3, 4, 4), dtype=np.float32)) is None  # no defect pixel
