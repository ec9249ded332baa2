"""Networks: backbones, bottlenecks, the composed autoencoder and the registry of named models."""

from aecompare.models.autoencoder import Autoencoder, AutoencoderOutput
from aecompare.models.bottlenecks import BottleneckOutput
from aecompare.models.config import ModelConfig
from aecompare.models.registry import (
    MODELS,
    available_models,
    build_from_config,
    build_model,
    config_to_dict,
    model_config,
)
from aecompare.models.serialization import load_model, save_model

__all__ = [
    "MODELS",
    "Autoencoder",
    "AutoencoderOutput",
    "BottleneckOutput",
    "ModelConfig",
    "available_models",
    "build_from_config",
    "build_model",
    "config_to_dict",
    "load_model",
    "model_config",
    "save_model",
]
