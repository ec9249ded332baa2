"""ONNX export of a fitted detector: one graph from the raw input to the per-sample score and the error map,
the input scaling inside, so onnxruntime (or any ONNX runtime) scores as the Detector does."""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aecompare.core.io import atomic_write_bytes, refuse_planted
from aecompare.data import Scaler
from aecompare.errors import ConfigError
from aecompare.models import Autoencoder
from aecompare.scoring import KNN_NEIGHBOURS

# deterministic scores; the others sample or need the loss terms. latent_knn carries the normal training codes.
EXPORTABLE_SCORERS = ("mse", "mae", "latent_knn")


class ScoringGraph(nn.Module):
    """Raw input (N, *input_shape) -> (score (N,), error map (N, *input_shape)), as ``Detector.decision_function``
    computes them: scaling, the posterior mean's reconstruction, optional Heaviside, squared or absolute error;
    for ``latent_knn`` the score is the mean distance of the posterior mean to its 5 nearest ``reference`` codes
    (computed in float64, as the Detector does), the error map the squared error."""

    def __init__(
        self,
        model: Autoencoder,
        scaler: Scaler,
        scorer: str,
        postprocess: str = "none",
        bytes_input: bool = False,
        reference: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if scorer not in EXPORTABLE_SCORERS:
            raise ConfigError(
                f"ONNX export computes the {' and '.join(EXPORTABLE_SCORERS)} scores; this detector "
                f"scores by {scorer!r}, which samples or needs the training loss or codes: refit it with "
                "scorer='mse' to export"
            )
        self.model, self.kind, self.scorer, self.postprocess = model.eval(), scaler.kind, scorer, postprocess
        self.bytes_input = bytes_input
        self.register_buffer("offset", torch.as_tensor(np.asarray(scaler.offset, dtype=np.float32)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scaler.scale, dtype=np.float32)))
        if scorer == "latent_knn":
            if reference is None or len(reference) < 2:
                raise ConfigError("ONNX export of a latent_knn detector needs its normal training codes; refit it")
            self.register_buffer("reference", torch.as_tensor(np.asarray(reference, dtype=np.float64)))  # (M, L)

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """The Scaler's transform, in the graph."""
        x = x.float() / 255.0 if self.bytes_input else x.float()
        if self.kind == "none":
            return x
        if self.kind == "gcn-minmax":  # per image: subtract its mean, divide by its mean absolute deviation
            dims = tuple(range(1, x.dim()))
            centred = x - x.mean(dim=dims, keepdim=True)
            contrast = centred.abs().mean(dim=dims, keepdim=True)
            x = centred / torch.where(contrast > 1e-8, contrast, torch.ones_like(contrast))
        return (x - self.offset) / self.scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xs = self.scaled(x)
        out = self.model(xs, sample=False)
        recon = out.recon
        if self.postprocess == "heaviside":
            recon = (recon > 0.5).to(recon.dtype)  # the step of the logit, as scoring.heaviside
        error = (recon - xs).abs() if self.scorer == "mae" else (recon - xs).pow(2)
        if self.scorer == "latent_knn":
            return self.nearest_distance(out.mu), error
        return error.flatten(1).mean(1), error

    def nearest_distance(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, L) codes -> (N,) mean Euclidean distance to the k nearest reference codes. In float64: the expanded
        square loses a float32 code's own distance 0 to rounding (1e-4 after the root)."""
        codes = codes.double()
        squared = (
            codes.pow(2).sum(1, keepdim=True) - 2.0 * codes @ self.reference.T + self.reference.pow(2).sum(1)
        )  # (N, M)
        k = min(KNN_NEIGHBOURS, self.reference.shape[0])
        nearest = torch.topk(squared, k, dim=1, largest=False).values
        return nearest.clamp(min=0.0).sqrt().mean(1).float()


def write_onnx(
    model: Autoencoder,
    scaler: Scaler,
    scorer: str,
    score_options: dict[str, Any],
    path: str | Path,
    *,
    bytes_input: bool = False,
    reference: np.ndarray | None = None,
) -> Path:
    """Write the scoring graph of a fitted model to ``path`` (inputs ``x`` of any batch size; outputs ``score``
    and ``error_map``).

    Raises:
        ConfigError: for a scorer the graph cannot compute, or when the ``onnx`` extra is missing.
    """
    try:
        import onnx
        import onnxscript  # noqa: F401  # torch's ONNX exporter needs it
    except ImportError:
        raise ConfigError("ONNX export needs the onnx extra: pip install 'aecompare[onnx]'") from None
    postprocess = score_options.get("postprocess", "none")
    graph = ScoringGraph(model.cpu(), scaler, scorer, postprocess, bytes_input, reference).eval()
    example = torch.zeros(2, *model.input_shape, dtype=torch.uint8 if bytes_input else torch.float32)
    path = Path(path)
    refuse_planted(path)  # before minutes of exporting
    chatter = io.StringIO()  # the exporter and its optimiser print their progress
    with (
        tempfile.TemporaryDirectory() as tmp,
        warnings.catch_warnings(),
        torch.no_grad(),
        contextlib.redirect_stdout(chatter),
        contextlib.redirect_stderr(chatter),
    ):
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        staged = Path(tmp) / "model.onnx"  # the exporter writes where it is told, links included: not at `path`
        torch.onnx.export(
            graph,
            (example,),
            str(staged),
            input_names=["x"],
            output_names=["score", "error_map"],
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("n", min=1)},),
            verbose=False,
        )
        # one self-contained file (weights inside, not in a model.onnx.data beside it), written atomically
        data = onnx.load(str(staged), load_external_data=True).SerializeToString()
    atomic_write_bytes(path, data)
    return path
