"""Hardware facts and the mixed-precision plan: bf16 only where native, fp16 with loss scaling only on old GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from convarch import hardware


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVARCH_ASSUME_CPU_BF16", raising=False)


def fake_cpuinfo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flags: str) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n")
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: real(info if str(self) == "/proc/cpuinfo" else self))
    hardware.cpu_flags.cache_clear()


def test_cpu_flags_come_from_cpuinfo_and_decide_native_bf16(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_override: None
) -> None:
    fake_cpuinfo(monkeypatch, tmp_path, "fpu sse2 avx2 fma")
    assert hardware.cpu_flags() == frozenset({"fpu", "sse2", "avx2", "fma"})
    assert not hardware.cpu_has_native_bf16()
    fake_cpuinfo(monkeypatch, tmp_path, "avx2 avx512f avx512_bf16")
    assert hardware.cpu_has_native_bf16()
    fake_cpuinfo(monkeypatch, tmp_path, "avx2 amx_tile amx_bf16")
    assert hardware.cpu_has_native_bf16()
    hardware.cpu_flags.cache_clear()


def test_the_environment_override_wins_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "1")
    assert hardware.native_low_precision("cpu") == torch.bfloat16
    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "0")
    assert hardware.native_low_precision("cpu") is None


def test_cpu_without_native_bf16_turns_amp_off_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "0")
    plan = hardware.precision_plan("cpu", requested=True)
    assert not plan.enabled and not plan.grad_scaler
    assert "no native bf16" in plan.reason and "slower" in plan.reason and "\n" not in plan.reason
    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "1")
    plan = hardware.precision_plan("cpu", requested=True)
    assert plan.dtype == torch.bfloat16 and not plan.grad_scaler


@pytest.mark.parametrize(
    ("native_bf16", "dtype", "scaler"), [(True, torch.bfloat16, False), (False, torch.float16, True)]
)
def test_gpus_get_bf16_without_a_scaler_and_older_ones_fp16_with_one(
    monkeypatch: pytest.MonkeyPatch, native_bf16: bool, dtype: torch.dtype, scaler: bool
) -> None:
    monkeypatch.setattr(hardware, "cuda_has_native_bf16", lambda device=None: native_bf16)
    plan = hardware.precision_plan(torch.device("cuda", 0), requested=True)
    assert (plan.dtype, plan.grad_scaler, plan.enabled) == (dtype, scaler, True)


def test_not_asking_means_fp32_everywhere() -> None:
    for device in ("cpu", "cuda", "mps"):
        plan = hardware.precision_plan(device, requested=False)
        assert (plan.dtype, plan.grad_scaler) == (None, False)
    assert hardware.native_low_precision("mps") is None


def test_cuda_capability_decides_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for capability, expected in (((7, 0), False), ((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        assert hardware.cuda_has_native_bf16() is expected


def test_describe_names_what_runs_natively() -> None:
    info = hardware.describe()
    assert info["torch"] == torch.__version__
    assert info["cuda"] is torch.cuda.is_available()
    assert isinstance(info["cpu_native_bf16"], bool) and isinstance(info["cpus"], int)
