"""The deploy benchmarks' own code runs: the GPU check in its CPU dry run (the device script calls it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))


@pytest.mark.slow
def test_gpu_deploy_check_dry_run_on_the_cpu() -> None:
    from deploy_gpu import gpu_deploy_check

    result = gpu_deploy_check(device="cpu", dry_run=True, budget_s=30)
    assert result["met"] is None and result["model"] == "resnet18" and result["batch"] == 2
    assert set(result["ratios"]) == {"optimized_eager"} and result["ratios"]["optimized_eager"] > 0
    assert result["images_per_s"]["torchvision_eager_fp32"] > 0 and 0 <= result["top1_agreement_vs_fp32"] <= 1
    assert "batch norms folded" in result["optimized_steps"][0]
