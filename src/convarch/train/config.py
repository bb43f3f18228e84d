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
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convarch.analysis.measure import check_threads
from convarch.data.augment import parse_augment
from convarch.errors import ConfigError, advising
from convarch.train.distributed import DEVICES
from convarch.train.schedule import OPTIMIZERS, SCHEDULES

if TYPE_CHECKING:
    import torch

DEFAULT_LR = {"adamw": 2e-3, "sgd": 0.1}
REFERENCE_BATCH = 64
DEFAULT_WEIGHT_DECAY = {"adamw": 0.05, "sgd": 5e-4}


DECODERS = ("cpu", "gpu")
# torch.compile's modes: "reduce-overhead" adds CUDA graphs, which pay on small networks (launch-bound)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")
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
    # None: on for a GPU, off on the CPU (``for_device`` decides once the device is known)
    amp: bool | None = None
    channels_last: bool | None = None
    cudnn_benchmark: bool | None = None
    compile: bool = False
    compile_mode: str = "default"
    clip_grad: float | None = None
    ema: bool = False
    ema_decay: float = 0.998
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads; None: 1 for a small network on the CPU (threads.py)
    num_workers: int | None = None  # None: the CPUs available on a GPU run, 0 (the main process) on the CPU
    decode: str = "cpu"  # where a folder streamed from disk is decoded: "cpu" (PIL in workers) or "gpu" (nvJPEG)
    labels_per_class: int | None = None
    val_fraction: float | None = None
    split_seed: int = 0
    cache: bool | None = None  # hold an image folder in memory (default: when it fits in 1 GiB)

    def __post_init__(self) -> None:
        self.optimizer = self.optimizer.lower()
        self.schedule = self.schedule.lower()
        # (the option, whether it is valid, the message): each message names the option in the API's words.
        checks = [
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1,
             f"epochs must be at least 1, got {self.epochs}"),
            ("batch_size", self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}"),
            ("optimizer", self.optimizer in OPTIMIZERS,
             f"unknown optimizer {self.optimizer!r}; choose {' or '.join(OPTIMIZERS)}"),
            ("schedule", self.schedule in SCHEDULES,
             f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}"),
            ("lr", self.lr is None or (math.isfinite(self.lr) and self.lr > 0),
             f"the learning rate must be a positive finite number, got {self.lr}"),
            ("weight_decay", self.weight_decay is None or self.weight_decay >= 0, "weight decay must be >= 0"),
            ("warmup", 0 <= self.warmup < self.epochs,
             f"warmup ({self.warmup} epochs) must be >= 0 and < epochs ({self.epochs})"),
            ("label_smoothing", 0 <= self.label_smoothing < 1,
             f"label smoothing must be in [0, 1), got {self.label_smoothing}"),
            ("clip_grad", self.clip_grad is None or self.clip_grad > 0,
             f"clip_grad must be positive, got {self.clip_grad}"),
            ("ema_decay", 0 < self.ema_decay < 1, f"the EMA decay must be in (0, 1), got {self.ema_decay}"),
            ("device", self.device in DEVICES, f"unknown device {self.device!r}; choose from {', '.join(DEVICES)}"),
            ("num_workers", self.num_workers is None or self.num_workers >= 0,
             f"num_workers must be >= 0, got {self.num_workers}"),
            ("decode", self.decode in DECODERS, f"unknown decode {self.decode!r}; choose {' or '.join(DECODERS)}"),
            ("compile_mode", self.compile_mode in COMPILE_MODES,
             f"unknown compile_mode {self.compile_mode!r}; choose from {', '.join(COMPILE_MODES)}"),
            ("compile", self.compile or self.compile_mode == "default",
             f"compile_mode {self.compile_mode} applies to a compiled run only; add compile, or leave compile_mode "
             "out"),
            ("seed", 0 <= self.seed <= MAX_SEED,
             f"seed must be from 0 to {MAX_SEED:,} (torch's range), got {self.seed}"),
            ("split_seed", 0 <= self.split_seed <= MAX_SEED,
             f"split_seed must be from 0 to {MAX_SEED:,} (torch's range), got {self.split_seed}"),
            ("val_fraction", self.val_fraction is None or 0 < self.val_fraction < 1,
             f"val_fraction must be between 0 and 1 (exclusive), got {self.val_fraction}: the run keeps the best "
             "checkpoint by its held-out accuracy, so it needs held-out images; leave it out for 0.2, or give a "
             "folder with train/ and val/ subfolders"),
        ]  # fmt: skip
        for option, ok, message in checks:
            if not ok:
                raise advising(ConfigError(message), option)
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


def available_cpus() -> int:
    """The CPUs this process may use (its affinity mask, not the machine's count), shared among the
    processes ``torchrun`` started on this machine."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, cpus // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def for_device(config: TrainConfig, device: torch.device) -> TrainConfig:
    """The options with the device's defaults filled in where they were left out (``None``).

    On a GPU: mixed precision, channels_last, cuDNN's autotuner and one DataLoader worker per available CPU,
    what users of timm's and torchvision's reference scripts set by hand. On the CPU all stay off: there,
    bf16 is slower than fp32 without native support (``convarch.hardware``), NHWC gains nothing on small
    networks, and workers cost more than they save on a few cores.
    """
    gpu = device.type == "cuda"
    if config.decode == "gpu" and not gpu:
        message = (f"decode gpu decodes JPEGs on a GPU, but this run's device is {device.type}; use "
                   "device='cuda', or leave decode out to decode on the CPU")  # fmt: skip
        raise advising(ConfigError(message), "decode", "device")

    def pick(value: bool | None) -> bool:
        return gpu if value is None else value

    return config.replace(
        amp=pick(config.amp),
        channels_last=pick(config.channels_last),
        cudnn_benchmark=pick(config.cudnn_benchmark),
        num_workers=(available_cpus() if gpu else 0) if config.num_workers is None else config.num_workers,
    )
