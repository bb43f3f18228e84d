"""An exponential moving average of a model's weights (Polyak averaging), updated every step.

The decay warms up as ``min(decay, (1 + step) / (10 + step))`` so the average is not dominated by the random
initial weights in a short run (the schedule TensorFlow's ExponentialMovingAverage uses with num_updates).
Buffers (BatchNorm's running statistics) are copied, not averaged.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged = dict(self.module.named_parameters())
        for name, parameter in model.named_parameters():
            averaged[name].lerp_(parameter.detach(), 1 - decay)
        averaged_buffers = dict(self.module.named_buffers())
        for name, buffer in model.named_buffers():
            averaged_buffers[name].copy_(buffer)

    def state_dict(self) -> dict[str, object]:
        return {"weights": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.module.load_state_dict(state["weights"])  # type: ignore[arg-type]
        self.updates = int(state["updates"])  # type: ignore[arg-type]
