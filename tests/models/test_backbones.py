"""Backbones: frozen VGG16 transfer encoders built without torchvision."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from aecompare.errors import ConfigError
from aecompare.models import build_model
from aecompare.train.loop import TrainConfig, fit
from conftest import run_cli
from formats import write_castings


@pytest.mark.parametrize("name", ["klimkevicius-tcae", "klimkevicius-tcvae"])
def test_transfer_encoder_shape_and_frozen_weights(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, (3, 32, 32), pretrained=False)
    assert model.encoder.conv_shape == (128, 8, 8)  # block2_pool: 128 channels at 1/4 size
    assert [k for k in model.encoder.state_dict() if k.endswith("weight")] == [
        "features.0.weight",
        "features.2.weight",
        "features.5.weight",
        "features.7.weight",
    ]  # torchvision's names
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
    code, _, err = run_cli(
        ["run", "klimkevicius-casting", "--data-dir", str(tmp_path / "data"), "-o", str(tmp_path / "runs"), "-q"]
    )
    assert code == 2
    assert "pip install 'aecompare[vgg]'" in err
    assert not list((tmp_path / "runs").glob("**/metrics.json"))


def test_vgg16_backbone_rejects_gray_images() -> None:
    with pytest.raises(ConfigError, match="RGB images"):
        build_model("klimkevicius-tcae", (1, 32, 32), pretrained=False)
