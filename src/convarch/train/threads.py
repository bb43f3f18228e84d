"""How many intra-op threads a CPU run uses.

A small network (LeNet-5: 0.4 M multiply-adds per image) gains little from splitting each operation over
threads: at batch 64 an op lasts microseconds, and every parallel region ends at a barrier that waits for
the slowest thread. On a machine shared with other jobs that thread is often descheduled, and we measured
2-thread LeNet epochs of 0.4 s to 15 s where 1 thread stayed at 0.5-0.7 s (benchmarks/RESULTS.md). So a
small network trains on one thread unless ``threads`` says otherwise; larger ones keep torch's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from convarch.analysis.report import analyze_spec
from convarch.nn.model import ConvNet

SMALL_NETWORK_MACS = 20_000_000  # per image; LeNet-5 is 0.42 M, the benchmark's pattern network 1.9 M


def default_threads(model: ConvNet, device: torch.device) -> int | None:
    """1 for a small network on the CPU, else None (torch's default)."""
    if device.type != "cpu":
        return None
    return 1 if analyze_spec(model.spec).macs < SMALL_NETWORK_MACS else None


@contextmanager
def intra_op_threads(requested: int | None, model: ConvNet, device: torch.device) -> Iterator[int]:
    """Set the thread count for a run and restore the caller's afterwards (it is process-wide)."""
    previous = torch.get_num_threads()
    chosen = requested or default_threads(model, device) or previous
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(previous)
