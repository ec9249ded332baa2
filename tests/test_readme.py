"""The README's and the docs' Python snippets are the library's spec: run them on small data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_snippets_run(page: Path, tmp_path, monkeypatch, table_data) -> None:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    monkeypatch.chdir(tmp_path)  # snippets save detectors in the working folder
    normal, anomalous = table_data
    images = torch.rand(48, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    namespace = {
        "X_train": normal,
        "X_test": np.concatenate([normal[:20], anomalous]),
        "x_train": images[:32],
        "x_val": images[32:40],
        "x_test": images[40:],
        "X": np.concatenate([normal, anomalous]),  # labelled data, normal rows first (docs/library.md's search)
        "y": np.repeat([0, 1], [len(normal), len(anomalous)]),
    }
    for code in blocks:
        exec(compile(code, str(page), "exec"), namespace)
    if "labels" in namespace:
        assert namespace["labels"].shape == (50,)
        assert (tmp_path / "my_detector" / "model.safetensors").exists()
    if "search" in namespace:
        assert namespace["search"].best_score_ > 0.9  # shuffled folds: AUROC is defined and finds the anomalies
    if "maps" in namespace:
        assert namespace["maps"].shape == (8, 1, 28, 28)


def test_the_readme_is_short_and_its_links_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 8 * 1024
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / target).exists(), target
    assert len(re.findall(r"```python\n", readme)) == 1
