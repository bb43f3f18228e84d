"""One process or many: ``torchrun`` sets RANK/WORLD_SIZE/LOCAL_RANK and we join its process group.

gloo on the CPU, nccl on GPUs. Rank 0 logs and writes; metrics are summed over ranks with all-reduce.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from convarch.errors import ConfigError, advising

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class Distributed:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    owns_group: bool  # we started the process group, so we end it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def all_reduce(self, values: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (a no-op on one process). gloo and nccl both reduce float64."""
        if self.enabled:
            values = values.to(self.device)
            dist.all_reduce(values)
        return values.cpu()

    def all_finite(self, value: torch.Tensor) -> bool:
        """Whether ``value`` is finite on every rank, so all ranks stop together instead of deadlocking."""
        flag = torch.isfinite(value.detach()).all().to(torch.float64).reshape(1)
        if self.enabled:
            flag = flag.to(self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Average floating-point buffers (BatchNorm running statistics) over ranks.

        DDP broadcasts rank 0's buffers before each forward, but the last forward of an epoch leaves every
        rank with statistics of its own shard; averaging them (timm's ``distribute_bn``) makes the ranks
        evaluate and save the same model.
        """
        if not self.enabled:
            return
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer.div_(self.world)

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` on every rank (RNG states for the checkpoint; small objects only)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def device_kind(name: str) -> str:
    """The device a name asks for: ``auto`` is cuda where a GPU is visible, else cpu; others as given."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}")
    name = device_kind(name)
    if name == "cuda":
        if not torch.cuda.is_available():
            raise advising(ConfigError("device='cuda' was asked for but no GPU is visible; use device='cpu'"), "device")
        return torch.device("cuda", local_rank)
    if name == "mps" and not torch.backends.mps.is_available():
        raise advising(ConfigError("device='mps' was asked for but MPS is not available; use device='cpu'"), "device")
    return torch.device(name)


def setup(device_name: str = "auto") -> Distributed:
    """Join the process group that ``torchrun`` describes, or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    owns = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        owns = True
    if dist.is_initialized():
        return Distributed(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)
    return Distributed(0, 1, 0, device, False)
