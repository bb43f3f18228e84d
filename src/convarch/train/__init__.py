"""Training and fine-tuning: the trainer, checkpoints and exact resume, distributed data parallel."""

from convarch.train.config import TrainConfig
from convarch.train.finetune import finetune
from convarch.train.inference import evaluate, predict
from convarch.train.run import train
from convarch.train.trainer import TrainingDiverged, TrainResult

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "evaluate", "finetune", "predict", "train"]
