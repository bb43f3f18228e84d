"""Issue 13 benchmark: drawing the deepest zoo models, next to analysing them.

    .venv/bin/python benchmarks/bench_draw.py [--repeats 7]

Target: ResNet-152, DenseNet-201 and Inception-ResNet-v2 each draw (the SVG text, default view) in under
0.5 s on 2 cores, in every style; DenseNet-201's collapsed SVG under 300 KB. ``ca.analyze`` of the same
model is timed in the same interleaved run, since a draw includes one analysis. Medians of interleaved
repeats: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import convarch as ca
from timing import interleaved, markdown_table

MODELS = ("resnet152", "densenet201", "inception_resnet_v2")
STYLES = ("volumes", "block", "graph")
LIMIT_S = 0.5
LIMIT_BYTES = 300_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows, ok = [], True
    for name in MODELS:
        candidates = {"analyze": lambda name=name: ca.analyze(name)}
        for style in STYLES:
            candidates[style] = lambda name=name, style=style: ca.draw(name, style=style).svg
        times = interleaved(candidates, args.repeats)
        sizes = {style: len(ca.draw(name, style=style).svg.encode()) for style in STYLES}
        ok &= all(times[s] < LIMIT_S for s in STYLES) and sizes["volumes"] < LIMIT_BYTES
        rows.append([name, f"{times['analyze'] * 1e3:.1f}"]
                    + [f"{times[s] * 1e3:.1f} ({sizes[s] / 1e3:.0f} KB)" for s in STYLES])  # fmt: skip
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{__import__('torch').get_num_threads()}, median of {args.repeats} interleaved repeats")  # fmt: skip
    headers = ["model", "analyze ms"] + [f"draw {s} ms (SVG size)" for s in STYLES]
    print(markdown_table(headers, rows))
    print(f"every draw under {LIMIT_S} s and DenseNet-201's volumes SVG under {LIMIT_BYTES // 1000} KB: "
          f"{'yes' if ok else 'NO'}")  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
