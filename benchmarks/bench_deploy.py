"""Deployment speed on the CPU: ``ca.optimize``'s paths against torchvision's eager fp32, in one run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_deploy.py [--threads 2] [--repeats 7] [--no-compile]

Targets (issue 15), each a ratio to torchvision's model of the same architecture in eager fp32 (NCHW, random
weights, ``torch.inference_mode``), every runtime on the same number of threads:
- resnet50, batch 16 at 224: ``optimize(runtime="onnxruntime")`` at least 2.0x, the best torch-only path
  at least 1.4x;
- batch-1 latency of resnet18, googlenet and resnet50: at least 2.0x (the best path);
- exporting resnet50 to ONNX and checking it in ONNX Runtime: under 30 s.

The candidates run interleaved with the reference (``timing.interleaved``), so load hits all alike. The
torch paths are ``optimize(dtype="fp32")`` (BN folded, channels_last) and ``optimize()`` (the same in the
device's native reduced precision, where it has one), and ``optimize(batch_size=B)``, which times those
candidates itself and keeps the fastest, and ``optimize(compile=True)`` (frozen weights, autotuned).

ONNX Runtime's sessions do not spin between runs (``convarch.deploy.runtime``): spinning pool threads took
the 2 cores from the paths timed after them, and doubled torchvision's measured latency at batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

import convarch as ca
from convarch.hardware import describe
from timing import interleaved, markdown_table

warnings.filterwarnings("ignore", message="The default weight initialization of GoogleNet")

TARGETS = {"resnet50_b16_onnxruntime": 2.0, "resnet50_b16_torch": 1.4, "batch1": 2.0, "export_s": 30.0}


def candidates(name: str, batch: int, *, compile: bool) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """torchvision's eager fp32 reference and each optimized path of our model of the same name, with
    ``optimize(batch_size=batch)``'s measured choice among them."""
    ours = ca.create_model(name).eval()
    paths: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "torchvision eager fp32": torchvision.models.get_model(name).eval(),
        "onnxruntime": ca.optimize(ours, runtime="onnxruntime"),
        "torch fp32 (BN folded, channels_last)": ca.optimize(ours, dtype="fp32"),
    }
    native = ca.optimize(ours)
    if native.dtype != torch.float32:
        paths[f"torch {str(native.dtype).removeprefix('torch.')} native"] = native
    measured = ca.optimize(ours, batch_size=batch)
    paths[f"torch measured at batch {batch}: {measured.steps[-1].split(' (')[0]}"] = measured
    if compile:  # in the device's native precision, as optimize chooses it
        compiled = ca.optimize(ours, compile=True)
        compiled(torch.randn(batch, 3, 224, 224))  # compiles here, not in the first timed run
        paths[f"torch {str(compiled.dtype).removeprefix('torch.')} compiled"] = compiled
    return paths


def measure(name: str, batch: int, repeats: int, *, compile: bool) -> dict[str, float]:
    """Median seconds per batch of each path, interleaved."""
    x = torch.randn(batch, 3, 224, 224)
    paths = candidates(name, batch, compile=compile)
    with torch.inference_mode():
        return interleaved({label: (lambda f=f: f(x)) for label, f in paths.items()}, repeats, warmup=2)


def export_seconds() -> float:
    model = ca.create_model("resnet50").eval()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ca.export_onnx(model, Path(tmp) / "resnet50.onnx")
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="leave out optimize(compile=True) (seconds per model to compile on the CPU)")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # ONNX Runtime sessions take the same count (convarch.deploy.runtime)
    print(f"{platform.processor() or platform.machine()}, {json.dumps(describe())}")
    print(f"{args.threads} threads, load average before: {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, object] = {"threads": args.threads, "hardware": describe()}
    rows, met = [], []
    runs = [("resnet50", 16)] + [(name, 1) for name in ("resnet18", "googlenet", "resnet50")]
    for name, batch in runs:
        seconds = measure(name, batch, args.repeats, compile=args.compile)
        base = seconds["torchvision eager fp32"]
        results[f"{name}_b{batch}"] = seconds
        for label, value in seconds.items():
            ratio = base / value
            rows.append([name, str(batch), label, f"{value * 1e3:.1f}", f"{batch / value:.1f}", f"{ratio:.2f}x"])
        ratios = {label: base / value for label, value in seconds.items() if label != "torchvision eager fp32"}
        if batch == 16:
            torch_best = max(v for k, v in ratios.items() if k.startswith("torch"))
            met.append(("resnet50 b16 onnxruntime >= 2.0x", ratios["onnxruntime"], ratios["onnxruntime"] >= 2.0))
            met.append(("resnet50 b16 best torch-only >= 1.4x", torch_best, torch_best >= 1.4))
        else:
            best = max(ratios.values())
            met.append((f"{name} batch-1 latency >= 2.0x", best, best >= 2.0))
        print(f"{name} batch {batch}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()), flush=True)
    exported = export_seconds()
    results["resnet50_export_check_s"] = exported
    met.append(("export + check resnet50 < 30 s", exported, exported < 30))
    print(markdown_table(["model", "batch", "path", "ms / batch", "images/s", "vs torchvision eager fp32"], rows))
    print(markdown_table(["target", "measured", "met"],
                         [[t, f"{v:.2f}", "yes" if ok else "NO"] for t, v, ok in met]))  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(ok for _, _, ok in met) else 1


if __name__ == "__main__":
    sys.exit(main())
