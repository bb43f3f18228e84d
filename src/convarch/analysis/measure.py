"""Measured speed and memory on the user's machine: latency, throughput, achieved FLOP/s, peak memory.

Canziani, Paszke & Culurciello 2016 (arXiv 1605.07678, Fig. 3) measure inference time against batch
size; this does the same on real tensors. Each batch size gets warm-up runs, then repeats timed one by
one, and reports the median. Achieved GFLOP/s comes from the static MACs (FLOPs = 2 x MACs), and the
machine's own matmul peak, measured the same way, says what fraction of it the network reaches.

Peak memory: what the first pass at that batch size holds allocated at its peak, above what was allocated
before it. On CUDA, ``torch.cuda.max_memory_allocated``; on the CPU, the running sum of the profiler's
allocator events (``cpu_peak_bytes``). Neither depends on the order of the runs, as the growth of the
process's resident set did (it read 15.0 MiB, 12.3 MiB, then 4 KiB for batches 1, 8, 1).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convarch.errors import ConfigError, advising

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class BatchTiming:
    batch: int
    seconds: list[float]  # each timed repeat
    flops_per_image: int
    peak_bytes: int | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def images_per_second(self) -> float:
        return self.batch / self.median

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s: the static FLOPs of the batch over the median latency."""
        return self.flops_per_image * self.batch / self.median / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "median_s": self.median,
            "seconds": self.seconds,
            "images_per_s": self.images_per_second,
            "gflops": self.gflops,
            "peak_bytes": self.peak_bytes,
        }


@dataclass
class BenchResult:
    model: str
    input: tuple[int, int, int]
    device: str
    dtype: str
    threads: int
    channels_last: bool
    macs_per_image: int
    timings: list[BatchTiming] = field(default_factory=list)
    matmul_gflops: float | None = None  # the machine's measured matmul peak, same device and dtype
    runtime: str = "torch eager"  # or what ca.optimize chose: "torch optimized: ...", "onnxruntime ..."

    def fraction(self, timing: BatchTiming) -> float | None:
        return timing.gflops / self.matmul_gflops if self.matmul_gflops else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_chw": list(self.input),
            "device": self.device,
            "dtype": self.dtype,
            "threads": self.threads,
            "channels_last": self.channels_last,
            "macs_per_image": self.macs_per_image,
            "matmul_peak_gflops": self.matmul_gflops,
            "runtime": self.runtime,
            "timings": [{**t.to_dict(), "fraction_of_peak": self.fraction(t)} for t in self.timings],
        }


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise advising(ConfigError("device='cuda': no CUDA device is available here; use device='cpu'"), "device")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; use cpu or cuda")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}")
    return DTYPES[name]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Kineto, the profiler's C++ backend, logs its start and stop (and a missing GPU) to file descriptor 2,
    past Python's ``sys.stderr``: point the descriptor at /dev/null while it runs."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to save: nothing would be shown anyway
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def cpu_peak_bytes(model: nn.Module, x: torch.Tensor) -> int | None:
    """The most bytes ``model(x)`` holds allocated at once above what was allocated before it, on the CPU.

    The profiler records every allocation and free of torch's CPU allocator (``profile_memory``); their
    running sum, in time order, peaks where the pass holds the most. Unlike the process's resident set, it
    does not depend on what earlier passes left in the allocator's and the C library's caches. None where
    the profiler gives no memory events, or is already running (the caller's own session).
    """
    from torch.profiler import ProfilerActivity, profile

    if torch.autograd._profiler_enabled():  # the caller is profiling: a second session would cancel theirs
        model(x)
        return None
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    try:
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except (AttributeError, RuntimeError):  # a torch whose profiler results have another shape
        return None
    held = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        held += event.nbytes()
        peak = max(peak, held)
    return peak if events else None


def check_threads(count: int) -> int:
    """A thread count the machine can run: asking for 100,000 threads crashes the process, not a clear error."""
    limit = 4 * (os.cpu_count() or 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= limit:
        raise advising(
            ConfigError(f"threads must be from 1 to {limit} (4 x the {os.cpu_count()} CPUs here), got {count!r}"),
            "threads",
        )
    return count


@contextmanager
def _threads(count: int | None) -> Iterator[int]:
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(check_threads(count))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def matmul_peak(device: torch.device, dtype: torch.dtype, *, size: int | None = None, repeats: int = 8) -> float:
    """The best GFLOP/s of a square matmul: the practical peak the network is measured against."""
    n = size or (4096 if device.type == "cuda" else 1024)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    with torch.inference_mode():
        torch.mm(a, b)
        _sync(device)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            _sync(device)
            best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def time_batch(
    model: nn.Module,
    x: torch.Tensor,
    *,
    warmup: int,
    repeats: int,
    max_seconds: float,
    on_run: Callable[[], None] | None = None,
    measure_memory: bool = True,
) -> tuple[list[float], int | None]:
    """Median-ready latencies of ``model(x)`` and the peak memory of its first pass (None without
    ``measure_memory``: the profiler that measures it on the CPU costs more than a small model's pass)."""
    device = x.device
    with torch.inference_mode():
        if not measure_memory:
            model(x)
            _sync(device)
            peak: int | None = None
        elif device.type == "cuda":
            _sync(device)
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            model(x)
            _sync(device)
            peak = torch.cuda.max_memory_allocated(device) - before
        else:
            peak = cpu_peak_bytes(model, x)
        if on_run:
            on_run()
        for _ in range(max(0, warmup - 1)):
            model(x)
            _sync(device)
            if on_run:
                on_run()
        seconds: list[float] = []
        started = time.perf_counter()
        while len(seconds) < repeats:
            start = time.perf_counter()
            model(x)
            _sync(device)
            seconds.append(time.perf_counter() - start)
            if on_run:
                on_run()
            # A slow network at a big batch stops early, but always after three repeats for a median.
            if len(seconds) >= 3 and time.perf_counter() - started > max_seconds:
                break
    return seconds, peak


def bench_model(
    model: nn.Module,
    input_size: tuple[int, int, int],
    macs_per_image: int,
    *,
    name: str = "",
    batches: tuple[int, ...] = (1,),
    threads: int | None = None,
    channels_last: bool = False,
    dtype: str = "fp32",
    device: str = "cpu",
    warmup: int = 2,
    repeats: int = 10,
    max_seconds: float = 10.0,
    measure_peak: bool = True,
    on_run: Callable[[], None] | None = None,
) -> BenchResult:
    """Latency, throughput, achieved GFLOP/s and peak memory of ``model`` at each batch size."""
    if not batches or any(b < 1 for b in batches):
        raise ConfigError(f"batch sizes must be positive integers, got {list(batches)}")
    if not math.isfinite(max_seconds) or max_seconds < 0:  # 0: stop after the three runs always timed
        raise ConfigError(f"max_seconds must be a number of seconds, 0 or more, got {max_seconds!r}")
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(device=torch_device, dtype=torch_dtype, memory_format=memory_format)
    with _threads(threads) as used:
        result = BenchResult(name, input_size, str(torch_device), dtype, used, channels_last, macs_per_image)
        for batch in batches:
            x = torch.randn(batch, *input_size, device=torch_device, dtype=torch_dtype)
            x = x.contiguous(memory_format=memory_format)
            seconds, peak = time_batch(model, x, warmup=warmup, repeats=repeats, max_seconds=max_seconds,
                                       on_run=on_run)  # fmt: skip
            result.timings.append(BatchTiming(batch, seconds, 2 * macs_per_image, peak))
        if measure_peak:
            result.matmul_gflops = matmul_peak(torch_device, torch_dtype)
    return result


def available_memory(device: torch.device) -> int | None:
    """Bytes the device can still allocate (Linux MemAvailable on the CPU), or None when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


MEMORY_SHARE = 0.8  # of what the device has available: the rest is left to the allocator's slack and the system


def allowed_memory(device: torch.device) -> int | None:
    """Bytes a run may plan to use on ``device`` (``MEMORY_SHARE`` of what it has available), or None when unknown."""
    free = available_memory(device)
    return None if free is None else int(MEMORY_SHARE * free)


def _size(size: float) -> str:
    """GiB, or MiB under one GiB: "needs 0.1 GiB, over the 0.1 GiB allowed" said nothing."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def check_fits(need: int, device: torch.device, what: str, fix: str) -> None:
    """Refuse, before any work, ``what`` when its estimated ``need`` (bytes) is over ``MEMORY_SHARE`` of what
    ``device`` has available: the allocator would fail mid-run with a traceback, or the system would start
    swapping. The message states the limit, so the estimate can be compared with it."""
    free = available_memory(device)
    if free is not None and need > MEMORY_SHARE * free:
        raise ConfigError(
            f"{what} needs about {_size(need)}, over the {_size(MEMORY_SHARE * free)} allowed "
            f"({MEMORY_SHARE:.0%} of the {_size(free)} the {device.type} has available). {fix}"
        )


def check_batch_fits(
    report: Any, batch: int, device: torch.device, fix: str, *, bytes_per_value: int = 4, what: str = ""
) -> None:
    """``check_fits`` for running ``batch`` images through the network of ``report``: its weights and every
    activation held at once (an upper bound for a forward pass, as timing runs need no more)."""
    need = (report.activations * batch + report.params) * bytes_per_value
    check_fits(need, device, what or f"batch {batch} at {report.input} (weights and activations)", fix)


def bench(
    source: Any,
    *,
    input_size: tuple[int, int, int] | None = None,
    batches: tuple[int, ...] = (1,),
    device: str = "cpu",
    dtype: str | None = None,
    runtime: str = "torch",
    optimize: bool = False,
    **options: Any,
) -> BenchResult:
    """Build a zoo name or pattern (random weights) and measure it; see ``bench_model`` for the options.

    ``optimize`` (or ``runtime="onnxruntime"``) measures what ``ca.optimize`` makes of the model, with
    ``dtype`` left to it unless given; otherwise the eager model runs in ``dtype`` (fp32 by default).
    Refuses, before building anything, a batch whose activations would not fit in the device's memory.
    """
    from convarch.api import analyze, build, is_model_name

    report = analyze(source, input_size=input_size)
    torch_device = resolve_device(device)
    if dtype is not None:
        resolve_dtype(dtype)
    if runtime not in ("torch", "onnxruntime"):
        raise ConfigError(f"unknown runtime {runtime!r}; use torch or onnxruntime")
    check_batch_fits(report, max(batches), torch_device, "Use smaller batches or a smaller input size.",
                     bytes_per_value=2 if dtype == "bf16" else 4)  # fmt: skip
    if optimize or runtime != "torch":
        return _bench_optimized(source, report, batches=batches, device=device, dtype=dtype, runtime=runtime,
                                **options)  # fmt: skip
    name = source.strip() if isinstance(source, str) and is_model_name(source) else (report.title or "pattern")
    model = build(source, input_size=report.input.chw)
    return bench_model(model, report.input.chw, report.macs, name=name, batches=batches, device=device,
                       dtype=dtype or "fp32", **options)  # fmt: skip


def _bench_optimized(
    source: Any, report: Any, *, batches: tuple[int, ...], device: str, dtype: str | None, runtime: str, **options: Any
) -> BenchResult:
    """``bench`` of ``ca.optimize(model, runtime=..., dtype=...)``: the model takes fp32 NCHW input and casts it
    itself, so it is measured as it is called; the result says which path ``optimize`` chose."""
    from convarch.api import build, is_model_name
    from convarch.deploy.optimize import optimize

    if options.get("channels_last"):
        raise advising(ConfigError("optimize chooses the memory format itself; leave channels_last out"), "optimize",
                       "channels_last")  # fmt: skip
    name = source.strip() if isinstance(source, str) and is_model_name(source) else (report.title or "pattern")
    model = build(source, input_size=report.input.chw)
    measure_peak = options.pop("measure_peak", True)
    # torch's path is chosen by measuring at each batch (what is fastest for one image may not be for 64);
    # an ONNX Runtime session is one path for every batch, and exporting it takes seconds: made once
    groups = [(batch,) for batch in batches] if runtime == "torch" else [batches]
    result: BenchResult | None = None
    paths: list[list[str]] = []  # each optimized model's steps
    largest: Any = None  # the fields describe the path of the largest batch, the one throughput is about
    for group in groups:
        with _threads(options.get("threads")):  # an ONNX Runtime session takes torch's thread count when made
            deployed = optimize(model, device=device, runtime=runtime, dtype=dtype,
                                batch_size=group[0] if len(group) == 1 else None)  # fmt: skip
        measured = bench_model(deployed, report.input.chw, report.macs, name=name, batches=group, device=device,
                               dtype="fp32", measure_peak=False, **options)  # fmt: skip
        paths.append(list(getattr(deployed, "steps", [])))
        if max(batches) in group:
            largest = deployed
        if result is None:
            result = measured
        else:
            result.timings += measured.timings
    assert result is not None
    deployed = largest
    result.runtime = deployed.describe()
    if any(path != paths[0] for path in paths):  # the steps common to every batch once, then each batch's own
        common = [step for step in paths[0] if all(step in path for path in paths)]
        own_steps = [
            (group[0], [step for step in path if step not in common]) for group, path in zip(groups, paths, strict=True)
        ]
        own = [f"batch {batch}: {', '.join(steps)}" for batch, steps in own_steps if steps]
        result.runtime = "torch optimized: " + "; ".join(common + own)
    result.dtype = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(getattr(deployed, "dtype", None), "fp32")
    result.channels_last = getattr(deployed, "memory_format", None) == torch.channels_last
    if measure_peak:
        with _threads(options.get("threads")):
            result.matmul_gflops = matmul_peak(resolve_device(device), DTYPES.get(result.dtype, torch.float16))
    return result
