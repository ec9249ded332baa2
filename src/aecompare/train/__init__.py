"""Training: the loop, its steps, the losses and checkpoints."""

from aecompare.train.loop import TrainConfig, TrainResult, fit

__all__ = ["TrainConfig", "TrainResult", "fit"]
