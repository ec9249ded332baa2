"""aecompare: train, compare and look inside classical, variational and adversarial autoencoders
for anomaly detection on images and tables."""

from aecompare.detector import Detector
from aecompare.models import available_models, build_model
from aecompare.version import __version__

__all__ = ["Detector", "__version__", "available_models", "build_model"]
