"""Schneider et al. (2022): the architectures of Tables 1-4, the experiments, and the paper-vs-ours report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from aecompare.cli import main
from aecompare.models import available_models, build_model
from aecompare.models.registry import MODELS
from aecompare.studies.grid.run import run_experiment
from aecompare.studies.grid.spec import load_spec
from formats import write_cifar_folder, write_mnist_folder

SCHNEIDER = [m for m in available_models() if m.startswith("schneider-")]
TABLES = {  # conv and transposed-conv channels (in, out) and the spatial sizes they produce
    "mnist": {
        "convs": [(1, 16), (16, 32), (32, 64), (64, 64), (64, 16)],
        "deconvs": [(16, 64), (64, 64), (64, 32), (32, 16), (16, 1)],
        "sizes": {28: [28, 14, 7, 4, 4], 32: [32, 16, 8, 4, 4]},
        "flat_hw": {28: 16, 32: 16},
    },
    "cifar10": {
        "convs": [(3, 8), (8, 16), (16, 32), (32, 16)],
        "deconvs": [(16, 32), (32, 16), (16, 8), (8, 3)],
        "sizes": {28: [28, 14, 7, 7], 32: [32, 16, 8, 8]},
        "flat_hw": {28: 49, 32: 64},
    },
}


def test_every_model_type_is_registered_for_both_datasets() -> None:
    assert sorted(f"schneider-{d}-{t}" for d in ("mnist", "cifar10") for t in ("cae", "vae", "aae")) == SCHNEIDER
    assert all(MODELS[m].notes for m in SCHNEIDER)  # the stated choices travel with the models


@pytest.mark.parametrize("name", SCHNEIDER)
@pytest.mark.parametrize("input_shape", [(1, 28, 28), (3, 32, 32)])
def test_architecture_follows_tables_1_to_4(name: str, input_shape: tuple[int, int, int]) -> None:
    data, kind = name.split("-")[1:]
    table = TABLES[data]
    model = build_model(name, input_shape)
    convs = [m for m in model.encoder.convs if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in model.decoder.deconvs if isinstance(m, nn.ConvTranspose2d)]
    first_in = input_shape[0]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(first_in, table["convs"][0][1]), *table["convs"][1:]]
    assert [(c.in_channels, c.out_channels) for c in deconvs] == [
        *table["deconvs"][:-1],
        (table["deconvs"][-1][0], first_in),
    ]
    assert all(c.kernel_size == (3, 3) for c in convs + deconvs)
    assert [h for h, _ in model.encoder.spatial_sizes[1:]] == table["sizes"][input_shape[1]]
    assert all(isinstance(m, nn.LeakyReLU) for m in model.encoder.convs[1::2])
    assert isinstance(model.decoder.output, nn.Sigmoid)

    # Table 3: lin1 flat -> r = 100, lin2 r -> n_z = 20 (the VAE: lin21 and lin22), lin3 n_z -> r, lin4 r -> flat.
    flat = 16 * table["flat_hw"][input_shape[1]]
    lin1 = model.encoder.fc[0]
    assert (lin1.in_features, lin1.out_features) == (flat, 100)
    heads = [model.bottleneck.mu, model.bottleneck.logvar] if kind == "vae" else [model.bottleneck.proj]
    assert all((h.in_features, h.out_features) == (100, 20) for h in heads)
    lin3, lin4 = model.decoder.fc[0], model.decoder.fc[2]
    assert (lin3.in_features, lin3.out_features, lin4.in_features, lin4.out_features) == (20, 100, 100, flat)
    if kind == "aae":  # Table 4: lind1 n_z -> 10, lind2 10 -> 1
        widths = [(m.in_features, m.out_features) for m in model.critic.modules() if isinstance(m, nn.Linear)]
        assert widths == [(20, 10), (10, 1)]
    else:
        assert model.critic is None

    x = torch.rand(3, *input_shape)
    with torch.no_grad():
        out = model(x)
    assert out.recon.shape == x.shape
    assert out.z.shape == (3, 20)
    assert float(out.recon.min()) >= 0.0
    assert float(out.recon.max()) <= 1.0


def test_the_three_models_share_encoder_and_decoder() -> None:
    def trunk(name: str) -> list[tuple[str, tuple[int, ...]]]:
        model = build_model(name, (1, 28, 28))
        return [(k, tuple(v.shape)) for k, v in model.state_dict().items() if k.startswith(("encoder", "decoder"))]

    assert trunk("schneider-mnist-cae") == trunk("schneider-mnist-vae") == trunk("schneider-mnist-aae")


def test_specs_give_the_three_models_identical_training_and_the_papers_numbers() -> None:
    for name, normal, n_groups in (("schneider-mnist", "1", 9), ("schneider-cifar10", "dog", 9)):
        spec = load_spec(name)
        assert [m.label for m in spec.models] == ["CAE", "VAE", "AAE"]
        assert spec.train.keys() >= {"epochs", "batch_size", "lr"}
        assert all(not m.overrides for m in spec.models)
        assert not spec.datasets[0].train
        assert spec.published["normal"] == normal
        assert all(len(spec.published[k][m]) == n_groups for k in ("auroc", "auprc") for m in ("CAE", "VAE", "AAE"))
    assert load_spec("schneider-cifar10").published["auroc"]["CAE"]["automobile"] == 0.7689


def test_all_variants_extend_the_single_class_specs() -> None:
    for name in ("schneider-mnist", "schneider-cifar10"):
        one, every = load_spec(name), load_spec(f"{name}-all")
        assert every.datasets[0].normal == "each"
        assert (every.models, every.train, every.seeds) == (one.models, one.train, one.seeds)
        assert every.published == {}


@pytest.fixture(scope="module")
def tiny_image_data(tmp_path_factory) -> Path:
    """MNIST and CIFAR-10 in their real formats, 6 training and 4 test images per class."""
    folder = tmp_path_factory.mktemp("data")
    write_mnist_folder(folder / "mnist", n_train=60, n_test=40)
    write_cifar_folder(folder, per_batch=12)
    return folder


FAST = ["seeds=1", "train.epochs=2", "train.batch_size=8"]


@pytest.mark.parametrize(("experiment", "groups"), [("schneider-mnist", 9), ("schneider-cifar10", 9)])
def test_experiment_end_to_end_shows_the_paper_beside_ours(
    experiment: str, groups: int, tiny_image_data: Path, tmp_path: Path, capsys
) -> None:
    argv = ["run", experiment, "-o", str(tmp_path), "--data-dir", str(tiny_image_data), "--workers", "1", "-q"]
    assert main([*argv, *sum((["--set", s] for s in FAST), [])]) == 0
    report = (tmp_path / experiment / "report.md").read_text()
    assert "Paper vs ours: Schneider et al. (2022), Table" in report
    assert "Choices where the paper is ambiguous" in report
    assert "lin1" in report
    table = report.split("AUROC per anomalous class:")[1].split("\n\n")[1].splitlines()
    assert table[0].startswith("| anomalous class | CAE paper | CAE ours | CAE Δ | VAE paper")
    assert len(table) == 2 + groups + 1  # header, rule, one row per anomalous class, the mean row
    assert "paper train seconds" in report


def test_normal_override_runs_another_class_without_the_paper_table(tiny_image_data: Path, tmp_path: Path) -> None:
    spec = load_spec("schneider-cifar10", [*FAST, "normal=3", "datasets.0.scaling=gcn-minmax"])
    folder = run_experiment(spec, tmp_path, data_dir=tiny_image_data, workers=1, progress=False)
    assert sorted(p.name for p in (folder / "cifar10" / "CAE").iterdir()) == ["normal-cat"]
    detector = json.loads((folder / "cifar10" / "CAE" / "normal-cat" / "seed-0" / "detector.json").read_text())
    assert detector["scaler"]["kind"] == "gcn-minmax"
    from aecompare.studies.registry import write_report

    write_report(folder)
    assert "no run here used it" in (folder / "report.md").read_text()


@pytest.mark.slow
def test_all_variant_runs_every_class_normal(tiny_image_data: Path, tmp_path: Path) -> None:
    spec = load_spec("schneider-mnist-all", [*FAST, "train.epochs=1"])
    folder = run_experiment(spec, tmp_path, data_dir=tiny_image_data, workers=1, progress=False)
    normals = sorted(p.name for p in (folder / "mnist" / "VAE").iterdir())
    assert normals == [f"normal-{d}" for d in range(10)]
    from aecompare.studies.registry import write_report

    write_report(folder)
    report = (folder / "report.md").read_text()
    assert "| **mean** |" in report  # the mean over the ten normal classes, per model
