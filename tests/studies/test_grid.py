"""Experiment specs, the runner (resume, atomic folders, results.csv) and the no-leak guarantee."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import aecompare.fitting as fitting
import aecompare.runs.folder as run_folder
import aecompare.studies.grid.train as grid_train
from aecompare.data import load_dataset
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from aecompare.runs.folder import write_files
from aecompare.studies.grid.plan import Run
from aecompare.studies.grid.results import RESULT_COLUMNS, collect_results, read_results
from aecompare.studies.grid.run import run_experiment
from aecompare.studies.grid.spec import load_spec, parse_spec
from aecompare.studies.grid.train import train_group
from aecompare.studies.specfile import builtin_specs
from conftest import run_cli

TINY_SPEC = {
    "name": "tiny",
    "seeds": 1,
    "models": ["ae", {"name": "vae", "label": "vae-b2", "beta": 2.0}],
    "model": {"channels": [8, 16], "latent_dim": 4},
    "train": {"epochs": 2, "batch_size": 32},
    "datasets": [{"name": "digits", "normal": [0, [1, 7]]}],
}


def _write_spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def test_builtin_quick_spec_is_valid() -> None:
    spec = load_spec("quick")
    assert "quick" in builtin_specs()
    assert [m.name for m in spec.models] == ["ae", "vae", "aae"]
    assert spec.seeds == (0, 1, 2)
    assert [d.name for d in spec.datasets] == ["digits", "lines"]


def test_overrides_and_seeds(tmp_path: Path) -> None:
    spec = load_spec(_write_spec(tmp_path, TINY_SPEC), ["train.lr=0.01", "evaluation.threshold_percentile=90"], 2)
    assert spec.train_config(spec.datasets[0]).lr == 0.01
    assert spec.evaluation.threshold_percentile == 90.0
    assert spec.seeds == (0, 1)


def test_top_level_train_override_beats_a_dataset_setting() -> None:
    spec = load_spec("quick", ["train.epochs=1"])
    assert all(spec.train_config(d).epochs == 1 for d in spec.datasets)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trian": {}}, "unknown key 'trian'; valid keys are: name, description, seeds"),
        ({"train": {"epocs": 3}}, r"spec.yaml: train: unknown key 'epocs'; valid keys are: epochs"),
        ({"train": {"epochs": "ten"}}, r"train.epochs: expected an integer, got 'ten'"),
        ({"models": ["ae", "vea"]}, "unknown model 'vea'; choose one of"),
        ({"model": {"latnt_dim": 2}}, "unknown key 'latnt_dim'"),
        ({"datasets": [{"name": "digit"}]}, "unknown dataset 'digit'; choose one of: .*digits"),
        ({"datasets": [{"name": "digits", "params": {"size": 3}}]}, "dataset 'digits': unknown parameter 'size'"),
        ({"datasets": [{"name": "digits", "normals": [1]}]}, "unknown key 'normals'"),
        (
            {"evaluation": {"scorer": "psnr"}},
            "unknown scorer 'psnr'; choose one of: kl, latent_knn, latent_mahalanobis, latent_meanshift, loss, "
            "mae, mse, reconstruction_probability, ssim",
        ),
        ({"seeds": 0}, "seeds must be 1 to 1000 seeds, got 0"),
        ({"seeds": 10**9}, "seeds must be 1 to 1000 seeds, got 1,000,000,000"),
        ({"models": ["ae", "ae"]}, "model labels must be unique"),
    ],
)
def test_bad_specs_name_the_problem(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_spec(_write_spec(tmp_path, {**TINY_SPEC, **change}))


def test_malformed_yaml_and_unknown_experiment(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmodels: [ae\n")
    with pytest.raises(ConfigError, match="broken.yaml is not valid YAML"):
        load_spec(path)
    with pytest.raises(ConfigError, match="unknown experiment 'quik'; choose one of: .*quick, schneider-cifar10"):
        load_spec("quik")
    with pytest.raises(DataNotFoundError, match="experiment file .*missing.yaml not found"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="--set expects key=value"):
        load_spec("quick", ["train.epochs"])


@pytest.fixture
def tiny_spec():
    return parse_spec(TINY_SPEC, "tiny.yaml")


def test_runner_writes_results_and_run_folders(tiny_spec, tmp_path: Path) -> None:
    folder = run_experiment(tiny_spec, tmp_path, progress=False, workers=1)
    with open(folder / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == RESULT_COLUMNS
    # 2 models x 2 normal choices x 1 seed; normal 0 has 9 anomaly groups + pooled, normal 1+7 has 8 + pooled.
    assert len(rows) == 2 * (10 + 9)
    assert {r["model"] for r in rows} == {"ae", "vae-b2"}
    assert {r["normal"] for r in rows} == {"0", "1+7"}
    # the typed rows the report reads survive the trip through results.csv
    typed = read_results(folder / "results.csv")
    assert typed == collect_results(folder)
    assert isinstance(typed[0].seed, int)
    assert isinstance(typed[0].diverged, bool)
    broken = tmp_path / "broken.csv"
    broken.write_text((folder / "results.csv").read_text().replace(",0.", ",zero.", 1))
    with pytest.raises(DataError, match=r"broken.csv, line 2: could not convert"):
        read_results(broken)
    with pytest.raises(DataError, match="lacks the columns"):
        read_results(_headerless(tmp_path))
    run_dir = folder / "digits" / "vae-b2" / "normal-1+7" / "seed-0"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.json",
        "decision_scores.npy",
        "detector.json",
        "examples.npz",
        "history.json",
        "latent.npz",
        "metrics.json",
        "model.json",
        "model.safetensors",
        "scores.npz",
    ]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["model"]["beta"] == 2.0
    assert config["settings"]["model"]["name"] == "vae"
    assert config["settings"]["dataset"]["normal"] == ["1", "7"]


def test_runner_resumes_and_ignores_unfinished_folders(tiny_spec, tmp_path: Path, monkeypatch) -> None:
    folder = run_experiment(tiny_spec, tmp_path, progress=False, workers=1)
    finished = folder / "digits" / "ae" / "normal-0" / "seed-0"
    stamp = (finished / "metrics.json").stat().st_mtime_ns
    # Simulate a crash: one run's folder lost its marker, and a partial folder was left behind.
    unfinished = folder / "digits" / "vae-b2" / "normal-0" / "seed-0"
    (unfinished / "metrics.json").unlink()
    (unfinished.parent / ".seed-0.partial-999").mkdir()

    executed: list[Run] = []
    original = grid_train.train_group
    monkeypatch.setattr(
        grid_train,
        "train_group",
        lambda spec, groups, *a: executed.extend(r for g in groups for r in g) or original(spec, groups, *a),
    )
    run_experiment(tiny_spec, tmp_path, progress=False, workers=1)
    assert [(r.model.label, r.normal) for r in executed] == [("vae-b2", ("0",))]
    assert (finished / "metrics.json").stat().st_mtime_ns == stamp
    assert (unfinished / "metrics.json").exists()


def test_interrupted_run_leaves_no_finished_looking_folder(tiny_spec, tmp_path: Path, monkeypatch) -> None:
    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_folder, "save_model", explode)  # dies after training, mid-write
    with pytest.raises(KeyboardInterrupt):
        run_experiment(tiny_spec, tmp_path, progress=False, workers=1)
    assert not list((tmp_path / "tiny").glob("**/metrics.json"))
    assert not list((tmp_path / "tiny").glob("**/seed-0"))


def test_process_pool_gives_the_same_numbers_as_one_process(tiny_spec, tmp_path: Path) -> None:
    one = run_experiment(tiny_spec, tmp_path / "one", progress=False, workers=1)
    two = run_experiment(tiny_spec, tmp_path / "two", progress=False, workers=2)
    assert (one / "results.csv").read_text().count("\n") == (two / "results.csv").read_text().count("\n")

    def without_time(folder: Path) -> list[dict[str, str]]:
        with open(folder / "results.csv") as f:
            return [{k: v for k, v in row.items() if k != "train_seconds"} for row in csv.DictReader(f)]

    assert without_time(one) == without_time(two)


@pytest.mark.parametrize("model", ["ae", "vae", "aae"])
def test_test_data_and_labels_reach_no_choice(model: str, tmp_path: Path) -> None:
    # Train the same run twice: once as is, once with the test set's inputs replaced and labels shuffled.
    # Everything chosen during training and thresholding must be identical; only test metrics may move.
    spec = parse_spec({**TINY_SPEC, "models": [model]}, "tiny.yaml")
    dataset = load_dataset("digits")
    rng = np.random.default_rng(0)
    tampered = dataclasses.replace(
        dataset, x_test=rng.random(dataset.x_test.shape, dtype=np.float32), y_test=rng.permutation(dataset.y_test)
    )
    run = Run(spec.datasets[0], ("0",), spec.models[0], 0)
    a = write_files(tmp_path / "a", Path("run"), train_group(spec, [[run]], dataset, None)[0][1])
    b = write_files(tmp_path / "b", Path("run"), train_group(spec, [[run]], tampered, None)[0][1])
    for name in ("history.json",):
        assert (a / name).read_text() == (b / name).read_text()
    metrics_a, metrics_b = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert metrics_a["threshold"] == metrics_b["threshold"]
    assert metrics_a["best_epoch"] == metrics_b["best_epoch"]
    scores_a, scores_b = np.load(a / "scores.npz"), np.load(b / "scores.npz")
    assert np.array_equal(scores_a["val_scores"], scores_b["val_scores"])
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert metrics_a["rows"] != metrics_b["rows"]  # the test set did change


def test_report_figures_show_each_models_seed_with_the_lowest_validation_loss(tmp_path: Path) -> None:
    from aecompare.core.io import write_json
    from aecompare.studies.grid.report import best_seed

    for seed, losses in ((0, [0.5, 0.4]), (1, [0.3, 0.2]), (2, [0.9])):
        write_json(
            tmp_path / "digits" / "vae" / "normal-0" / f"seed-{seed}" / "history.json",
            [{"epoch": i + 1, "val_loss": v} for i, v in enumerate(losses)],
        )
    assert best_seed(tmp_path, "digits", "vae", "0", [0, 1, 2]) == 1
    assert best_seed(tmp_path, "digits", "vae", "0", [0, 2, 3]) == 0  # seed 3 has no run: never chosen


def test_scores_of_one_model_share_one_training(tmp_path: Path) -> None:
    (tmp_path / "data" / "tabular").mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(200, 4)), 4 + rng.normal(size=(20, 4))])
    np.savez(tmp_path / "data" / "tabular" / "toy.npz", X=x, y=np.repeat([0, 1], [200, 20]))
    spec = tmp_path / "toy.yaml"
    spec.write_text(
        "extends: tabular\ndatasets:\n  - {name: tabular, label: toy, normal: normal, params: {table: toy}}\n"
    )
    code, _, _ = run_cli(
        [
            "run",
            str(spec),
            "--data-dir",
            str(tmp_path / "data"),
            "-o",
            str(tmp_path / "runs"),
            "--set",
            "train.epochs=2",
            "--set",
            "evaluation.n_samples=5",
            "--seeds",
            "1",
            "-q",
        ]
    )
    assert code == 0
    run = tmp_path / "runs" / "tabular" / "toy"
    error, recprob = (
        json.loads((run / m / "normal-normal" / "seed-0" / "metrics.json").read_text())
        for m in ("VAE-error", "VAE-recprob")
    )
    assert error["train_seconds"] == recprob["train_seconds"]  # one training, two scorings
    assert (error["scorer"], recprob["scorer"]) == ("mse", "reconstruction_probability")
    assert (run / "VAE-error" / "normal-normal" / "seed-0" / "history.json").read_text() == (
        run / "VAE-recprob" / "normal-normal" / "seed-0" / "history.json"
    ).read_text()
    error_scores, recprob_scores = (
        np.load(run / m / "normal-normal" / "seed-0" / "scores.npz")["test_scores"]
        for m in ("VAE-error", "VAE-recprob")
    )
    assert not np.allclose(error_scores, recprob_scores)


def test_unknown_model_score_and_duplicate_dataset_names_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="unknown scorer 'recprob'; choose one of: kl, latent_knn, latent_mahalanobis"
    ):
        load_spec("tabular", ["models.2.scorer=recprob"])
    with pytest.raises(ConfigError, match="datasets must have distinct names"):
        load_spec("tabular", ["datasets.1.label=cardio"])


def test_normal_override_takes_a_class_name_or_index() -> None:
    spec = load_spec("schneider-cifar10", ["normal=5"])
    assert spec.datasets[0].normal_sets(("airplane", "automobile", "bird", "cat", "deer", "dog")) == [("dog",)]
    spec = load_spec("schneider-mnist", ["normal=7"])
    assert spec.datasets[0].normal_sets(tuple("0123456789")) == [("7",)]
    with pytest.raises(ConfigError, match="unknown normal class 'wolf'; classes are: airplane, .*indices 0-5"):
        load_spec("schneider-cifar10", ["normal=wolf"]).datasets[0].normal_sets(
            ("airplane", "automobile", "bird", "cat", "deer", "dog")
        )


def test_unknown_scaling_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown scaling 'gcn'; choose one of: auto, gcn-minmax, minmax, none"):
        load_spec("schneider-cifar10", ["datasets.0.scaling=gcn"])


def test_user_specs_can_extend_a_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("extends: schneider-mnist\nname: mine\nseeds: 1\n")
    spec = load_spec(path)
    assert (spec.name, spec.seeds, spec.published["normal"]) == ("mine", (0,), "1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("published.auroc={XAE: {a: 1}}", "none of 'XAE' is a model label; labels are: CAE, VAE, AAE"),
        ("published.colour=red", "published: unknown key 'colour'"),
        ("published.auprc.CAE=0.5", r"published.auprc.CAE must be \{group: number\}"),
    ],
)
def test_bad_published_numbers_are_named(change: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_spec("schneider-mnist", [change])


def test_pixel_auroc_scores_error_maps_against_known_masks_only(monkeypatch) -> None:
    from aecompare.studies.grid import evaluate
    from aecompare.studies.grid.evaluate import pixel_level_auroc

    masks = np.zeros((3, 4, 4), dtype=np.float32)
    masks[1, :2, :2] = 1.0  # a defect in image 1
    masks[2] = np.nan  # image 2 has no mask: left out
    x = torch.zeros(3, 3, 4, 4)
    x[1, :, :2, :2] = 1.0  # the error map equals the defect in image 1...
    x[2] = 5.0  # ...and image 2, whose mask is unknown, would ruin the score if it counted
    monkeypatch.setattr(evaluate, "error_map", lambda model, images: images.pow(2))  # (N, C, H, W)
    assert pixel_level_auroc(None, x, masks) == 1.0
    assert pixel_level_auroc(None, x, np.zeros((3, 4, 4), dtype=np.float32)) is None  # no defect pixel


def test_latent_scores_in_a_grid_use_the_runs_training_codes(tmp_path: Path) -> None:
    from aecompare import Detector

    spec = parse_spec(
        {
            **TINY_SPEC,
            "models": ["ae", {"name": "ae", "label": "ae-knn", "scorer": "latent_knn"}],
            "datasets": [{"name": "digits", "normal": [0]}],
        },
        "tiny.yaml",
    )
    folder = run_experiment(spec, tmp_path, progress=False, workers=1)
    run_dir = folder / "digits" / "ae-knn" / "normal-0" / "seed-0"
    assert (run_dir / "reference_codes.npy").exists()
    assert not (folder / "digits" / "ae" / "normal-0" / "seed-0" / "reference_codes.npy").exists()
    raw = load_dataset("digits").x_test * 16  # the 0-16 intensities load_digits gives: a run scores those
    stored = np.load(run_dir / "scores.npz")["test_scores"]
    np.testing.assert_allclose(Detector.load(run_dir).decision_function(raw), stored, rtol=1e-6)


def test_a_seed_ensemble_scores_by_its_members_standardised_mean_and_keeps_each_member(tmp_path: Path) -> None:
    from aecompare import Detector

    spec = parse_spec(
        {
            **TINY_SPEC,
            "seeds": 2,
            "models": ["ae", {"name": "ae", "label": "ae-x3", "ensemble": 3}],
            "datasets": [{"name": "digits", "normal": [0]}],
        },
        "tiny.yaml",
    )
    folder = run_experiment(spec, tmp_path, progress=False, workers=1)
    run_dir = folder / "digits" / "ae-x3" / "normal-0" / "seed-1"
    members = [run_folder.member_dir(run_dir, i) for i in range(3)]
    scores = np.load(run_dir / "scores.npz")
    parts = []
    for m in members:
        s = {k: v.astype(np.float64) for k, v in np.load(m / "scores.npz").items() if k.endswith("scores")}
        parts.append((s["test_scores"] - s["val_scores"].mean()) / s["val_scores"].std())
    np.testing.assert_allclose(scores["test_scores"], np.mean(parts, axis=0), rtol=1e-9)
    assert float(scores["threshold"]) == pytest.approx(np.percentile(scores["val_scores"], 95))
    seeds = [json.loads((m / "detector.json").read_text())["params"]["random_state"] for m in members]
    assert seeds == [3, 4, 5]  # seed 1's members; seed 0's trained with 0, 1, 2
    raw = load_dataset("digits").x_test * 16  # the 0-16 intensities load_digits gives
    np.testing.assert_allclose(
        Detector.load(members[2]).decision_function(raw), np.load(members[2] / "scores.npz")["test_scores"], rtol=1e-6
    )
    ensemble = Detector.load(run_dir)  # the whole ensemble: its members' standardised mean, its threshold
    assert ensemble.get_params()["ensemble"] == 3
    assert len(ensemble.members_) == 3
    np.testing.assert_allclose(ensemble.decision_function(raw), scores["test_scores"], rtol=1e-6)
    assert ensemble.threshold_ == pytest.approx(float(scores["threshold"]))
    code, _, err = run_cli(["inspect", str(run_dir), "-o", str(tmp_path / "inspect")])
    assert code == 2
    assert "seed ensemble: pass one of its members" in err
    metrics = run_folder.read_metrics(run_dir)
    assert metrics["ensemble"] == 3
    assert metrics["train_seconds"] == pytest.approx(sum(run_folder.read_metrics(m)["train_seconds"] for m in members))
    assert json.loads((run_dir / "config.json").read_text())["settings"]["ensemble"] == 3
    with open(folder / "results.csv") as f:
        assert {r["model"] for r in csv.DictReader(f)} == {"ae", "ae-x3"}
    from aecompare.studies.registry import write_report

    report = Path(write_report(folder)).with_suffix(".md").read_text()
    assert "| ae-x3 |" in report  # its own row beside the single model, with its cost
    member_aurocs = [
        next(r["auroc"] for r in run_folder.read_metrics(m)["rows"] if r["group"] == "all")
        for seed in (0, 1)
        for m in (run_folder.member_dir(run_dir.parent / f"seed-{seed}", i) for i in range(3))
    ]
    section = report.split("Seed ensembles against their members")[1]
    assert "| ae-x3 | 3 |" in section  # the single model "ae" has no members: no row
    assert f"| {np.mean(member_aurocs):.4f} | {min(member_aurocs):.4f} – {max(member_aurocs):.4f} |" in section
    assert "| ae |" not in section.split("###")[0]


def test_ensemble_size_is_checked() -> None:
    with pytest.raises(ConfigError, match="ensemble must be a number of seeds from 1 to 100"):
        parse_spec({**TINY_SPEC, "models": [{"name": "ae", "ensemble": 0}]}, "tiny.yaml")
    with pytest.raises(ConfigError, match="restarts must be a number of seeds from 1 to 100"):
        parse_spec({**TINY_SPEC, "models": [{"name": "ae", "restarts": True}]}, "tiny.yaml")
    with pytest.raises(ConfigError, match="either ensemble .* or restarts"):
        parse_spec({**TINY_SPEC, "models": [{"name": "ae", "ensemble": 2, "restarts": 2}]}, "tiny.yaml")
    with pytest.raises(ConfigError, match="unknown evaluation.select 'labels'"):
        parse_spec({**TINY_SPEC, "evaluation": {"select": "labels"}}, "tiny.yaml")


def test_restarts_keep_the_training_with_the_lowest_validation_loss(tmp_path: Path) -> None:
    from aecompare import Detector
    from aecompare.studies.registry import write_report

    spec = parse_spec(
        {
            **TINY_SPEC,
            "seeds": [1],
            "datasets": [{"name": "digits", "normal": [0]}],
            "models": [
                {"name": "ae", "label": "ae-x3", "ensemble": 3},
                {"name": "ae", "label": "ae-best3", "restarts": 3},
            ],
        },
        "tiny.yaml",
    )
    folder = run_experiment(spec, tmp_path, progress=False, workers=1)
    members = [run_folder.member_dir(folder / "digits" / "ae-x3" / "normal-0" / "seed-1", i) for i in range(3)]
    losses = [min(e["val_loss"] for e in run_folder.read_history(m)) for m in members]  # the same 3 trainings
    kept = int(np.argmin(losses))
    run_dir = folder / "digits" / "ae-best3" / "normal-0" / "seed-1"
    metrics = run_folder.read_metrics(run_dir)
    assert metrics["restarts"]["kept"] == kept
    assert metrics["restarts"]["best_val_losses"] == pytest.approx(losses)
    assert metrics["train_seconds"] == metrics["restarts"]["train_seconds"]  # the cost of all three

    def pooled(m: dict) -> float:
        return next(r["auroc"] for r in m["rows"] if r["group"] == "all")

    assert pooled(metrics) == pytest.approx(pooled(run_folder.read_metrics(members[kept])), abs=1e-12)
    params = json.loads((run_dir / "detector.json").read_text())["params"]
    assert (params["random_state"], params["restarts"]) == (1, 3)  # Detector(**params) trains seeds 3-5 again
    np.testing.assert_allclose(
        Detector.load(run_dir).decision_function(load_dataset("digits").x_test * 16),
        np.load(run_dir / "scores.npz")["test_scores"],
        rtol=1e-6,
    )  # one model: a Detector
    report = Path(write_report(folder)).with_suffix(".md").read_text()
    assert "| ae-best3 | 3 (restarts: the lowest validation loss kept) |" in report


def test_selection_scores_synthetic_anomalies_of_validation_data_and_the_report_recommends(tmp_path: Path) -> None:
    from aecompare.studies.registry import write_report

    spec = parse_spec(
        {
            **TINY_SPEC,
            "evaluation": {"select": "synthetic"},
            "models": ["ae", {"name": "ae", "label": "ae-knn", "scorer": "mse+latent_knn"}],
            "datasets": [{"name": "digits", "normal": [0, 3]}],
        },
        "tiny.yaml",
    )
    folder = run_experiment(spec, tmp_path, progress=False, workers=1)
    run_dir = folder / "digits" / "ae-knn" / "normal-3" / "seed-0"
    scores = np.load(run_dir / "scores.npz")
    assert len(scores["synthetic_scores"]) == len(scores["val_scores"])  # one synthetic anomaly per validation image
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score(
        np.r_[np.zeros(len(scores["val_scores"])), np.ones(len(scores["synthetic_scores"]))],
        np.r_[scores["val_scores"], scores["synthetic_scores"]],
    )
    assert run_folder.read_metrics(run_dir)["synthetic_auroc"] == pytest.approx(expected)
    with open(folder / "results.csv") as f:
        assert all(float(r["synthetic_auroc"]) > 0 for r in csv.DictReader(f))
    report = Path(write_report(folder)).with_suffix(".md").read_text()
    assert "Recommendation without anomaly labels" in report
    assert "| 3 | ae" in report  # a row per normal-class choice
    assert re.search(r"\| \+0\.\d{4} \((ae|ae-knn)\) \|", report)  # the lead over the runner-up, named


def test_an_ensembles_members_score_the_same_synthetic_anomalies(tmp_path: Path, monkeypatch) -> None:
    seeds = []

    def recording(normal, reference, *, seed):
        seeds.append(seed)
        return real(normal, reference, seed=seed)

    real = fitting.synthetic_anomalies
    monkeypatch.setattr(fitting, "synthetic_anomalies", recording)
    spec = parse_spec(
        {
            **TINY_SPEC,
            "seeds": [1],
            "evaluation": {"select": "synthetic"},
            "models": [{"name": "ae", "label": "ae-x2", "ensemble": 2}],
            "datasets": [{"name": "digits", "normal": [0]}],
        },
        "tiny.yaml",
    )
    folder = run_experiment(spec, tmp_path, progress=False, workers=1)
    assert seeds == [1, 1]  # the run's seed for both members (they train with seeds 2 and 3)
    run_dir = folder / "digits" / "ae-x2" / "normal-0" / "seed-1"
    members = [np.load(run_folder.member_dir(run_dir, i) / "scores.npz") for i in range(2)]
    expected = np.mean(
        [
            (m["synthetic_scores"] - m["val_scores"].astype(np.float64).mean())
            / m["val_scores"].astype(np.float64).std()
            for m in members
        ],
        axis=0,
    )
    np.testing.assert_allclose(np.load(run_dir / "scores.npz")["synthetic_scores"], expected, rtol=1e-6)


def test_the_old_key_score_still_reads_with_a_warning(tmp_path: Path) -> None:
    spec = {**TINY_SPEC, "models": [{"name": "ae", "label": "ae-knn", "score": "latent_knn"}]}
    with pytest.warns(FutureWarning, match=r"models\[0\]: 'score' is now 'scorer'"):
        parsed = load_spec(_write_spec(tmp_path, spec))
    assert parsed.models[0].scorer == "latent_knn"
    both = {**TINY_SPEC, "evaluation": {"score": "mse", "scorer": "mae"}}
    with pytest.raises(ConfigError, match="give scorer only"):
        load_spec(_write_spec(tmp_path, both))


def _headerless(folder: Path) -> Path:
    path = folder / "other.csv"
    path.write_text("a,b\n1,2\n")
    return path


def test_a_cells_seeds_train_as_one_program_and_each_equals_its_seed_alone(tmp_path: Path, monkeypatch) -> None:
    dense = {"backbone": "mlp", "hidden": [16]}
    spec = parse_spec(
        {
            **TINY_SPEC,
            "seeds": [0, 1],
            "models": [
                {"name": "ae", "label": "ae-mlp", **dense},
                {"name": "vae", "label": "vae-x2", "ensemble": 2, **dense},
                {"name": "ae", "label": "ae-conv"},
            ],
            "datasets": [{"name": "digits", "normal": [0]}],
        },
        "tiny.yaml",
    )
    batches: list[tuple[str, list[int]]] = []
    original = grid_train.train_group
    monkeypatch.setattr(
        grid_train,
        "train_group",
        lambda spec, groups, *a: (
            batches.append((groups[0][0].model.label, [g[0].seed for g in groups])) or original(spec, groups, *a)
        ),
    )
    both = run_experiment(spec, tmp_path / "both", progress=False, workers=1)
    # dense cells: one task of both seeds; the conv cell (no gain from stacking on the CPU): a task per seed
    assert sorted(batches) == [("ae-conv", [0]), ("ae-conv", [1]), ("ae-mlp", [0, 1]), ("vae-x2", [0, 1])]
    alone = run_experiment(
        dataclasses.replace(spec, seeds=(1,)), tmp_path / "alone", progress=False, workers=1
    )  # seed 1 by itself: its own split, trained alone
    for model in ("ae-mlp", "vae-x2"):
        run = Path("digits") / model / "normal-0" / "seed-1"
        together, by_itself = (np.load(folder / run / "scores.npz")["test_scores"] for folder in (both, alone))
        np.testing.assert_allclose(together, by_itself, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("overrides", "batched"), [({}, True), ({"dropout": 0.1}, False)])
def test_dense_seeds_share_a_task_unless_regularisers_make_them_train_alone(overrides: dict, batched: bool) -> None:
    from aecompare.data import load_dataset
    from aecompare.studies.grid.plan import batch_seeds, expand_runs, group_by_training

    spec = parse_spec(
        {**TINY_SPEC, "seeds": 2, "models": ["mlp-ae"], "model": {"hidden": [8], **overrides}}, "tiny.yaml"
    )
    datasets = {d.key: load_dataset(d.name, None, **d.params) for d in spec.datasets}
    groups = list(group_by_training(spec, list(expand_runs(spec, datasets))).values())
    tasks = batch_seeds(spec, groups, datasets)
    assert len(groups) == 4  # two normal sets x two seeds
    assert len(tasks) == (2 if batched else 4)  # a task per normal set, or one per seed where members can't stack
