"""Issue 3 benchmark: eager forward throughput of the deep families against torchvision and timm.

    .venv/bin/python benchmarks/bench_deep_forward.py [--rounds 11] [--batch 8] [--threads N] [--models ...]
    .venv/bin/python benchmarks/bench_deep_forward.py --profile densenet121   # where the time goes

Both networks of a row hold the same weights (ours is loaded from the reference's state dict through the
key map) and must give the same output. Then their forward passes (eval mode, ``torch.no_grad``, CPU) run in
rounds, one of each per round, the order alternating from round to round. On a shared, noisy machine the
load changes between rounds more than within one, so the row reports the median over rounds of the
per-round ratio (reference time / our time = our images/s over the reference's), with its quartiles, and
the median images/s of each. Target: ours within 3% of the reference (ratio >= 0.97).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import timm
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).parent))
import convarch as ca
from convarch.zoo.keymaps import from_layout
from timing import markdown_table

# name: (reference library, how to build the reference)
REFERENCES: dict[str, tuple[str, Callable[[], torch.nn.Module]]] = {
    "resnet50": ("torchvision", lambda: torchvision.models.resnet50()),
    "googlenet": ("torchvision", lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False)),
    "densenet121": ("torchvision", lambda: torchvision.models.densenet121()),
    "inception_v4": ("timm", lambda: timm.create_model("inception_v4")),
}


def pair(name: str) -> tuple[torch.nn.Module, torch.nn.Module, str]:
    """The reference and ours with the same weights, both in eval mode."""
    layout, build = REFERENCES[name]
    reference = build().eval()
    ours = ca.create_model(name).eval()
    ours.load_state_dict(from_layout(name, reference.state_dict(), layout, ours.spec))
    return reference, ours, layout


def paired_rounds(
    ours: Callable[[], object],
    reference: Callable[[], object],
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[tuple[float, float]]:
    """(our seconds, reference seconds) per round, after one warm-up call of each.

    With one intra-op thread every kernel runs on the calling thread, so ``time.thread_time`` (``--cpu-time``)
    counts the work itself: a process that other jobs deschedule does not look slower.
    """
    ours(), reference()
    samples = []
    for i in range(rounds):
        order = ((0, ours), (1, reference)) if i % 2 == 0 else ((1, reference), (0, ours))
        seconds = [0.0, 0.0]
        for slot, fn in order:
            start = clock()
            fn()
            seconds[slot] = clock() - start
        samples.append((seconds[0], seconds[1]))
    return samples


def measure(name: str, batch: int, rounds: int, clock: Callable[[], float] = time.perf_counter) -> list[str]:
    reference, ours, layout = pair(name)
    size = ca.model_info(name).input_size
    x = torch.randn(batch, *size)
    with torch.no_grad():
        diff = (ours(x) - reference(x)).abs().max().item()
        assert diff < 1e-3, f"{name}: the two networks must compute the same function (max abs diff {diff})"
        samples = paired_rounds(lambda: ours(x), lambda: reference(x), rounds, clock)
    ratios = [theirs / mine for mine, theirs in samples]
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return [
        name,
        layout,
        f"{size[1]}x{size[2]}",
        f"{batch / statistics.median(s[0] for s in samples):.2f}",
        f"{batch / statistics.median(s[1] for s in samples):.2f}",
        f"{median:.3f}",
        f"{q1:.3f}-{q3:.3f}",
        f"{diff:.1e}",
    ]


def profile(name: str, batch: int) -> None:
    """The operators that take the time, ours and the reference's, to find where a gap comes from."""
    reference, ours, _ = pair(name)
    x = torch.randn(batch, *ca.model_info(name).input_size)
    for label, model in (("ours", ours), ("reference", reference)):
        with torch.no_grad():
            model(x)  # warm up
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                model(x)
        print(f"\n== {name}, {label} ==")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--models", nargs="*", default=list(REFERENCES), choices=list(REFERENCES))
    parser.add_argument("--profile", choices=list(REFERENCES), help="profile one model instead of timing")
    parser.add_argument("--cpu-time", action="store_true", help="time the thread's CPU time (needs --threads 1)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time measures the calling thread, so it needs --threads 1")
    clock = time.thread_time if args.cpu_time else time.perf_counter
    if args.profile:
        profile(args.profile, args.batch)
        return
    rows = []
    for name in args.models:
        rows.append(measure(name, args.batch, args.rounds, clock))
        print(rows[-1], flush=True)
    machine = platform.processor() or platform.machine()
    print(
        f"\ntorch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}, {machine}, "
        f"{torch.get_num_threads()} threads, batch {args.batch}, eval + no_grad, {args.rounds} rounds"
        + (", thread CPU time" if args.cpu_time else ", wall time")
    )
    headers = ["model", "reference", "input", "ours img/s", "reference img/s", "ratio (median)", "ratio (quartiles)",
               "max abs diff"]  # fmt: skip
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
