"""Memory checks before a run: a network and batch that cannot fit are refused with the estimate and the fix,
not met mid-run by the allocator's traceback. The comparison with the device is bench's (``check_fits``).

Training keeps every activation for the backward pass: the report's estimate (``Report.training_bytes``,
2 x forward memory x batch + 4 x parameter memory). Inference without gradients frees each output once the
next layer has read it, so the sum of all activations would refuse runs that fit easily (ResNet-50 at batch
256: 23 GiB summed, ~3 GiB live); the estimate there is four times the largest layer output (its input, its
output, and what a residual or concatenation holds meanwhile), never more than the sum.
"""

from __future__ import annotations

import torch

from convarch.analysis.measure import check_fits
from convarch.analysis.report import BYTES_PER_VALUE, Report, analyze_spec
from convarch.errors import ConfigError, advising
from convarch.nn.model import ConvNet

LIVE_OUTPUTS = 4


def inference_bytes(report: Report, batch: int) -> int:
    largest = max((row.activations for row in report.rows if not row.aux), default=0)
    live = min(report.activations, LIVE_OUTPUTS * max(largest, report.input.numel))
    return (live * batch + report.params) * BYTES_PER_VALUE


def check_training_memory(model: ConvNet, batch_size: int, eval_batch: int, device: torch.device) -> None:
    """Refuse a training run whose steps (or whose evaluations, at ``eval_batch``) would not fit on ``device``."""
    report = analyze_spec(model.spec, names=False)
    need = max(report.training_bytes(batch_size), inference_bytes(report, eval_batch))
    what = f"training at batch {batch_size} (evaluating at {eval_batch}) on {report.input} inputs"
    fix = "Use a network with a smaller INPUT or fewer or narrower layers, or a smaller batch_size."
    try:
        check_fits(need, device, what, fix)
    except ConfigError as error:
        raise advising(error, "batch_size") from None


def check_inference_memory(model: ConvNet, batch: int, device: torch.device, fix: str) -> None:
    """Refuse an evaluation or prediction whose forward passes at ``batch`` would not fit on ``device``."""
    report = analyze_spec(model.spec, names=False)
    check_fits(inference_bytes(report, batch), device, f"a forward pass of {batch} image(s) at {report.input}", fix)
