"""benchmarks/gpu_check.py, the one script a GPU machine runs: its dry run on the CPU, its isolation of failing
and overrunning checks, and its one line without a GPU."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import gpu_check


def test_without_a_gpu_it_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_check.main([]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0]


def test_a_failing_or_overrunning_check_is_reported_and_the_rest_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(context: object) -> dict:
        raise RuntimeError("out of memory, say")

    def endless(context: object) -> dict:
        time.sleep(30)
        return {}

    checks = [gpu_check.Check("broken", 5, 1, broken), gpu_check.Check("endless", 1, 1, endless),
              gpu_check.Check("missed", 5, 1, lambda c: {"met": {"a": True, "b": False}}),
              gpu_check.Check("fine", 5, 1, lambda c: {"value": 1.5, "met": True}),
              gpu_check.Check("late", 5, 100, lambda c: {})]  # fmt: skip
    monkeypatch.setattr(gpu_check, "CHECKS", checks)
    monkeypatch.setenv("OUT", str(tmp_path))
    started = time.perf_counter()
    assert gpu_check.main(["--dry-run", "--budget", "60", "--in-process"]) == 0
    assert time.perf_counter() - started < 20
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    status = {name: result["status"] for name, result in summary["checks"].items()}
    assert status == {"broken": "error", "endless": "timeout", "missed": "fail", "fine": "pass", "late": "skipped"}
    assert "out of memory, say" in summary["checks"]["broken"]["error"]
    assert any("test_gpu_check.py" in frame for frame in summary["checks"]["broken"]["where"])
    assert summary["passed"] == ["fine"] and summary["environment"]["torch"] == torch.__version__
    printed = [line.split("] ")[1] for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    ended = [line.split(":")[0] for line in printed if "starting" not in line]
    assert ended == ["broken", "endless", "missed", "fine", "late"]
    assert "endless: starting (limit 1 s)" in printed  # where a run that hangs stopped shows as it happens


@pytest.mark.slow
def test_the_dry_run_runs_real_checks_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUT", str(tmp_path))
    assert gpu_check.main(["--dry-run", "--only", "equivalence,lenet5_mnist5k,finetune,deploy"]) == 0
    checks = json.loads((tmp_path / "gpu_check.json").read_text())["checks"]
    assert list(checks) == ["equivalence", "lenet5_mnist5k", "finetune", "deploy"]
    assert all(result["status"] == "pass" for result in checks.values()), checks
    assert checks["equivalence"]["max_abs_diff"]["alexnet"] <= 1e-4
    torch.set_num_threads(1)  # the dry run set it; the suite's conftest wants one thread too
