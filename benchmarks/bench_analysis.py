"""Issue 5 benchmark: static analysis against torchinfo, fvcore and torch.utils.flop_counter; sweep speed.

    .venv/bin/python benchmarks/bench_analysis.py [--repeats 7] [--model resnet152]

Targets (ResNet-152 when it is registered, else the deepest registered model):
- ``ca.analyze`` >= 20x faster at 224x224 than the fastest of torchinfo ``summary``, fvcore
  ``FlopCountAnalysis`` and ``FlopCounterMode``, run as users run them (a CPU model and a real tensor);
  the same tools on the meta device are timed too, for reference;
- at 1024x1024 within 1.2x of our own 224x224 time;
- peak memory of analysing at 4096x4096 under 200 MB (tracemalloc and resident-set growth, in a fresh process);
- hundreds of sweep instances well under a second.
Every timing is a median of interleaved repeats: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).parent))
import convarch as ca
from convarch.analysis.sweep import sweep
from timing import interleaved, markdown_table

SEED = "INPUT(32x32x3) -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"

# Run in a fresh interpreter so that nothing else this script did counts against the peak.
MEMORY_PROBE = """
import json, sys, tracemalloc
import convarch as ca

def status(key):  # kB -> bytes; VmHWM is this process's peak resident set (ru_maxrss survives exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

ca.analyze(sys.argv[1])  # imports and the registry loaded before measuring
import_peak, before = status("VmHWM"), status("VmRSS")
tracemalloc.start()
report = ca.analyze(sys.argv[1], input_size=(3, 4096, 4096))
current, peak = tracemalloc.get_traced_memory()
print(json.dumps({"tracemalloc_peak": peak, "rss_growth": status("VmRSS") - before, "import_peak": import_peak,
                  "peak_after": status("VmHWM"), "forward_bytes": report.forward_bytes, "rows": len(report.rows)}))
"""


def default_model() -> str:
    if "resnet152" in ca.list_models():
        return "resnet152"
    return max(ca.list_models(), key=lambda n: len(ca.analyze(n).rows))  # until the deep families land


def references(model: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """The three tools as their documentation shows them: one call that runs the model on ``x``."""
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode
    from torchinfo import summary

    def torchinfo_summary() -> object:
        return summary(model, input_data=x, verbose=0)

    def fvcore_flops() -> object:
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return analysis.total()

    def flop_counter() -> object:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return counter.get_total_flops()

    return {"torchinfo": torchinfo_summary, "fvcore": fvcore_flops, "flop_counter": flop_counter}


def static_speed(name: str, repeats: int) -> tuple[list[list[str]], dict[str, float]]:
    tv_name = name if name in torchvision.models.list_models() else None
    candidates: dict[str, Callable[[], object]] = {
        "convarch 224": lambda: ca.analyze(name),
        "convarch 1024": lambda: ca.analyze(name, input_size=(3, 1024, 1024)),
    }
    if tv_name is not None:
        cpu_model = torchvision.models.get_model(tv_name).eval()
        for tool, fn in references(cpu_model, torch.randn(1, 3, 224, 224)).items():
            candidates[f"{tool} (cpu)"] = fn
        with torch.device("meta"):
            meta_model = torchvision.models.get_model(tv_name).eval()
        for tool, fn in references(meta_model, torch.empty(1, 3, 224, 224, device="meta")).items():
            try:
                fn()
            except Exception as error:  # fvcore traces with TorchScript, which meta tensors may not support
                print(f"{tool} on meta: skipped ({type(error).__name__}: {str(error).splitlines()[0][:80]})")
                continue
            candidates[f"{tool} (meta)"] = fn
        candidates["convarch hooks (meta)"] = lambda: ca.analyze(meta_model, input_size=(3, 224, 224))
    times = interleaved(candidates, repeats)
    ours = times["convarch 224"]
    rows = [[tool, f"{t * 1e3:.2f}", f"{t / ours:.1f}x"] for tool, t in times.items()]
    return rows, times


def peak_memory(name: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sweep_speed(repeats: int) -> list[list[str]]:
    spec = ca.parse(SEED)
    grids = {
        "N=1..5 M=1..5 K=0..3": {"N": list(range(1, 6)), "M": list(range(1, 6)), "K": list(range(4))},
        "N=1..6 M=1..6 K=0..8": {"N": list(range(1, 7)), "M": list(range(1, 7)), "K": list(range(9))},
    }
    rows = []
    for label, grid in grids.items():
        count = len(sweep(spec, grid))
        for checker, what in ((None, "counts"), (ca.check, "counts + ca.check findings")):
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                sweep(spec, grid, checker=checker)
                seconds.append(time.perf_counter() - start)
            median = sorted(seconds)[len(seconds) // 2]
            rows.append([label, str(count), what, f"{median:.3f}", f"{median / count * 1e3:.2f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # fvcore and TorchScript warn about ops they skip; counts are not used
    name = args.model or default_model()
    machine = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {machine}, {torch.get_num_threads()} threads, model {name}, "
          f"median of {args.repeats} interleaved repeats\n")  # fmt: skip

    rows, times = static_speed(name, args.repeats)
    print(markdown_table(["analysis of " + name, "ms", "vs convarch 224"], rows))
    cpu_refs = {k: v for k, v in times.items() if k.endswith("(cpu)")}
    if cpu_refs:
        fastest = min(cpu_refs, key=cpu_refs.get)
        speedup = cpu_refs[fastest] / times["convarch 224"]
        print(f"\nspeed-up over the fastest reference on CPU tensors ({fastest}): {speedup:.0f}x (target >= 20x)")
    meta_refs = {k: v for k, v in times.items() if k.endswith("(meta)") and not k.startswith("convarch")}
    if meta_refs:
        fastest = min(meta_refs, key=meta_refs.get)
        print(f"speed-up over the fastest reference on the meta device ({fastest}): "
              f"{meta_refs[fastest] / times['convarch 224']:.0f}x")  # fmt: skip
    print(f"1024x1024 / 224x224 time: {times['convarch 1024'] / times['convarch 224']:.2f} (target <= 1.2)")

    memory = peak_memory(name)
    print(f"\nanalysing {name} at 4096x4096 ({memory['rows']} rows; its forward pass would need "
          f"{memory['forward_bytes'] / 2**30:.1f} GiB of activations): tracemalloc peak "
          f"{memory['tracemalloc_peak'] / 2**20:.2f} MiB, resident-set growth {memory['rss_growth'] / 2**20:.1f} "
          f"MiB; process peak {memory['peak_after'] / 2**20:.0f} MiB, of which importing torch and convarch "
          f"took {memory['import_peak'] / 2**20:.0f} MiB before the analysis; target < 200 MB")  # fmt: skip

    print()
    print(markdown_table(["sweep of the seed pattern", "instances", "what", "seconds", "ms/instance"],
                         sweep_speed(max(3, args.repeats // 2))))  # fmt: skip


if __name__ == "__main__":
    main()
