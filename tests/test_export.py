"""ONNX export: onnxruntime's scores and error maps equal the Detector's, for tables and images, every bottleneck."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aecompare import Detector
from aecompare.errors import ConfigError
from conftest import run_cli

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed; pip install 'aecompare[onnx]'")
pytest.importorskip("onnxscript", reason="onnxscript is not installed; pip install 'aecompare[onnx]'")


def _onnx_scores(path: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score, error_map = ort.InferenceSession(str(path)).run(None, {"x": x})
    return score, error_map


@pytest.mark.parametrize("bottleneck", ["ae", "vae", "aae"])
@pytest.mark.parametrize("kind", ["table", "image"])
def test_onnxruntime_scores_as_the_detector_does(bottleneck: str, kind: str, tmp_path: Path, table_data) -> None:
    if kind == "table":
        x = np.concatenate(table_data)
        model, params = f"mlp-{bottleneck}", {"hidden": (8,), "latent_dim": 2}
    else:
        x = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
        model, params = f"conv-{bottleneck}", {"channels": (4, 8), "latent_dim": 3}
    det = Detector(model, epochs=2, random_state=0, model_params=params, scorer="mse").fit(x[:30])
    path = det.to_onnx(tmp_path / "model.onnx")
    score, error_map = _onnx_scores(path, x.astype(np.float32))
    np.testing.assert_allclose(score, det.decision_function(x), atol=1e-5, rtol=1e-5)
    assert error_map.shape == x.shape
    np.testing.assert_allclose(error_map.reshape(len(x), -1).mean(1), score, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("model", ["mlp-ae", "mlp-vae"])
def test_the_default_latent_knn_score_exports_with_its_training_codes(model: str, tmp_path: Path, table_data) -> None:
    x = np.concatenate(table_data)
    det = Detector(model, epochs=2, random_state=0, model_params={"hidden": (8,), "latent_dim": 2}).fit(x[:200])
    assert det.scorer_ == "latent_knn"  # the default
    score, error_map = _onnx_scores(det.to_onnx(tmp_path / "model.onnx"), x.astype(np.float32))
    np.testing.assert_allclose(score, det.decision_function(x), atol=1e-5, rtol=1e-5)
    assert error_map.shape == x.shape


def test_the_export_command_writes_a_run_as_onnx(tmp_path: Path, table_data) -> None:
    det = Detector("mlp-ae", epochs=2, random_state=0).fit(table_data[0])
    det.save(tmp_path / "saved")
    code, out, err = run_cli(["export", str(tmp_path / "saved"), "--format", "onnx"])
    assert code == 0, err
    assert out.strip() == str(tmp_path / "saved" / "model.onnx")
    score, _ = _onnx_scores(tmp_path / "saved" / "model.onnx", table_data[1])
    np.testing.assert_allclose(score, det.decision_function(table_data[1]), atol=1e-5, rtol=1e-5)
    # -o writes one self-contained file where asked; -q leaves the path as the only output, no exporter chatter
    code, out, err = run_cli(["export", str(tmp_path / "saved"), "-o", str(tmp_path / "out" / "det.onnx"), "-q"])
    assert code == 0, err
    assert (out, err) == (f"{tmp_path / 'out' / 'det.onnx'}\n", "")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["det.onnx"]  # no det.onnx.data beside it
    score, _ = _onnx_scores(tmp_path / "out" / "det.onnx", table_data[1])
    np.testing.assert_allclose(score, det.decision_function(table_data[1]), atol=1e-5, rtol=1e-5)


def test_a_sampling_scorer_is_refused_clearly(tmp_path: Path, table_data) -> None:
    det = Detector("fiorino-vae", epochs=1, random_state=0, scorer="reconstruction_probability").fit(table_data[0])
    with pytest.raises(ConfigError, match="refit it with scorer='mse' to export"):
        det.to_onnx(tmp_path / "m.onnx")
