"""Optimizers and learning-rate schedules, per step, with a state that is one integer.

The schedule is a pure function of the step, applied to every parameter group's own base rate, so
discriminative learning rates (lower for earlier stages when fine-tuning) follow the same curve, and a
resumed run needs nothing but the step count to continue the curve exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convarch.errors import ConfigError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "constant")
# OneCycle (Smith & Topin 2017) starts at lr / 25 and ends at lr / (25 * 1e4): PyTorch's OneCycleLR defaults.
ONECYCLE_START, ONECYCLE_END = 1 / 25, 1 / 25e4
ONECYCLE_RISE = 0.25  # fraction of training spent rising when no warmup is given


def param_groups(model: nn.Module, weight_decay: float, lr: float) -> list[dict[str, Any]]:
    """Two groups: weight decay on weights, none on biases and normalisation parameters (1-D tensors)."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay, "lr": lr},
        {"params": no_decay, "weight_decay": 0.0, "lr": lr},
    ]


def make_optimizer(groups: list[dict[str, Any]], name: str, lr: float, momentum: float) -> torch.optim.Optimizer:
    groups = [g for g in groups if g["params"]]
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    # The fused kernels update every tensor in one call: for a small network the per-tensor Python loop
    # of the default implementation costs as much as the forward pass.
    for fast in ({"fused": True}, {"foreach": True}, {}):
        try:
            if name == "sgd":
                return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0, **fast)
            return torch.optim.AdamW(groups, lr=lr, **fast)
        except (RuntimeError, ValueError):
            continue
    raise AssertionError("unreachable: the plain optimizer always builds")


def match_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (momentum, Adam's moments) its parameter's memory layout.

    A resumed run reads its optimizer state from a file, where every tensor is contiguous, while a
    channels_last model's conv weights are not. CUDA's fused SGD/AdamW kernels require the parameters, their
    gradients and their state to have the same strides, and refuse the step otherwise (seen on an H100:
    resume after a kill failed with "check_fast_path_restrictions"). Copying each state tensor into
    ``empty_like(param)`` keeps its values and takes the parameter's strides.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


@dataclass(frozen=True)
class Schedule:
    """The factor applied to each group's base learning rate at each step."""

    kind: str
    total_steps: int
    warmup_steps: int
    min_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.kind!r}; choose from {', '.join(SCHEDULES)}")

    def factor(self, step: int) -> float:
        step = min(step, self.total_steps)
        if self.kind == "onecycle":
            rise = self.warmup_steps or max(1, round(ONECYCLE_RISE * self.total_steps))
            if step < rise:
                return _cosine(ONECYCLE_START, 1.0, step / rise)
            return _cosine(1.0, ONECYCLE_END, (step - rise) / max(1, self.total_steps - rise))
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return _cosine(1.0, self.min_factor, progress)


def _cosine(start: float, end: float, progress: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * min(1.0, progress))) / 2


class StepScheduler:
    """Sets every group's ``lr`` to ``base_lr * schedule.factor(step)``; call ``step()`` after each update."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule) -> None:
        self.optimizer, self.schedule, self.step_count = optimizer, schedule, 0
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
        self._apply()

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def _apply(self) -> None:
        factor = self.schedule.factor(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor

    @property
    def lr(self) -> float:
        """The rate of the group with the highest base rate (the head's, when rates are discriminative)."""
        return max(group["lr"] for group in self.optimizer.param_groups)

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step_count}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step_count = int(state["step"])
        self._apply()
