"""Klimkevicius: CAE/CVAE as in Section 4.1, and the casting and images experiments end to end on tiny folders
(image folders, defects and VGG16 encoders are tested beside their modules)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from aecompare.models import build_model
from aecompare.studies.grid.spec import load_spec
from conftest import run_cli
from formats import write_castings, write_mvtec


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


def test_casting_specs_use_the_papers_training_and_numbers() -> None:
    full, cpu = load_spec("klimkevicius-casting"), load_spec("klimkevicius-casting-cpu")
    train = full.train_config(full.datasets[0])
    assert (train.epochs, train.batch_size, train.lr, train.lr_patience, train.early_stopping_patience) == (
        50,
        16,
        0.003,
        2,
        7,
    )
    assert full.seeds == (42,)
    assert [m.label for m in full.models] == ["CAE", "CVAE", "TCAE", "TCVAE"]
    assert full.published["auprc"]["CAE"]["def_front"] == 0.837
    assert [m.label for m in cpu.models] == ["CAE", "CVAE", "CAE-ssim", "CVAE-ssim", "CVAE-mse+knn"]
    assert cpu.datasets[0].params["size"] == 64


def test_casting_cpu_end_to_end_reports_every_defect_kind_beside_the_paper(tmp_path: Path) -> None:
    write_castings(tmp_path / "data")
    code, _, _ = run_cli(
        [
            "run",
            "klimkevicius-casting-cpu",
            "--data-dir",
            str(tmp_path / "data"),
            "-o",
            str(tmp_path / "runs"),
            "--set",
            "datasets.0.params.size=16",
            "--set",
            "train.epochs=1",
            "--workers",
            "1",
            "-q",
        ]
    )
    assert code == 0
    folder = tmp_path / "runs" / "klimkevicius-casting-cpu"
    with open(folder / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["group"]) for r in rows} >= {
        (m, g) for m in ("CAE", "CVAE") for g in ("def_front", "gaussian", "salt_pepper", "objects")
    }
    report = (folder / "report.md").read_text()
    for title in (
        "AUPRC (PR-AUC, average precision) per anomalous class",
        "Precision at the threshold",
        "Recall at the threshold",
        "F1 at the threshold",
    ):
        assert title in report
    assert "| def_front | 0.8370 |" in report  # the paper's CAE PR-AUC on real defects
    assert (folder / "figures" / "casting-pr.png").exists()
    run = folder / "casting" / "CAE" / "normal-ok_front" / "seed-42"
    assert not (run / "latent.npz").exists()  # the CAE's code is a feature map: not kept


def test_images_command_on_an_mvtec_folder_gives_pixel_auroc(tmp_path: Path) -> None:
    write_mvtec(tmp_path / "bottle")
    code, out, _ = run_cli(
        [
            "images",
            "--images",
            str(tmp_path / "bottle"),
            "-o",
            str(tmp_path / "runs"),
            "--set",
            "datasets.0.params.size=16",
            "--set",
            "train.epochs=1",
            "--workers",
            "1",
            "-q",
        ]
    )
    assert code == 0
    folder = tmp_path / "runs" / "images" / "bottle"  # one folder per input folder
    assert Path(out.splitlines()[-1]) == folder / "report.html"
    metrics = json.loads((folder / "bottle" / "CAE" / "normal-good" / "seed-42" / "metrics.json").read_text())
    assert 0.0 <= metrics["pixel_auroc"] <= 1.0
    report = (folder / "report.md").read_text()
    assert "pixel-level AUROC" in report
    # the CVAE by error + latent kNN (TUNING_RULE.md), the same training by its error alone beside it
    assert "Scores: CAE by mse, CVAE by mse+latent_knn, CVAE-error by mse." in report
