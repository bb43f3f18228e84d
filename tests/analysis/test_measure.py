"""Measured speed and memory: medians, derived rates, the matmul peak, options and refusals."""

from __future__ import annotations

import statistics

import pytest
import torch

import convarch as ca
from convarch.analysis.measure import BatchTiming, bench, bench_model, matmul_peak

TINY = "INPUT(16x16x3) -> CONV3-8 -> RELU -> POOL2 -> FC10"


def test_bench_times_every_batch_and_derives_rates_from_the_static_macs() -> None:
    result = bench(TINY, batches=(1, 4), warmup=1, repeats=3, measure_peak=False)
    macs = ca.analyze(TINY).macs
    assert result.macs_per_image == macs and [t.batch for t in result.timings] == [1, 4]
    for timing in result.timings:
        assert len(timing.seconds) == 3 and timing.median == statistics.median(timing.seconds) > 0
        assert timing.images_per_second == pytest.approx(timing.batch / timing.median)
        assert timing.gflops == pytest.approx(2 * macs * timing.batch / timing.median / 1e9)
        assert timing.peak_bytes is not None and timing.peak_bytes >= 0  # the real check is below
    data = result.to_dict()
    assert data["timings"][1]["batch"] == 4 and data["matmul_peak_gflops"] is None


def test_matmul_peak_and_the_achieved_fraction() -> None:
    peak = matmul_peak(torch.device("cpu"), torch.float32, size=128, repeats=3)
    assert peak > 0.01
    timing = BatchTiming(batch=2, seconds=[0.5, 0.25, 1.0], flops_per_image=10**9)
    assert timing.median == 0.5 and timing.gflops == pytest.approx(4.0)
    result = bench(TINY, warmup=0, repeats=1, measure_peak=False)
    result.matmul_gflops = 8.0
    assert result.fraction(timing) == pytest.approx(0.5)


def test_threads_channels_last_and_bf16_run_and_threads_are_restored() -> None:
    before = torch.get_num_threads()
    result = bench(TINY, threads=1, channels_last=True, dtype="bf16", warmup=1, repeats=3, measure_peak=False)
    assert result.threads == 1 and result.channels_last and result.dtype == "bf16"
    assert torch.get_num_threads() == before


def test_repeats_stop_after_the_time_budget_but_never_below_three() -> None:
    model = ca.build(TINY)
    result = bench_model(model, (3, 16, 16), 1, repeats=1000, warmup=0, max_seconds=0.0, measure_peak=False)
    assert len(result.timings[0].seconds) == 3


def test_refusals() -> None:
    with pytest.raises(ca.ConfigError, match="dtype"):
        bench(TINY, dtype="fp64")
    with pytest.raises(ca.ConfigError, match="device"):
        bench(TINY, device="tpu")
    with pytest.raises(ca.ConfigError, match="batch"):
        bench(TINY, batches=(0,))
    limit = r"over the [\d.]+ GiB allowed \(80% of the [\d.]+ GiB the cpu has available\)\. Use smaller"
    with pytest.raises(ca.ConfigError, match=limit):
        bench("vgg16", batches=(1_000_000,))
    with pytest.raises(ca.UnknownModelError):
        bench("resnet9000")
    threads = torch.get_num_threads()
    for count in (0, 100_000):  # 100,000 threads crashed the process before the check
        with pytest.raises(ca.ConfigError, match=r"threads must be from 1 to \d+"):
            bench(TINY, threads=count)
    assert torch.get_num_threads() == threads
    for seconds in (-5.0, float("nan"), float("inf")):
        with pytest.raises(ca.ConfigError, match="max_seconds must be a number of seconds, 0 or more"):
            bench(TINY, max_seconds=seconds)


def test_peak_memory_covers_the_largest_activation() -> None:
    """The first pass allocates a 32 MiB feature map (the conv may hold a second, reordered copy of it while it
    runs); the input, allocated before the pass, is not counted."""
    pattern = "INPUT(256x256x3) -> CONV3-32 -> GAP -> FC2"
    result = bench(pattern, batches=(4,), warmup=0, repeats=1, measure_peak=False)
    activation = 4 * 32 * 256 * 256 * 4
    assert activation <= result.timings[0].peak_bytes <= 2 * activation


def test_cpu_peak_memory_does_not_depend_on_the_order_of_the_runs() -> None:
    """Resident-set growth read 15.0 MiB, 12.3 MiB, then 4 KiB for batches 1, 8, 1: the caches decided it."""
    result = bench("INPUT(64x64x3) -> CONV3-16 -> RELU -> CONV3-16 -> RELU -> GAP -> FC10", batches=(1, 8, 1),
                   warmup=1, repeats=1, measure_peak=False)  # fmt: skip
    first, eight, again = (t.peak_bytes for t in result.timings)
    assert first == again and first >= 16 * 64 * 64 * 4
    assert 7 * first <= eight <= 9 * first


def test_cpu_peak_memory_leaves_a_callers_profiler_session_alone() -> None:
    from torch.profiler import profile

    from convarch.analysis.measure import cpu_peak_bytes

    model = torch.nn.Conv2d(3, 8, 3)
    with profile() as session:
        assert cpu_peak_bytes(model, torch.randn(1, 3, 16, 16)) is None
    assert any(event.name == "aten::conv2d" for event in session.events())  # the caller's trace is whole
