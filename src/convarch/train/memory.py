"""Memory checks before a run: a network and batch that cannot fit are refused with the estimate and the fix,
not met mid-run by the allocator's traceback. The comparison with the device is bench's (``check_fits``).

Training keeps every activation for the backward pass: the report's estimate (``Report.training_bytes``,
2 x forward memory x batch + 4 x parameter memory). Inference without gradients frees each output once the
next layer has read it, so the sum of all activations would refuse runs that fit easily (ResNet-50 at batch
256: 23 GiB summed, ~3 GiB live); the estimate there is four times the largest layer output (its input, its
output, and what a residual or concatenation holds meanwhile), never more than the sum.

Evaluation during training runs at ``EVAL_BATCH`` (or the training batch, when larger), shrunk to what fits:
in eval mode each image's output depends on that image alone, so the batch changes the speed, not the numbers.
It never shrinks below the training batch, whose steps take more memory than its forward passes.
"""

from __future__ import annotations

import torch

from convarch.analysis.measure import allowed_memory, check_fits
from convarch.analysis.report import BYTES_PER_VALUE, Report, analyze_spec
from convarch.errors import ConfigError, advising
from convarch.nn.model import ConvNet

LIVE_OUTPUTS = 4
EVAL_BATCH = 256  # no gradients kept: evaluation takes larger batches than training


def live_values(report: Report) -> int:
    largest = max((row.activations for row in report.rows if not row.aux), default=0)
    return min(report.activations, LIVE_OUTPUTS * max(largest, report.input.numel))


def inference_bytes(report: Report, batch: int) -> int:
    return (live_values(report) * batch + report.params) * BYTES_PER_VALUE


def eval_batch_size(model: ConvNet, batch_size: int, device: torch.device) -> int:
    """The batch of a training run's evaluations: ``EVAL_BATCH`` or ``batch_size`` when larger, shrunk to what
    fits on ``device`` (not below ``batch_size``; see the module's docstring)."""
    largest = max(batch_size, EVAL_BATCH)
    allowed = allowed_memory(device)
    if allowed is None:
        return largest
    report = analyze_spec(model.spec, names=False)
    fitting = (allowed // BYTES_PER_VALUE - report.params) // max(1, live_values(report))
    return max(batch_size, min(largest, fitting))


def check_training_memory(model: ConvNet, batch_size: int, eval_batch: int, device: torch.device) -> None:
    """Refuse a training run whose steps (or whose evaluations, at ``eval_batch``) would not fit on ``device``."""
    report = analyze_spec(model.spec, names=False)
    need = max(report.training_bytes(batch_size), inference_bytes(report, eval_batch))
    what = f"training at batch {batch_size} on {report.input} inputs"
    fix = "Use a network with a smaller INPUT or fewer or narrower layers"
    fix += ", or a smaller batch_size." if batch_size > 1 else "."
    try:
        check_fits(need, device, what, fix)
    except ConfigError as error:
        raise (advising(error, "batch_size") if batch_size > 1 else error) from None


def check_inference_memory(model: ConvNet, batch: int, device: torch.device, fix: str) -> None:
    """Refuse an evaluation or prediction whose forward passes at ``batch`` would not fit on ``device``."""
    report = analyze_spec(model.spec, names=False)
    check_fits(inference_bytes(report, batch), device, f"a forward pass of {batch} image(s) at {report.input}", fix)
