"""The hard requirement: a run killed with SIGKILL at arbitrary moments, then resumed, ends bit-identical.

The run uses BatchNorm, dropout, pad-crop augmentation and an EMA of the weights, so every random stream
and every piece of training state has to survive the kill. The kills land wherever the clock says (during
an epoch, an evaluation or a checkpoint write), several times in one run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tests.train.helpers import TINY

from convarch.train.checkpoint import read_state

EPOCHS = 8
ARGS = ["--data", "digits", "--epochs", str(EPOCHS), "--threads", "1", "--ema", "--batch-size", "32", "--quiet"]


def convarch(*argv: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "convarch", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def epoch_of(out: Path) -> int:
    try:
        return int(read_state(out / "state.safetensors")[1]["progress"]["next_epoch"])
    except Exception:  # not written yet
        return 0


@pytest.mark.slow
def test_sigkill_at_arbitrary_moments_then_resume_is_bit_identical(tmp_path: Path) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    reference = convarch("train", TINY, *ARGS, "--out", str(whole))
    victim = convarch("train", TINY, *ARGS, "--out", str(killed))
    seed = random.randrange(10**6)
    chooser = random.Random(seed)  # printed on failure: the kill times can be replayed
    kills = 0
    for _ in range(3):
        deadline = time.monotonic() + 120
        start_epoch = epoch_of(killed)
        while epoch_of(killed) <= start_epoch and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # wait for this process's first checkpoint
        time.sleep(chooser.uniform(0.0, 0.6))  # then an arbitrary moment in the next epoch or two
        if victim.poll() is not None:
            break
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
        victim = convarch("train", "--resume", str(killed), "--quiet")
    output = victim.communicate(timeout=300)[0]
    assert victim.returncode == 0, output
    assert reference.wait(timeout=300) == 0, reference.communicate()[0]
    assert kills >= 1, f"the run finished before it could be killed (seed {seed})"
    print(f"killed {kills} time(s), seed {seed}")

    ours, _, _ = read_state(killed / "state.safetensors")
    theirs, parts, _ = read_state(whole / "state.safetensors")
    assert parts["progress"]["next_epoch"] == EPOCHS
    assert ours.keys() == theirs.keys()
    differing = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert not differing, f"after {kills} kill(s) (seed {seed}), these differ: {differing}"
    from safetensors.torch import load_file

    last_ours, last_theirs = load_file(killed / "last.safetensors"), load_file(whole / "last.safetensors")
    assert all(torch.equal(last_ours[k], last_theirs[k]) for k in last_theirs)  # the EMA weights too
