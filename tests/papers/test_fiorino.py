"""Fiorino: tables in CSV/NPZ/MAT, the dense VAE with a Gaussian decoder, An & Cho's reconstruction probability,
and the tabular and fraud experiments."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from aecompare.data import load_dataset
from aecompare.data.sources import CREDITCARD_COLUMNS, read_table
from aecompare.errors import ConfigError, DataError, DataNotFoundError
from aecompare.models import build_model
from aecompare.scoring import score
from aecompare.studies.grid.spec import load_spec
from aecompare.train.loop import TrainConfig, fit
from conftest import run_cli

ODDS = {"cardio": (1831, 21, 176), "thyroid": (3772, 6, 93), "annthyroid": (7200, 6, 534),
        "mammography": (11183, 6, 260), "satellite": (6435, 36, 2036), "shuttle": (49097, 9, 3511)}


def write_creditcard(path: Path, n_normal: int = 300, n_fraud: int = 12, seed: int = 0) -> Path:
    """A small file in the Kaggle schema and quoting: quoted header, quoted "0"/"1" labels; frauds lie off the
    normal rows' 3-d subspace."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, 30))
    normal = rng.normal(size=(n_normal, 3)) @ basis + 0.05 * rng.normal(size=(n_normal, 30))
    fraud = 3.0 * rng.normal(size=(n_fraud, 30))
    x = np.concatenate([normal, fraud])
    y = np.repeat([0, 1], [n_normal, n_fraud])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(",".join(f'"{c}"' for c in CREDITCARD_COLUMNS) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.6f}" for v in row) + f',"{label}"\n')
    return path


def gaussian_decoder_vae(features: int = 2, latent: int = 1) -> torch.nn.Module:
    return build_model("fiorino-vae", (features,), hidden=(4,), latent_dim=latent)


def pin(model: torch.nn.Module, mu: float, logvar: float, weight: list[float], mean_bias: list[float],
        var_bias: list[float]) -> None:
    """Fix q(z|x) = N(mu, exp(logvar)) for every x, and the decoder to mean = weight * z + mean_bias (through an
    identity path) with log-variance var_bias, by setting weights by hand."""
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.bottleneck.mu.bias.fill_(mu)
        model.bottleneck.logvar.bias.fill_(logvar)
        first, last = model.decoder.net[0], model.decoder.net[-1]  # z -> hidden (4) -> ... -> 2D outputs
        # hidden unit 0 carries z + 10 (positive, so LeakyReLU passes it unchanged); the rest stay 0
        first.weight[0, 0], first.bias[0] = 1.0, 10.0
        d = len(mean_bias)
        last.weight[:d, 0] = torch.tensor(weight)
        last.bias[:d] = torch.tensor(mean_bias) - 10.0 * torch.tensor(weight)
        last.bias[d:] = torch.tensor(var_bias)


# --- reconstruction probability --------------------------------------------------------------------------


def test_reconstruction_probability_of_a_fixed_decoder_is_its_gaussian_log_likelihood() -> None:
    model = gaussian_decoder_vae()
    pin(model, mu=0.3, logvar=0.0, weight=[0.0, 0.0], mean_bias=[1.0, -2.0], var_bias=[math.log(0.25), 0.0])
    x = torch.tensor([[1.5, -2.0], [0.0, 1.0]])
    # by hand: -log N(x | (1, -2), diag(0.25, 1)), whatever z is drawn
    expected = [0.5 * math.log(2 * math.pi * 0.25) + 0.5 ** 2 / (2 * 0.25) + 0.5 * math.log(2 * math.pi),
                0.5 * math.log(2 * math.pi * 0.25) + 1.0 / (2 * 0.25) + 0.5 * math.log(2 * math.pi) + 9.0 / 2]
    np.testing.assert_allclose(score(model, x, "reconstruction_probability", n_samples=7), expected, rtol=1e-6)


def test_reconstruction_probability_averages_likelihoods_over_the_posterior() -> None:
    # z ~ N(0.5, 0.8^2), x | z ~ N(2z + 1, 0.3^2)  =>  the mean over z of the likelihood is N(x | 2, 4 * 0.64 + 0.09)
    model = gaussian_decoder_vae(features=1)
    pin(model, mu=0.5, logvar=math.log(0.64), weight=[2.0], mean_bias=[1.0], var_bias=[math.log(0.09)])
    x = torch.tensor([[2.0], [3.0], [0.5]])
    variance = 4 * 0.64 + 0.09
    exact = [0.5 * math.log(2 * math.pi * variance) + (v - 2.0) ** 2 / (2 * variance) for v in (2.0, 3.0, 0.5)]
    estimate = score(model, x, "reconstruction_probability", n_samples=20000)
    np.testing.assert_allclose(estimate, exact, atol=0.02)
    # one sample is not the average: the log-mean-exp over L samples is what makes the estimate right
    assert np.abs(score(model, x, "reconstruction_probability", n_samples=1) - exact).max() > 0.05


def test_reconstruction_probability_is_deterministic_per_seed_and_independent_of_batching() -> None:
    torch.manual_seed(0)
    model = build_model("fiorino-vae", (30,))
    x = torch.randn(200, 30)
    a = score(model, x, "reconstruction_probability", seed=3)
    np.testing.assert_array_equal(a, score(model, x, "reconstruction_probability", seed=3))
    assert not np.array_equal(a, score(model, x, "reconstruction_probability", seed=4))
    np.testing.assert_allclose(a[50:60], score(model, x[50:60], "reconstruction_probability", seed=3,
                                                batch_size=3), rtol=1e-6)


def test_reconstruction_probability_refuses_models_without_a_posterior_or_a_variance() -> None:
    x = torch.randn(4, 6)
    with pytest.raises(ConfigError, match="needs a VAE with a Gaussian decoder"):
        score(build_model("fiorino-ae", (6,)), x, "reconstruction_probability")
    with pytest.raises(ConfigError, match="needs a VAE with a Gaussian decoder"):
        score(build_model("vae", (6,)), x, "reconstruction_probability")
    with pytest.raises(ConfigError, match="no post-processing"):
        score(build_model("fiorino-vae", (6,)), x, "reconstruction_probability", postprocess="heaviside")


def test_decoder_variance_is_learned_even_under_an_rmse_loss() -> None:
    # two copies of a 1-d signal the code can carry, and independent noise of std 1 that it cannot
    g = torch.Generator().manual_seed(0)
    signal = torch.randn(2048, 1, generator=g)
    x = torch.cat([signal, signal, torch.randn(2048, 1, generator=g)], dim=1)
    torch.manual_seed(0)
    model = build_model("fiorino-vae", (3,), latent_dim=1)
    fit(model, x, None, TrainConfig(epochs=40, batch_size=128, lr=3e-3, lr_patience=0, early_stopping_patience=0),
        progress=False)
    variance = model(x).recon_logvar.exp().mean(0)
    assert 0.5 < variance[2] < 2.0  # the noise's variance, 1
    assert variance[2] > 4 * variance[:2].max()


def test_gaussian_nll_needs_a_gaussian_decoder() -> None:
    with pytest.raises(ConfigError, match="decoder_output: gaussian"):
        build_model("vae", (6,), reconstruction="gaussian_nll")
    model = build_model("vae", (6,), reconstruction="gaussian_nll", decoder_output="gaussian")
    out = model(torch.randn(3, 6))
    assert out.recon_logvar.shape == out.recon.shape == (3, 6)


# --- tables -----------------------------------------------------------------------------------------------


def test_creditcard_csv_in_the_kaggle_quoting_loads_with_all_30_features(tmp_path: Path) -> None:
    write_creditcard(tmp_path / "creditcard.csv", n_normal=100, n_fraud=5)
    x, y, names = read_table(tmp_path / "creditcard.csv", "Class")
    assert x.shape == (105, 30)
    assert x.dtype == np.float32
    assert names == CREDITCARD_COLUMNS[:-1]
    assert y.sum() == 5
    data = load_dataset("creditcard", tmp_path, test_fraction=0.3, seed=1)
    assert data.x_train.shape == (70, 30)
    assert (data.y_train == 0).all()
    assert data.y_test.sum() == 5
    assert len(data.y_test) == 35
    # no row is in both partitions
    assert not set(map(bytes, data.x_train)) & set(map(bytes, data.x_test))


def test_creditcard_also_found_in_its_own_folder_and_schema_is_checked(tmp_path: Path) -> None:
    write_creditcard(tmp_path / "creditcard" / "creditcard.csv", n_normal=20, n_fraud=2)
    assert load_dataset("creditcard", tmp_path).x_train.shape[1] == 30
    (tmp_path / "creditcard" / "creditcard.csv").write_text("Time,V1,Class\n0,1,0\n")
    with pytest.raises(DataError, match="credit-card schema"):
        load_dataset("creditcard", tmp_path)


def test_missing_creditcard_says_where_it_looked_and_what_to_get(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("creditcard", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "creditcard.csv") in message
    assert "kaggle.com/mlg-ulb/creditcardfraud" in message
    assert "Time, V1..V28, Amount, Class" in message


def test_npz_mat_and_csv_tables_read_alike(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = (rng.random(40) < 0.2).astype(int)
    np.savez(tmp_path / "t.npz", X=x, y=y)
    savemat(tmp_path / "t.mat", {"X": x.astype(np.float64), "y": y[:, None].astype(np.float64)})  # ODDS: y is (N, 1)
    with open(tmp_path / "t.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "is_anomaly", "b", "c", "d", "e"])
        for row, label in zip(x, y):
            writer.writerow([row[0], label, *row[1:]])
    for name, label in (("t.npz", "label"), ("t.mat", "label"), ("t.csv", "is_anomaly")):
        got_x, got_y, _ = read_table(tmp_path / name, label)
        np.testing.assert_allclose(got_x, x, rtol=1e-6)
        np.testing.assert_array_equal(got_y, y)


@pytest.mark.parametrize(("content", "message"), [
    ("a,b\n1,0\n", "no label column 'label'; the columns are: a, b"),
    ("a,label\n1,2\n", r"labels must be 0 \(normal\) or 1 \(anomaly\), found \[2.0\]"),
    ("a,label\nx,0\n", "every value must be a number"),
])
def test_bad_csv_tables_are_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        read_table(tmp_path / "bad.csv")


def test_npz_without_y_and_unknown_formats_are_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "t.npz", X=np.zeros((3, 2)))
    with pytest.raises(DataError, match="no array 'y'"):
        read_table(tmp_path / "t.npz")
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="unknown table format '.parquet'"):
        read_table(tmp_path / "t.parquet")


def test_tabular_finds_adbench_names_and_lists_the_tables_there(tmp_path: Path) -> None:
    (tmp_path / "tabular").mkdir()
    np.savez(tmp_path / "tabular" / "6_cardio.npz", X=np.arange(40.0).reshape(20, 2), y=[0] * 16 + [1] * 4)
    data = load_dataset("tabular", tmp_path, table="cardio", test_fraction=0.25)
    assert data.name == "cardio"
    assert len(data.x_train) == 12
    assert data.y_test.sum() == 4
    with pytest.raises(DataNotFoundError, match="no table 'cardo'.*tables there: cardio"):
        load_dataset("tabular", tmp_path, table="cardo")


@pytest.mark.parametrize("table", sorted(ODDS))
def test_real_odds_tables(real_data_dir: Path, table: str) -> None:
    rows, features, anomalies = ODDS[table]
    if not (real_data_dir / "tabular").is_dir():
        pytest.skip(f"no tabular/ folder in {real_data_dir}")
    data = load_dataset("tabular", real_data_dir, table=table)
    assert data.x_train.shape[1] == features
    assert len(data.x_train) + len(data.x_test) == rows
    assert data.y_test.sum() == anomalies


def test_table_source_reads_any_file(tmp_path: Path) -> None:
    (tmp_path / "mine.csv").write_text("f1,f2,bad\n" + "".join(f"{i},{i * 2},{int(i >= 18)}\n" for i in range(20)))
    data = load_dataset("table", tmp_path, path="mine.csv", label="bad")  # relative to the data directory
    assert data.x_train.shape[1] == 2
    assert data.y_test.sum() == 2


# --- experiments ------------------------------------------------------------------------------------------


def test_fiorino_fraud_without_the_file_fails_clearly(tmp_path: Path) -> None:
    code, _, err = run_cli(["run", "fiorino-fraud", "--data-dir", str(tmp_path), "-o", str(tmp_path / "runs"),
                            "-q"])
    assert code == 2
    assert "creditcard.csv not found" in err
    assert "Traceback" not in err


def test_fiorino_fraud_runs_on_a_file_of_the_real_schema(tmp_path: Path) -> None:
    write_creditcard(tmp_path / "data" / "creditcard.csv")
    code, out, _ = run_cli(["run", "fiorino-fraud", "--data-dir", str(tmp_path / "data"), "-o", str(tmp_path / "runs"),
                            "--set", "train.epochs=3", "--set", "evaluation.n_samples=10", "--workers", "1", "-q"])
    assert code == 0
    folder = tmp_path / "runs" / "fiorino-fraud"
    with open(folder / "results.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["group"] == "all"]
    assert {r["model"] for r in rows} == {"AE", "VAE-error", "VAE-recprob"}
    for r in rows:
        assert int(r["tp"]) + int(r["fn"]) == 12
        assert int(r["tp"]) + int(r["fp"]) + int(r["tn"]) + int(r["fn"]) == 102
    # the frauds are off the normal subspace: every scoring finds them
    assert min(float(r["auroc"]) for r in rows) > 0.9
    report = (folder / "report.md").read_text()
    assert "99th percentile" in report
    assert "| TP | FP | TN | FN |" in report
    assert (folder / "figures" / "creditcard-scores.png").exists()


def test_scores_of_one_model_share_one_training(tmp_path: Path) -> None:
    (tmp_path / "data" / "tabular").mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(200, 4)), 4 + rng.normal(size=(20, 4))])
    np.savez(tmp_path / "data" / "tabular" / "toy.npz", X=x, y=np.repeat([0, 1], [200, 20]))
    spec = tmp_path / "toy.yaml"
    spec.write_text("extends: tabular\ndatasets:\n  - {name: tabular, label: toy, normal: normal, "
                    "params: {table: toy}}\n")
    code, _, _ = run_cli(["run", str(spec), "--data-dir", str(tmp_path / "data"), "-o", str(tmp_path / "runs"),
                          "--set", "train.epochs=2", "--set", "evaluation.n_samples=5", "--seeds", "1", "-q"])
    assert code == 0
    run = tmp_path / "runs" / "tabular" / "toy"
    error, recprob = (json.loads((run / m / "normal-normal" / "seed-0" / "metrics.json").read_text())
                      for m in ("VAE-error", "VAE-recprob"))
    assert error["train_seconds"] == recprob["train_seconds"]  # one training, two scorings
    assert (error["score"], recprob["score"]) == ("mse", "reconstruction_probability")
    assert (run / "VAE-error" / "normal-normal" / "seed-0" / "history.json").read_text() == (
        run / "VAE-recprob" / "normal-normal" / "seed-0" / "history.json").read_text()
    error_scores, recprob_scores = (np.load(run / m / "normal-normal" / "seed-0" / "scores.npz")["test_scores"]
                                    for m in ("VAE-error", "VAE-recprob"))
    assert not np.allclose(error_scores, recprob_scores)


def test_tabular_spec_compares_three_scorings_on_six_tables() -> None:
    spec = load_spec("tabular")
    assert [(m.label, spec.score_of(m)) for m in spec.models] == [
        ("AE", "mse"), ("VAE-error", "mse"), ("VAE-recprob", "reconstruction_probability")]
    assert sorted(d.key for d in spec.datasets) == sorted(ODDS)
    assert spec.seeds == (0, 1, 2)


def test_unknown_model_score_and_duplicate_dataset_names_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown score 'recprob'; choose one of: kl, loss, mae, mse"):
        load_spec("tabular", ["models.2.score=recprob"])
    with pytest.raises(ConfigError, match="datasets must have distinct names"):
        load_spec("tabular", ["datasets.1.label=cardio"])


def test_detector_scores_by_reconstruction_probability(table_data) -> None:
    from sklearn.metrics import roc_auc_score

    from aecompare import Detector

    normal, anomalous = table_data
    det = Detector(model="fiorino-vae", score="reconstruction_probability", epochs=30, random_state=0).fit(normal)
    x_test = np.concatenate([normal[:30], anomalous])
    scores = det.decision_function(x_test)
    np.testing.assert_array_equal(scores, det.decision_function(x_test))  # no fresh sampling per call
    assert roc_auc_score(np.repeat([0, 1], [30, len(anomalous)]), scores) > 0.9


def test_kl_and_loss_scores_are_the_models_own_terms_per_sample() -> None:
    from aecompare.train.losses import gaussian_kl

    torch.manual_seed(0)
    vae = build_model("vae", (6,)).eval()
    x = torch.randn(10, 6)
    with torch.no_grad():
        out = vae(x)
        kl = gaussian_kl(out.mu, out.logvar).double().numpy()
        squared = (out.recon - x).pow(2).sum(1).double().numpy()
    np.testing.assert_allclose(score(vae, x, "kl"), kl, rtol=1e-6)
    np.testing.assert_allclose(score(vae, x, "loss"), squared + kl, rtol=1e-5)  # the negative ELBO, beta 1
    ae = build_model("ae", (6,)).eval()
    np.testing.assert_allclose(score(ae, x, "loss"), 6 * score(ae, x, "mse"), rtol=1e-5)  # summed, not averaged
    with pytest.raises(ConfigError, match="the kl score needs a VAE"):
        score(ae, x, "kl")
