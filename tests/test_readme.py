"""The README's Python snippets are the library's spec: run them on small data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippets_run(tmp_path, monkeypatch, table_data) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)  # the snippet saves a detector in the working folder
    normal, anomalous = table_data
    images = torch.rand(48, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    namespace = {"X_train": normal, "X_test": np.concatenate([normal[:20], anomalous]),
                 "x_train": images[:32], "x_val": images[32:40], "x_test": images[40:]}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["scores"].shape == (8,)
    assert namespace["maps"].shape == (8, 1, 28, 28)
    assert namespace["labels"].shape == (50,)
    assert (tmp_path / "my_detector" / "model.safetensors").exists()
