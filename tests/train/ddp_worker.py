"""One rank of the two-process CPU test (a module of its own so ``torch.multiprocessing.spawn`` can import it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from tests.train.helpers import TINY

import convarch as ca


def run_rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    seen: dict[int, list[int]] = {}

    def record(epoch: int, index: torch.Tensor) -> None:
        seen.setdefault(epoch, []).extend(index.tolist())

    result = ca.train(TINY, "digits", out=Path(out) / "run", epochs=2, batch_size=32, device="cpu", quiet=True,
                      on_batch=record)  # fmt: skip
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, f"{out}/rank{rank}.safetensors")
    Path(f"{out}/rank{rank}.json").write_text(json.dumps({"seen": seen, "history": result.history}))
