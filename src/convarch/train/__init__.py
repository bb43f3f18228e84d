"""Training and fine-tuning: the trainer, checkpoints and resume, distributed data parallel."""

from convarch.train.config import TrainConfig
from convarch.train.run import train
from convarch.train.trainer import TrainingDiverged, TrainResult

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "train"]
