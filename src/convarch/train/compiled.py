"""``torch.compile`` for training: one compiled module per network, reused by every step and every evaluation.

A module compiled with ``dynamic=False`` compiles again whenever an input shape changes, and the last batch
of an epoch is usually smaller than the others, as is a batch streamed from disk that lost unreadable files.
So a compiled run trains each batch of another size through the uncompiled module, which holds the same
parameters (under DDP, where a second wrapper would synchronise the gradients twice, such a batch is dropped,
as ``drop_last`` does in the reference scripts), and pads the last evaluation batch to the full size,
discarding the padded rows' outputs: in eval mode BatchNorm normalises each image with the running
statistics, so the padding changes nothing. Each module then compiles once for training and once for
evaluation, in the first epoch, and never again. (Dropping every short batch, as an earlier version did,
made a folder with a few unreadable files train on a fraction of its images, or on none.)

``reduce-overhead`` adds CUDA graphs: one launch replays a whole step's kernels, which is what pays on small
networks (LeNet-5, the CIFAR ResNets), whose steps are bound by kernel-launch overhead, not arithmetic.
"""

from __future__ import annotations

import torch
from torch import nn


def compile_module(module: nn.Module, mode: str) -> nn.Module:
    """``module`` compiled for fixed shapes; ``mode`` is one of ``TrainConfig``'s ``COMPILE_MODES``."""
    return torch.compile(module, mode=None if mode == "default" else mode, dynamic=False)


def begin_step(mode: str) -> None:
    """Tell CUDA graphs a new iteration begins, so the previous step's graph outputs may be overwritten."""
    if mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()


def padded_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` with zero rows appended up to ``size`` rows (the last evaluation batch of a compiled run), in
    ``x``'s memory format: a compiled model's guards include the input's strides."""
    missing = size - x.shape[0]
    if missing <= 0:
        return x
    padded = torch.cat([x, x.new_zeros((missing, *x.shape[1:]))])
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
    return padded.contiguous(memory_format=torch.channels_last) if channels_last else padded
