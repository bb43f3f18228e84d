"""Issue 12 benchmark: the open node protocol must not slow analysis down.

    .venv/bin/python benchmarks/bench_analysis_protocol.py [--base 48180b9] [--rounds 15] [--calls 20]

Checks out the commit before the protocol (``--base``) in a ``git worktree`` under /tmp, starts one worker
process per tree (each imports its own ``convarch``), and times ``ca.analyze("resnet152")`` at 224x224 in
both, interleaved: each round runs ``--calls`` analyses in one tree, then the other. The result is the median
over every call. Target: this tree within 10% of the base. Both trees must report the same totals.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.10

WORKER = """
import json, sys, time
import convarch as ca
assert ca.__file__.startswith(sys.argv[1]), (ca.__file__, sys.argv[1])
report = ca.analyze("resnet152", input_size=(3, 224, 224))
print(json.dumps({"params": report.params, "macs": report.macs, "rows": len(report.rows)}), flush=True)
for line in sys.stdin:
    samples = []
    for _ in range(int(line)):
        start = time.perf_counter()
        ca.analyze("resnet152", input_size=(3, 224, 224))
        samples.append(time.perf_counter() - start)
    print(json.dumps(samples), flush=True)
"""


def base_tree(commit: str) -> Path:
    """A worktree of ``commit`` under /tmp, made once and reused."""
    path = Path(f"/tmp/convarch-bench-{commit}")
    if not (path / "src" / "convarch").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(path), commit],
                       check=True, capture_output=True)  # fmt: skip
    return path


def worker(tree: Path) -> subprocess.Popen[str]:
    src = str(tree / "src")
    return subprocess.Popen([sys.executable, "-c", WORKER, src], cwd=tree, env={"PYTHONPATH": src, "PATH": "/usr/bin"},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="48180b9")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    trees = {"base": base_tree(args.base), "this tree": ROOT}
    workers = {name: worker(tree) for name, tree in trees.items()}
    totals = {name: json.loads(w.stdout.readline()) for name, w in workers.items()}
    samples: dict[str, list[float]] = {name: [] for name in workers}
    for _ in range(args.rounds):
        for name, w in workers.items():
            w.stdin.write(f"{args.calls}\n")
            w.stdin.flush()
            samples[name] += json.loads(w.stdout.readline())
    for w in workers.values():
        w.stdin.close()
        w.wait()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["this tree"] / medians["base"]
    print(f"machine: {platform.machine()}, {platform.python_version()}; {args.rounds} rounds x {args.calls} calls each")
    for name in workers:
        print(f"{name:10} median {medians[name] * 1e3:.2f} ms over {len(samples[name])} calls; totals {totals[name]}")
    print(f"ratio this/base {ratio:.3f} (target <= {TARGET})")
    if totals["this tree"] != totals["base"]:
        sys.exit("the two trees disagree on ResNet-152's totals")
    if ratio > TARGET:
        sys.exit(f"analysis is {ratio:.2f}x the base: over the {TARGET}x target")


if __name__ == "__main__":
    main()
