"""The options of a training run, with defaults that work on small data on a CPU, and their checks.

The names follow the reference scripts of torchvision and timm where they overlap (``--lr``,
``--label-smoothing``, ``--clip-grad``, ``--ema``, ``--amp``, ``--channels-last``). ``None`` means "the
default for this optimizer": SGD (Nesterov momentum 0.9) takes lr 0.1 per 64 images of batch (the linear
scaling rule, Goyal et al. 2017 §2.1) and weight decay 5e-4; AdamW takes 2e-3 scaled by the square root of
batch/64 (the rule timm applies to adaptive optimizers) and weight decay 0.05. The defaults (SGD, batch 64,
one-cycle, 30 epochs, label smoothing 0.1, pad-crop on digits) train LeNet-5 to 99% on mnist5k in ~20 s
(20 epochs gave the same mean but a worst seed of 98.3% over 8 seeds; 30 gave a worst of 98.6%).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from convarch.analysis.measure import check_threads
from convarch.data.augment import parse_augment
from convarch.errors import ConfigError
from convarch.train.distributed import DEVICES
from convarch.train.schedule import OPTIMIZERS, SCHEDULES

DEFAULT_LR = {"adamw": 2e-3, "sgd": 0.1}
REFERENCE_BATCH = 64
DEFAULT_WEIGHT_DECAY = {"adamw": 0.05, "sgd": 5e-4}


MAX_SEED = 2**63 - 1  # torch.manual_seed takes a 64-bit integer; more overflowed with a traceback


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float | None = None
    optimizer: str = "sgd"
    weight_decay: float | None = None
    momentum: float = 0.9
    schedule: str = "onecycle"
    warmup: float = 0.0  # epochs; for onecycle, the rising part (default a quarter of the run)
    label_smoothing: float = 0.1
    augment: str | None = None  # None: the dataset's own (pad-crop for digits, flip + crop for photos)
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    clip_grad: float | None = None
    ema: bool = False
    ema_decay: float = 0.998
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads; None: 1 for a small network on the CPU (threads.py)
    num_workers: int = 0
    labels_per_class: int | None = None
    val_fraction: float | None = None
    split_seed: int = 0
    cache: bool | None = None  # hold an image folder in memory (default: when it fits in 1 GiB)

    def __post_init__(self) -> None:
        self.optimizer = self.optimizer.lower()
        self.schedule = self.schedule.lower()
        checks = [
            (isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}"),
            (self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; choose {' or '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}"),
            (self.lr is None or self.lr > 0, f"the learning rate must be positive, got {self.lr}"),
            (self.weight_decay is None or self.weight_decay >= 0, "weight decay must be >= 0"),
            (
                0 <= self.warmup < self.epochs,
                f"warmup ({self.warmup} epochs) must be >= 0 and < epochs ({self.epochs})",
            ),
            (0 <= self.label_smoothing < 1, f"label smoothing must be in [0, 1), got {self.label_smoothing}"),
            (self.clip_grad is None or self.clip_grad > 0, f"--clip-grad must be positive, got {self.clip_grad}"),
            (0 < self.ema_decay < 1, f"the EMA decay must be in (0, 1), got {self.ema_decay}"),
            (self.device in DEVICES, f"unknown device {self.device!r}; choose from {', '.join(DEVICES)}"),
            (self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}"),
            (0 <= self.seed <= MAX_SEED, f"--seed must be from 0 to {MAX_SEED:,} (torch's range), got {self.seed}"),
            (
                0 <= self.split_seed <= MAX_SEED,
                f"--split-seed must be from 0 to {MAX_SEED:,} (torch's range), got {self.split_seed}",
            ),
            (
                self.val_fraction is None or 0 < self.val_fraction < 1,
                f"--val-fraction must be between 0 and 1 (exclusive), got {self.val_fraction}: the run keeps the "
                "best checkpoint by its held-out accuracy, so it needs held-out images; leave it out for 0.2, or "
                "give a folder with train/ and val/ subfolders",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.threads is not None:
            check_threads(self.threads)  # bench's cap: 100,000 threads killed the process without a message
        parse_augment(self.augment)  # an unknown name fails now, not after the data is loaded

    @property
    def base_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        ratio = self.batch_size / REFERENCE_BATCH
        return DEFAULT_LR[self.optimizer] * (ratio if self.optimizer == "sgd" else ratio**0.5)

    @property
    def decay(self) -> float:
        return self.weight_decay if self.weight_decay is not None else DEFAULT_WEIGHT_DECAY[self.optimizer]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        try:
            return cls(**values)
        except TypeError as error:  # a value of the wrong type, e.g. from an edited config.json
            raise ConfigError(f"a training option has a value of the wrong type: {error}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)
