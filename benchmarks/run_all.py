"""Run every benchmark script in turn with its defaults (``make bench``); each prints its own tables.

    .venv/bin/python benchmarks/run_all.py [--only zoo,analysis]

The results recorded in RESULTS.md come from these scripts; each section there gives the exact command.
Expect tens of minutes on 2 CPU cores: the training and forward benchmarks dominate.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated names, e.g. zoo,analysis (bench_<name>.py)")
    args = parser.parse_args()
    if args.only:
        wanted = {f"bench_{name.strip()}.py" for name in args.only.split(",")}
        unknown = wanted - {s.name for s in scripts}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))}; have {', '.join(s.name for s in scripts)}")
        scripts = [s for s in scripts if s.name in wanted]
    failures = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        failures += subprocess.run([sys.executable, str(script)], check=False).returncode != 0
        print(f"=== {script.name}: {time.perf_counter() - started:.0f} s ===", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
