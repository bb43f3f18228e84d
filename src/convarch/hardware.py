"""What this machine's processors can do natively: the one place for hardware facts.

Training (mixed precision, GPU defaults) and deployment (``ca.optimize``) both ask here, so a rule such as
"bf16 only where the hardware has it" is written once.

Why it matters: on a CPU without native bf16 (AVX2 only) PyTorch emulates bf16 matmuls and convolutions,
and autocast makes a ResNet-50 4-7x *slower* than fp32. Native bf16 arrived with AVX512-BF16 (Cooper Lake)
and AMX (Sapphire Rapids); on GPUs with compute capability 8.0 (Ampere) and later.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo is unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (AVX512-BF16 or AMX), so bf16 autocast pays."""
    if os.environ.get("CONVARCH_ASSUME_CPU_BF16") in {"0", "1"}:  # for tests of both branches on any CPU
        return os.environ["CONVARCH_ASSUME_CPU_BF16"] == "1"
    return any(flag in cpu_flags() for flag in _CPU_BF16_FLAGS)


def cuda_has_native_bf16(device: torch.device | None = None) -> bool:
    """True on GPUs of compute capability 8.0 (Ampere) or later, whose tensor cores run bf16."""
    if not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def native_low_precision(device: torch.device | str) -> torch.dtype | None:
    """The reduced precision this device runs natively and fast, or None where only fp32 pays.

    GPUs: bf16 from Ampere on (no loss scaling needed), fp16 before. CPUs: bf16 with AVX512-BF16/AMX only.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else None
    return None


def nhwc_convolutions(device: torch.device | str) -> bool:
    """True where convolutions have fast channels_last (NHWC) kernels: cuDNN on GPUs, oneDNN on CPUs.

    There a model in NCHW pays a layout conversion around every conv; measured 1.2-1.4x on an AVX2 CPU.
    """
    device = torch.device(device)
    return device.type == "cuda" or (device.type == "cpu" and torch.backends.mkldnn.is_available())


@dataclass(frozen=True)
class PrecisionPlan:
    """How to run mixed precision on one device: the autocast dtype (None: fp32) and why."""

    dtype: torch.dtype | None
    grad_scaler: bool
    reason: str

    @property
    def enabled(self) -> bool:
        return self.dtype is not None


def precision_plan(device: torch.device | str, requested: bool) -> PrecisionPlan:
    """Mixed precision for training or inference on ``device`` when the user asked for it (or not).

    fp16 needs a GradScaler (its range overflows gradients); bf16 has fp32's range and needs none.
    """
    device = torch.device(device)
    if not requested:
        return PrecisionPlan(None, False, "mixed precision off")
    dtype = native_low_precision(device)
    if dtype is None:
        return PrecisionPlan(
            None,
            False,
            f"mixed precision is off: this {device.type.upper()} has no native bf16 (AVX512-BF16 or AMX), "
            "and emulated bf16 runs 4-7x slower than fp32",
        )
    name = "bf16" if dtype == torch.bfloat16 else "fp16 with loss scaling"
    return PrecisionPlan(dtype, dtype == torch.float16, f"mixed precision: {name} autocast on {device.type}")


def describe() -> dict[str, object]:
    """A summary for benchmark headers and ``convarch bench``: what runs natively here."""
    info: dict[str, object] = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "cpus": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_native_bf16"] = cuda_has_native_bf16()
    return info
