"""Evaluation: loss, top-1, top-5, per-class accuracy and the confusion matrix, summed over ranks."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convarch.nn.model import AuxOutputs, ConvNet
from convarch.train.compiled import padded_to
from convarch.train.distributed import Distributed

TOP_K = 5


def top5_applies(num_classes: int) -> bool:
    """Top-5 says something only with more than 5 classes; with 5 or fewer every image is a top-5 hit."""
    return num_classes > TOP_K


def top5_hits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How many labels are among the 5 highest scores (call only where ``top5_applies``)."""
    return (logits.topk(TOP_K, dim=1).indices == labels[:, None]).any(dim=1).sum()


@dataclass
class EvalStats:
    loss: float
    top1: float
    top5: float | None  # None with 5 classes or fewer (top5_applies)
    count: int
    confusion: torch.Tensor  # (true, predicted) counts

    @property
    def per_class(self) -> list[float | None]:
        """Each class's top-1 accuracy; None for a class with no image, whose accuracy is not 0 but unknown."""
        totals = self.confusion.sum(dim=1).tolist()
        hits = self.confusion.diagonal().tolist()
        return [hit / total if total else None for hit, total in zip(hits, totals, strict=True)]

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


def autocast_for(device: torch.device, dtype: torch.dtype | None) -> Any:
    """Autocast to ``dtype`` on ``device``, or nothing at all for ``None`` (fp32): a disabled autocast context
    still costs a few microseconds per step, which a small network on the CPU notices."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def eval_precision(train_dtype: torch.dtype | None) -> torch.dtype | None:
    """The precision to evaluate in: bf16 when training in bf16, else fp32 -- never fp16.

    fp16 tops out at 65,504. Early in training, batch-norm running statistics lag the weights (after 13 steps
    a ResNet-18 gave a held-out loss of 1.65 million in fp32), and fp16 logits overflow to inf and NaN although
    nothing is wrong with the weights. bf16 has fp32's range.
    """
    return torch.bfloat16 if train_dtype == torch.bfloat16 else None


@torch.no_grad()
def evaluate_loader(
    model: nn.Module,
    loader: Any,
    num_classes: int,
    dist: Distributed,
    *,
    criterion: nn.Module | None = None,
    dtype: torch.dtype | None = None,
    channels_last: bool = False,
    fixed_batch: int | None = None,
    step_begin: Callable[[], None] | None = None,
) -> EvalStats:
    """Evaluate ``model`` on every batch of ``loader`` (this rank's shard), then sum over ranks.

    ``dtype`` is the autocast precision (None: fp32); ``fixed_batch`` pads a smaller batch to that size, so a
    module compiled for that shape runs without compiling again (``convarch.train.compiled``); ``step_begin``
    runs before each batch (CUDA graphs need to be told).
    """
    was_training = model.training
    model.eval()
    criterion = criterion or nn.CrossEntropyLoss()
    device = dist.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    top5_sum = torch.zeros((), dtype=torch.float64, device=device)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.float64, device=device)
    for batch in loader:
        x = batch.x.contiguous(memory_format=torch.channels_last) if channels_last else batch.x
        n = x.shape[0]
        if fixed_batch is not None:
            x = padded_to(x, fixed_batch)
        if step_begin is not None:
            step_begin()
        with autocast_for(device, dtype):
            logits = logits_of(class_scores(model, x))[:n].float()
        loss_sum += criterion(logits, batch.y).double() * len(batch.y)
        if top5_applies(num_classes):
            top5_sum += top5_hits(logits, batch.y)
        confusion += torch.bincount(batch.y * num_classes + logits.argmax(dim=1), minlength=num_classes**2)
    totals = dist.all_reduce(torch.cat([loss_sum.reshape(1), top5_sum.reshape(1), confusion]))
    confusion_matrix = totals[2:].reshape(num_classes, num_classes).round().long()
    count = int(confusion_matrix.sum())
    model.train(was_training)
    return EvalStats(
        loss=float(totals[0]) / max(1, count),
        top1=float(confusion_matrix.diagonal().sum()) / max(1, count),
        top5=float(totals[1]) / max(1, count) if top5_applies(num_classes) else None,
        count=count,
        confusion=confusion_matrix,
    )


@torch.no_grad()
def finite_with_batch_statistics(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``model`` gives finite fp32 outputs on ``x`` when BatchNorm uses the batch's statistics.

    This tells the two reasons for a non-finite held-out loss apart when the weights are finite: running
    statistics that lag the weights (finite here: training is sound) from weights that overflow the network
    anyway (non-finite here: training diverged). A copy is run, so the model's running statistics stay; the
    copy's dropout stays in eval mode, so no random stream is drawn from.
    """
    probe = copy.deepcopy(model).eval().float()
    for module in probe.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train()
    return bool(torch.isfinite(logits_of(class_scores(probe, x.float()))).all())
