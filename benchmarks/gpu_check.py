"""Every GPU check of issue 16 in one run of under 5 minutes on one H100 or H200, with a JSON summary.

    PYTHONPATH=src python benchmarks/gpu_check.py              # on a machine with a CUDA GPU
    PYTHONPATH=src python benchmarks/gpu_check.py --dry-run    # tiny sizes on the CPU: tests the script itself
    PYTHONPATH=src python benchmarks/gpu_check.py --only lenet5,jpeg_pipeline --budget 120

Each check runs in its own try/except under its own time limit, in order of importance, and is skipped when
the total budget cannot fit it; one failure never loses the others. A line per check is printed (flushed) as
it ends, and the summary is rewritten after every check to ``$OUT/gpu_check.json`` when ``$OUT`` is set.
Targets (issue 16) are ratios measured in this same run; each result says whether its target was ``met``.
Without a GPU (and without --dry-run) the script says so in one line and exits 0.

Every check's own limit adds up to more than one run's budget, so a run keeps to the most important ones.
The checks still open after the two H100 runs of 2026-11-27 fit one run of ``--budget 285``:
``--only deploy,compile_small_nets,resume_after_kill,gpu_tests,compiled_throughput``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
import gpu_checks

TOTAL_BUDGET_S = 270.0  # with the interpreter's start and the imports, under 5 minutes


@dataclass(frozen=True)
class Sizes:
    """What each check runs on: the real sizes on a GPU, tiny ones for --dry-run on the CPU."""

    device: str = "cuda"
    dry: bool = False
    equivalence: tuple[str, ...] = ("resnet50", "googlenet", "densenet121", "vgg16_bn", "alexnet")
    equivalence_image: int = 224
    jpegs: int = 2000
    jpeg_hw: tuple[int, int] = (256, 320)
    image: int = 224  # the folder runs' and resnet50's input side
    folder_model: str = "resnet18"
    folder_batch: int = 128
    folder_epochs: int = 2
    big_model: str = "resnet50"
    big_batch: int = 256
    big_epochs: int = 3
    throughput_steps: int = 10
    lenet_epochs: int | None = None  # None: the default (30)
    small_epochs: int = 3
    small_batch: int = 128
    labels_per_class: int | None = None  # None: all of mnist5k
    workers: int | None = None  # None: the CPUs available


FULL = Sizes()
DRY = Sizes(device="cpu", dry=True, equivalence=("alexnet", "resnet18"), equivalence_image=64, jpegs=60,
            jpeg_hw=(40, 48), image=32, folder_batch=8, folder_epochs=2, big_model="resnet18", big_batch=8,
            big_epochs=2, throughput_steps=2, lenet_epochs=2, small_epochs=2, small_batch=16, labels_per_class=10,
            workers=2)  # fmt: skip


class CheckTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise CheckTimeout("the check ran past its time limit")


@dataclass
class Check:
    name: str
    budget_s: float  # its time limit; it is skipped when less than ``minimum_s`` of the total is left
    minimum_s: float
    run: Callable[[gpu_checks.Context], dict[str, Any]]


CHECKS = [  # in order of importance: the budget skips from the end
    Check("equivalence", 30, 10, gpu_checks.equivalence),
    Check("lenet5_mnist5k", 30, 15, gpu_checks.lenet5_mnist5k),
    Check("resnet18_folder_defaults", 60, 25, gpu_checks.resnet18_folder_defaults),
    Check("jpeg_pipeline", 75, 30, gpu_checks.jpeg_pipeline),
    Check("train_vs_plain_loop", 45, 20, gpu_checks.train_vs_plain_loop),
    Check("throughput_vs_torchvision", 40, 15, gpu_checks.throughput_vs_torchvision),
    Check("compile_small_nets", 70, 30, gpu_checks.compile_small_nets),
    Check("finetune", 25, 10, gpu_checks.finetune),
    Check("torchrun_one_process", 40, 15, gpu_checks.torchrun_one_process),
    Check("resume_after_kill", 45, 20, gpu_checks.resume_after_kill),
    Check("deploy", 120, 30, gpu_checks.deploy),  # torch.compile of resnet50 takes ~60 s of it
    Check("gpu_tests", 45, 15, gpu_checks.gpu_tests),
    Check("compiled_throughput", 90, 30, gpu_checks.compiled_throughput),
]


def run_checks(
    sizes: Sizes, names: list[str], budget: float, out: Path | None, dry: bool, isolate: bool = True
) -> dict[str, Any]:
    """Run each check in a child process of its own, killed with its process group at its time limit.

    A check in-process could hang past any alarm: an exception raised by SIGALRM inside a DataLoader's
    ``__del__`` is swallowed, and the first GPU run lost every check after the hung one that way.
    """
    started = time.perf_counter()
    summary: dict[str, Any] = {"sizes": asdict(sizes), "environment": gpu_checks.environment(sizes), "checks": {}}
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        for check in CHECKS:
            if check.name not in names:
                continue
            left = budget - (time.perf_counter() - started)
            if left < check.minimum_s:
                result: dict[str, Any] = {"status": "skipped", "reason": f"{left:.0f} s of the budget left"}
            else:
                limit = min(check.budget_s, left)
                now = time.perf_counter() - started
                print(f"[{now:6.1f} s] {check.name}: starting (limit {limit:.0f} s)", flush=True)
                result = _run_child(check, Path(tmp), limit, dry) if isolate else _in_process(check, sizes, tmp, limit)
            summary["checks"][check.name] = result
            summary["total_s"] = round(time.perf_counter() - started, 1)
            print(f"[{summary['total_s']:6.1f} s] {check.name}: {json.dumps(result)}", flush=True)
            _write(summary, out)
    summary["passed"] = sorted(n for n, r in summary["checks"].items() if r.get("status") == "pass")
    summary["not_passed"] = sorted(n for n, r in summary["checks"].items() if r.get("status") != "pass")
    _write(summary, out)
    return summary


def _run_child(check: Check, tmp: Path, limit: float, dry: bool) -> dict[str, Any]:
    began = time.perf_counter()
    result_file = tmp / f"result-{check.name}.json"
    argv = [sys.executable, __file__, "--child", check.name, "--tmp", str(tmp), "--limit", str(limit)]
    child = subprocess.Popen([*argv, *(["--dry-run"] if dry else [])], start_new_session=True)
    try:
        child.wait(timeout=limit + 10)  # the child's own alarm fires first; this catches a hang past it
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        partial = tmp / f"partial-{check.name}.json"  # what the check had measured (Context.note writes it)
        measured = json.loads(partial.read_text()) if partial.is_file() else {}
        return {**measured, "status": "timeout", "error": f"killed after {limit + 10:.0f} s",
                "seconds": round(time.perf_counter() - began, 1)}  # fmt: skip
    if result_file.is_file():
        result = json.loads(result_file.read_text())
    else:
        result = {"status": "error", "error": f"the check's process exited {child.returncode} with no result"}
    result["seconds"] = round(time.perf_counter() - began, 1)
    return result


def _in_process(check: Check, sizes: Sizes, tmp: str, limit: float) -> dict[str, Any]:
    """For tests of the runner itself, whose checks exist only in the test's process."""
    signal.signal(signal.SIGALRM, _on_alarm)
    context = gpu_checks.Context(sizes, Path(tmp))
    context.deadline = time.perf_counter() + limit
    return _run_one(check, context, limit)


def run_child(sizes: Sizes, name: str, tmp: Path, limit: float) -> None:
    """In the child: run one check and write its result where the parent looks for it."""
    signal.signal(signal.SIGALRM, _on_alarm)
    check = next(c for c in CHECKS if c.name == name)
    context = gpu_checks.Context(sizes, tmp, partial_file=tmp / f"partial-{name}.json")
    context.deadline = time.perf_counter() + limit
    result = _run_one(check, context, limit)
    (tmp / f"result-{name}.json.tmp").write_text(json.dumps(result, default=str))
    (tmp / f"result-{name}.json.tmp").replace(tmp / f"result-{name}.json")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: leftover DataLoader workers must not hang the exit


def _run_one(check: Check, context: gpu_checks.Context, limit: float) -> dict[str, Any]:
    began = time.perf_counter()
    context.partial = {}  # what a check has measured so far: kept when it fails or runs out of time
    signal.alarm(max(1, int(limit)))
    try:
        result = check.run(context)
        met = result.get("met")
        result["status"] = (
            "pass" if met is None or met is True or (isinstance(met, dict) and all(met.values())) else ("fail")
        )
    except BaseException as error:  # a check's failure is a result, never the end of the run
        if isinstance(error, KeyboardInterrupt):
            raise
        result = {**context.partial, "status": "timeout" if isinstance(error, CheckTimeout) else "error",
                  "error": f"{type(error).__name__}: {error}"[:800], "where": _where(error)}  # fmt: skip
    finally:
        signal.alarm(0)
    result["seconds"] = round(time.perf_counter() - began, 1)
    return result


def _where(error: BaseException) -> list[str]:
    """The frames of the traceback in this repository's code (and the innermost one), for the report."""
    frames = traceback.extract_tb(error.__traceback__)
    repo = str(Path(__file__).resolve().parent.parent)
    kept = [f for f in frames if f.filename.startswith(repo)]
    if frames and (not kept or kept[-1] is not frames[-1]):
        kept.append(frames[-1])
    return [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in kept][-8:]


def _write(summary: dict[str, Any], out: Path | None) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / "gpu_check.json.tmp"
    temporary.write_text(json.dumps(summary, indent=1, default=str))
    temporary.replace(out / "gpu_check.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (tests the script)")
    parser.add_argument("--only", default=",".join(c.name for c in CHECKS), help="comma-separated check names")
    parser.add_argument("--budget", type=float, default=TOTAL_BUDGET_S, help="total seconds for all checks")
    parser.add_argument("--in-process", action="store_true", help="no child process per check (tests only)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one check in this process
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.dry_run:
            torch.set_num_threads(1)
        run_child(DRY if args.dry_run else FULL, args.child, Path(args.tmp), args.limit)
    if not args.dry_run and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU is visible (torch {torch.__version__}); nothing to check", flush=True)
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - {c.name for c in CHECKS})
    if unknown:
        parser.error(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(c.name for c in CHECKS)}")
    if args.dry_run:
        torch.set_num_threads(1)  # a shared CPU: more threads than free cores makes every step crawl
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    summary = run_checks(DRY if args.dry_run else FULL, names, args.budget, out, args.dry_run, not args.in_process)
    print(json.dumps(summary, indent=1, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
