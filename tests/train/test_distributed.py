"""Two processes on the CPU (gloo on localhost), as ``torchrun --nproc_per_node=2`` would start them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from tests.train.ddp_worker import run_rank

from convarch.data.builtin import digits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_see_disjoint_shards_and_end_with_identical_weights(tmp_path: Path) -> None:
    mp.spawn(run_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    from safetensors.torch import load_file

    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    train_size = round(len(digits().labels) * 0.8)  # the default 20% held out
    for epoch in ("0", "1"):
        shards = [reports[r]["seen"][epoch] for r in range(2)]
        assert set(shards[0]).isdisjoint(shards[1])  # each image once per epoch, on one rank
        assert len(shards[0]) == len(shards[1]) == len(set(shards[0])) == train_size // 2
    assert reports[0]["seen"]["0"] != reports[0]["seen"]["1"]  # set_epoch: a new order every epoch
    weights = [load_file(tmp_path / f"rank{r}.safetensors") for r in range(2)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    measured = ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5")
    assert [[row[k] for k in measured] for row in reports[0]["history"]] == [
        [row[k] for k in measured] for row in reports[1]["history"]
    ]  # all-reduced: every rank reports the same numbers
    run = tmp_path / "run"
    assert (run / "last.safetensors").is_file() and (run / "state.safetensors").is_file()  # written by rank 0
