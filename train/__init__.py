"""Training: `train(TrainConfig(...)) -> Run`, the same call as `catdog-train` makes (train/run.py)."""

from catdog.train.config import TrainConfig
from catdog.train.run import Run, train

__all__ = ["Run", "TrainConfig", "train"]
