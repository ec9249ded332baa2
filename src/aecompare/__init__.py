"""aecompare: train, compare and look inside classical, variational and adversarial autoencoders
for anomaly detection on images and tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aecompare.version import __version__

if TYPE_CHECKING:
    from aecompare.detector import Detector
    from aecompare.models import available_models, build_model

__all__ = ["Detector", "__version__", "available_models", "build_model"]

# Imported on first use (PEP 562): `import aecompare` and `aecompare --version` need no torch.
_LAZY = {"Detector": "aecompare.detector", "available_models": "aecompare.models", "build_model": "aecompare.models"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aecompare' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
