"""aecompare: train, compare and look inside classical, variational and adversarial autoencoders
for anomaly detection on images and tables."""

__version__ = "0.2.0"

from aecompare.detector import Detector  # noqa: E402
from aecompare.models import available_models, build_model  # noqa: E402

__all__ = ["Detector", "__version__", "available_models", "build_model"]
