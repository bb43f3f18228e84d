"""Issue 2 benchmark: create_model time and eager forward throughput against torchvision's same network.

    .venv/bin/python benchmarks/bench_zoo.py [--repeats 7] [--batch 16]

Targets: forward within 3% of torchvision (ratio ours/torchvision of images/s >= 0.97), creation no slower.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).parent))
import convarch as ca
from convarch.zoo.keymaps import from_layout
from timing import interleaved, markdown_table

MODELS = ("alexnet", "vgg11", "vgg16_bn")


def measure(name: str, batch: int, size: int, repeats: int) -> list[str]:
    """One table row: creation time and forward throughput of ours and torchvision's ``name``."""
    create = interleaved(
        {"ours": lambda: ca.create_model(name), "torchvision": lambda: torchvision.models.get_model(name)},
        repeats=max(3, repeats // 2),
    )
    reference = torchvision.models.get_model(name).eval()
    ours = ca.create_model(name).eval()
    ours.load_state_dict(from_layout(name, reference.state_dict(), "torchvision", ours.spec))
    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        assert (ours(x) - reference(x)).abs().max() < 1e-4, "the two networks must compute the same function"
        forward = interleaved({"ours": lambda: ours(x), "torchvision": lambda: reference(x)}, repeats)
    return [
        name,
        f"{create['ours'] * 1e3:.0f}",
        f"{create['torchvision'] * 1e3:.0f}",
        f"{create['torchvision'] / create['ours']:.2f}",
        f"{batch / forward['ours']:.1f}",
        f"{batch / forward['torchvision']:.1f}",
        f"{forward['torchvision'] / forward['ours']:.3f}",  # images/s ours over images/s torchvision
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for name in args.models:
        rows.append(measure(name, args.batch, args.size, args.repeats))
        print(rows[-1], flush=True)
    machine = platform.processor() or platform.machine()
    print(
        f"\ntorch {torch.__version__}, torchvision {torchvision.__version__}, {machine}, "
        f"{torch.get_num_threads()} threads, batch {args.batch}, {args.size}x{args.size}, median of {args.repeats}"
    )
    headers = ["model", "create ours (ms)", "create torchvision (ms)", "create speed ratio", "ours img/s",
               "torchvision img/s", "forward ratio (ours/tv)"]  # fmt: skip
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
