"""Evaluation: loss, top-1, top-5, per-class accuracy and the confusion matrix, summed over ranks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convarch.nn.model import AuxOutputs, ConvNet
from convarch.train.distributed import Distributed


@dataclass
class EvalStats:
    loss: float
    top1: float
    top5: float
    count: int
    confusion: torch.Tensor  # (true, predicted) counts

    @property
    def per_class(self) -> list[float]:
        totals = self.confusion.sum(dim=1).clamp_min(1)
        return (self.confusion.diagonal() / totals).tolist()

    def to_dict(self, class_names: list[str] | None = None) -> dict[str, Any]:
        names = class_names or [str(i) for i in range(len(self.confusion))]
        return {
            "loss": self.loss, "top1": self.top1, "top5": self.top5, "count": self.count,
            "per_class": dict(zip(names, self.per_class, strict=True)), "confusion": self.confusion.tolist(),
        }  # fmt: skip


def logits_of(output: torch.Tensor | AuxOutputs) -> torch.Tensor:
    return output.logits if isinstance(output, AuxOutputs) else output


def class_scores(model: nn.Module, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
    """Logits: a ConvNet's scores before a trailing SOFTMAX, since cross-entropy and ``predict`` apply their own
    (on probabilities the loss would be that of a softmax applied twice); any other module's output as it is."""
    return model.forward_logits(x) if isinstance(model, ConvNet) else model(x)


class Logits(nn.Module):
    """``model`` answering with its logits, for the trainer to wrap (DDP, compile) and call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        return class_scores(self.model, x)


def autocast_for(device: torch.device, enabled: bool) -> Any:
    # bfloat16 on the CPU (no loss scaling needed), float16 + GradScaler on GPUs, as the reference scripts do.
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


@torch.no_grad()
def evaluate_loader(
    model: nn.Module,
    loader: Any,
    num_classes: int,
    dist: Distributed,
    *,
    criterion: nn.Module | None = None,
    amp: bool = False,
    channels_last: bool = False,
) -> EvalStats:
    """Evaluate ``model`` on every batch of ``loader`` (this rank's shard), then sum over ranks."""
    was_training = model.training
    model.eval()
    criterion = criterion or nn.CrossEntropyLoss()
    device = dist.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    top5_hits = torch.zeros((), dtype=torch.float64, device=device)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.float64, device=device)
    k = min(5, num_classes)
    for batch in loader:
        x = batch.x.contiguous(memory_format=torch.channels_last) if channels_last else batch.x
        with autocast_for(device, amp):
            logits = logits_of(class_scores(model, x)).float()
        loss_sum += criterion(logits, batch.y).double() * len(batch.y)
        top5_hits += (logits.topk(k, dim=1).indices == batch.y[:, None]).any(dim=1).sum()
        confusion += torch.bincount(batch.y * num_classes + logits.argmax(dim=1), minlength=num_classes**2)
    totals = dist.all_reduce(torch.cat([loss_sum.reshape(1), top5_hits.reshape(1), confusion]))
    confusion_matrix = totals[2:].reshape(num_classes, num_classes).round().long()
    count = int(confusion_matrix.sum())
    model.train(was_training)
    return EvalStats(
        loss=float(totals[0]) / max(1, count),
        top1=float(confusion_matrix.diagonal().sum()) / max(1, count),
        top5=float(totals[1]) / max(1, count),
        count=count,
        confusion=confusion_matrix,
    )
