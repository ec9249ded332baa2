"""Looks inside a trained model: the bottleneck sweep and its flip points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecompare.errors import ConfigError
from aecompare.inspection import bottleneck_sweep, decoder_linears, output_logit
from aecompare.models import build_model


def test_sweep_finds_where_each_output_flips():
    model = build_model("patuzzo-a1", (1, 2, 2))
    with torch.no_grad():  # L3 = relu(z), relu(-z); output d's logit = a_d relu(z) + c_d relu(-z) + b_d
        l3, l4 = decoder_linears(model)
        l3.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        l3.bias.zero_()
        l4.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [2.0, 2.0]]))
        l4.bias.copy_(torch.tensor([-1.0, -2.0, 0.5, -1.0]))
    sweep = bottleneck_sweep(model, -4.0, 4.0, steps=801)
    # output 1 flips at z = 1, output 2 at z = -2, output 3 at z = 0.5, output 4 at z = -0.5 and 0.5
    expected = [[1.0], [-2.0], [0.5], [-0.5, 0.5]]
    for found, want in zip(sweep.flips, expected):
        np.testing.assert_allclose(found, want, atol=1e-2)
    np.testing.assert_allclose(output_logit(model, np.array([2.0]), 0), [1.0], atol=1e-6)
    with pytest.raises(ConfigError, match="unit"):
        bottleneck_sweep(model, -1.0, 1.0, unit=1)
