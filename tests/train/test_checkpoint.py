"""Training checkpoints: safetensors + JSON, resumed to exactly the weights of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aecompare.errors import ConfigError
from aecompare.models import build_model
from aecompare.train.loop import TrainConfig, fit


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
