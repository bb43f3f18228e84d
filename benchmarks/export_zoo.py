"""Export every zoo model to ONNX at its own input size and check it in ONNX Runtime (issue 15, item 5).

    PYTHONPATH=src .venv/bin/python benchmarks/export_zoo.py [--threads 2] [--only resnet50,vgg16] [--json FILE]

Each model is created with random weights (its family's init), exported with ``ca.export_onnx`` (dynamic
batch) and checked: ONNX Runtime's logits against PyTorch's on random inputs and on 32 built-in digits
prepared for the model; fp32 passes with a max abs diff of at most 1e-4 (for logits up to 10; in proportion
beyond; where the two still differ by more, ONNX Runtime must be no further from a float64 evaluation than
twice PyTorch's fp32: see ``convarch.deploy.check``) and 100% top-1 agreement. Prints a markdown table (the one in
RESULTS.md) and exits non-zero if any model fails. Takes minutes on 2 cores.

A fresh network's batch norms hold their initial statistics (mean 0, variance 1), so activations grow
through deep residual stacks: a fresh resnet101's logits reach 6e4, which is why the limit scales. (An
earlier version set the statistics from 16 digits first; on SE-ResNets that made some variances nearly 0,
an ill-conditioned net where both runtimes' rounding differences grew to 8% of the logits.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

import convarch as ca
from timing import markdown_table


def export_one(name: str, directory: Path) -> dict[str, object]:
    model = ca.create_model(name).eval()
    path = directory / f"{name}.onnx"
    started = time.perf_counter()
    try:
        result = ca.export_onnx(model, path)
    except ca.ConvarchError as error:
        return {"model": name, "passed": False, "error": str(error), "seconds": time.perf_counter() - started}
    finally:
        path.unlink(missing_ok=True)
    check = result.check
    assert check is not None
    return {
        "model": name,
        "input": list(model.spec.input.chw),
        "passed": check.passed,
        "seconds": result.seconds,
        "max_abs_diff": check.max_abs_diff,
        "top1_agreement": check.top1_agreement,
        "images": check.images,
        "logit_scale": check.scale,
        "float64_diff": check.exact_diff,  # asked only beyond the limit: the deployed model's and PyTorch's
        "pytorch_float64_diff": check.reference_error,
    }


def _float64(row: dict[str, object]) -> str:
    """The float64 referee's verdict, where it was asked (see ``convarch.deploy.check``)."""
    if row.get("float64_diff") is None:
        return "-"
    return f"{row['float64_diff']:.1e} / {row['pytorch_float64_diff']:.1e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", help="comma-separated zoo names (default: every model)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.only.split(",") if args.only else ca.list_models()
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="export_zoo-") as tmp:
        for name in names:
            row = export_one(name, Path(tmp))
            rows.append(row)
            status = "pass" if row["passed"] else f"FAIL: {row.get('error', '')}"
            diff = f", max abs diff {row['max_abs_diff']:.1e}" if "max_abs_diff" in row else ""
            print(f"{name}: {row['seconds']:.1f} s{diff}, {status}", flush=True)
            if args.json:  # written as it goes: a long run that is stopped keeps what it measured
                Path(args.json).write_text(json.dumps(rows, indent=2))
    table = [
        [r["model"], "x".join(map(str, r.get("input", [])[1:])), f"{r['seconds']:.1f}",
         f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else "-", f"{r.get('logit_scale', 0):.1e}",
         _float64(r), f"{r['top1_agreement']:.0%}" if "top1_agreement" in r else "-", "pass" if r["passed"] else "FAIL"]
        for r in rows
    ]  # fmt: skip
    headers = ["model", "input", "export + check (s)", "max abs diff", "logits up to",
               "from float64: ORT / PyTorch", "top-1 agreement", "check"]  # fmt: skip
    print(markdown_table(headers, table))
    passed = sum(bool(r["passed"]) for r in rows)
    elapsed = time.perf_counter() - started
    print(f"\n{passed} of {len(rows)} models pass; {elapsed:.0f} s in all; load average {os.getloadavg()[0]:.1f}")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
