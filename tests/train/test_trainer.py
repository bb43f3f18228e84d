"""The trainer: what a run writes, exact resume, a diverging loss, a full disk, and the run directory rules."""

from __future__ import annotations

import csv
import dataclasses
import errno
import json
import os
from pathlib import Path

import pytest
import torch
from tests.train.helpers import FAST, TINY, weights_equal

import convarch as ca
from convarch.train.checkpoint import CheckpointWriteError, read_state
from convarch.train.trainer import TrainingDiverged
from convarch.weights.checkpoint import read_header


class Interrupt(Exception):
    pass


def stop_at(epoch: int, step: int = 2):  # type: ignore[no-untyped-def]
    """An on_batch hook that raises in the middle of ``epoch``, like a crash."""
    seen = {"steps": 0}

    def hook(current: int, index: torch.Tensor) -> None:
        if current == epoch:
            seen["steps"] += 1
            if seen["steps"] > step:
                raise Interrupt

    return hook


def test_a_run_writes_checkpoints_metrics_and_learns(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = ca.train(TINY, "digits", out=out, epochs=3, threads=1, quiet=True)
    assert result.final_top1 >= 0.7  # 3 epochs on 1,437 digits: a floor with a wide margin
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr", "time", "images_per_s"} <= set(
        rows[0]
    )
    assert json.loads((out / "metrics.json").read_text()) == result.history
    last = ca.load(out / "last.safetensors")
    assert last.class_names == [str(d) for d in range(10)] and weights_equal(last, result.model)
    assert last.pretrained_cfg["crop"] == 16 and len(last.pretrained_cfg["mean"]) == 1  # preprocessing recorded
    header = read_header(out / "best.safetensors")
    assert header["epoch"] == str(result.best_epoch)
    assert json.loads(header["data"])["source"] == "digits"
    assert json.loads((out / "data.json").read_text())["train"] == len(result.data.train) == 1438  # 20% held out
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_resume_after_a_crash_is_bit_identical(tmp_path: Path) -> None:
    options = {"epochs": 3, "batch_size": 64, "threads": 1, "ema": True, "quiet": True}
    whole = ca.train(TINY, "digits", out=tmp_path / "whole", **options)
    with pytest.raises(Interrupt):
        ca.train(TINY, "digits", out=tmp_path / "crash", on_batch=stop_at(epoch=1), **options)
    assert read_header(tmp_path / "crash" / "state.safetensors")["epoch"] == "1"
    resumed = ca.train(resume=tmp_path / "crash", quiet=True)
    assert weights_equal(resumed.model, whole.model)  # the EMA weights
    raw_whole, _, _ = read_state(tmp_path / "whole" / "state.safetensors")
    raw_resumed, _, _ = read_state(tmp_path / "crash" / "state.safetensors")
    assert raw_whole.keys() == raw_resumed.keys() and all(torch.equal(raw_whole[k], raw_resumed[k]) for k in raw_whole)
    measured = ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5", "lr")  # not the timings
    assert [[r[k] for k in measured] for r in resumed.history] == [[r[k] for k in measured] for r in whole.history]
    records = [json.loads((tmp_path / run / "data.json").read_text()) for run in ("whole", "crash")]
    assert records[0] == records[1] and records[0]["preprocessing"] == "model input size, training-set mean/std"


def test_a_resumed_run_clears_what_a_kill_left_half_written(tmp_path: Path) -> None:
    with pytest.raises(Interrupt):  # killed in epoch 2, after epoch 1 was saved
        ca.train(TINY, "digits", out=tmp_path / "r", on_batch=stop_at(epoch=1), quiet=True, **FAST)
    (tmp_path / "r" / ".state.safetensors.x1y2z3.safetensors").write_bytes(b"half a file")
    ca.train(resume=tmp_path / "r", quiet=True)
    assert not [p.name for p in (tmp_path / "r").iterdir() if p.name.startswith(".")]


def test_resume_refuses_changed_options_and_a_run_is_not_overwritten(tmp_path: Path) -> None:
    ca.train(TINY, "digits", out=tmp_path / "r", epochs=1, threads=1, quiet=True)
    with pytest.raises(ca.ConfigError, match=r"differ: epochs \(5 vs 1\)"):
        ca.train(resume=tmp_path / "r", epochs=5)
    with pytest.raises(ca.ConfigError, match="already holds a training run; continue it with resume="):
        ca.train(TINY, "digits", out=tmp_path / "r", epochs=1, threads=1, quiet=True)
    with pytest.raises(ca.WeightsError, match="not a training run"):
        ca.train(resume=tmp_path / "nothing")


def test_resume_without_the_state_file_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "r"
    ca.train(TINY, "digits", out=out, epochs=1, threads=1, quiet=True)
    (out / "state.safetensors").unlink()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ca.WeightsError, match=r"holds last.safetensors, .* but not state.safetensors.*nothing was"):
        ca.train(resume=out, quiet=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(Interrupt):
        ca.train(TINY, "digits", out=out, on_batch=stop_at(epoch=0), quiet=True, **FAST)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "data.json"]  # nothing to lose
    assert len(ca.train(resume=out, quiet=True).history) == FAST["epochs"]


def test_resume_into_an_unwritable_directory_fails_before_training(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    out = tmp_path / "r"
    with pytest.raises(Interrupt):
        ca.train(TINY, "digits", out=out, on_batch=stop_at(epoch=1), quiet=True, **FAST)
    steps: list[int] = []

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what atomic_write meets in a read-only directory
    with pytest.raises(CheckpointWriteError, match=r"permission denied.*make .* writable"):
        ca.train(resume=out, on_batch=lambda epoch, index: steps.append(epoch), quiet=True)
    assert steps == []  # refused before the first batch, not after an epoch


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "nan"
    holder: dict[str, torch.nn.Module] = {}

    def poison(epoch: int, index: torch.Tensor) -> None:
        if epoch == 1:
            with torch.no_grad():
                holder["model"].features.conv1.weight.fill_(float("nan"))

    model = ca.build(TINY)
    holder["model"] = model
    with pytest.raises(
        TrainingDiverged, match=r"loss became nan at epoch 2, step 1.*last good checkpoint is .*epoch 1"
    ):
        ca.train(model, "digits", out=out, on_batch=poison, quiet=True, **FAST)
    kept = ca.load(out / "last.safetensors")
    assert read_header(out / "last.safetensors")["epoch"] == "1"
    assert all(torch.isfinite(t).all() for t in kept.state_dict().values() if t.is_floating_point())


def test_weights_that_diverge_in_the_last_step_of_an_epoch_are_not_saved(tmp_path: Path) -> None:
    # 5 labels per class: 50 images, one step per epoch, so the poisoned update is the epoch's last and no
    # later batch loss could notice it; only the end-of-epoch check stands between it and the checkpoints.
    out = tmp_path / "nan"
    holder: dict[str, torch.nn.Module] = {}

    def poison_gradient(epoch: int, index: torch.Tensor) -> None:
        if epoch == 1:
            holder["model"].features.conv1.weight.register_hook(lambda grad: grad * float("nan"))

    model = ca.build(TINY)
    holder["model"] = model
    with pytest.raises(TrainingDiverged, match=r"the weights \(features\.conv1\.weight\) became non-finite "
                       r".*after epoch 2.*last good checkpoint"):  # fmt: skip
        ca.train(model, "digits", out=out, on_batch=poison_gradient, labels_per_class=5, quiet=True, **FAST)
    assert read_header(out / "last.safetensors")["epoch"] == read_header(out / "best.safetensors")["epoch"] == "1"
    assert read_state(out / "state.safetensors")[1]["progress"]["next_epoch"] == 1
    assert len(json.loads((out / "metrics.json").read_text())) == 1
    for name in ("last.safetensors", "best.safetensors"):
        assert all(torch.isfinite(t).all() for t in ca.load(out / name).state_dict().values() if t.is_floating_point())


def test_a_huge_learning_rate_stops_the_run_instead_of_finishing_with_nan(tmp_path: Path) -> None:
    # The reviewer's case: one huge step leaves finite batch losses but overflowing weights.
    out = tmp_path / "lr"
    with pytest.raises(TrainingDiverged, match=r"after epoch 1; .*no checkpoint was written.*Lower lr \(now 1e\+30\)"):
        ca.train(TINY, "digits", out=out, labels_per_class=5, epochs=1, threads=1, lr=1e30, quiet=True)
    assert not (out / "last.safetensors").exists() and not (out / "metrics.json").exists()


def test_a_full_disk_is_a_clear_error_and_the_previous_checkpoint_stays(tmp_path: Path, monkeypatch) -> None:
    import safetensors.torch

    real_save = safetensors.torch.save_file
    calls = {"n": 0}

    def save_file(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 3:  # epoch 1 writes state, last and best; the disk fills during epoch 2's writes
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(*args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    out = tmp_path / "full"
    with pytest.raises(CheckpointWriteError, match="state.safetensors: the disk is full; the previous state"):
        ca.train(TINY, "digits", out=out, quiet=True, **FAST)
    monkeypatch.setattr(safetensors.torch, "save_file", real_save)
    assert read_header(out / "state.safetensors")["epoch"] == "1"
    assert ca.load(out / "last.safetensors").num_classes == 10
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no partial file left behind
    resumed = ca.train(resume=out, quiet=True)  # and the run continues from what was kept
    assert len(resumed.history) == 2


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_directory_fails_before_training(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(CheckpointWriteError, match="permission denied"):
            ca.train(TINY, "digits", out=locked / "run", quiet=True, **FAST)
    finally:
        locked.chmod(0o700)


def test_a_zoo_model_adapts_to_the_data(tmp_path: Path) -> None:
    # AlexNet-sized nets are too slow for a unit test; LeNet-5 with 3 classes of a folder is the same path.
    from tests.train.helpers import write_class_folder

    root = write_class_folder(tmp_path / "shapes", {"a": 6, "b": 6, "c": 6}, mode="RGB")
    result = ca.train("lenet5", root, epochs=1, batch_size=8, threads=1, quiet=True)
    assert result.model.num_classes == 3 and result.model.class_names == ["a", "b", "c"]
    assert result.model.in_chans == 1  # RGB images were converted to LeNet's grey input


def test_amp_channels_last_clipping_adamw_cosine_and_warmup_run(tmp_path: Path) -> None:
    result = ca.train(TINY, "digits", epochs=2, batch_size=64, threads=1, quiet=True, amp=True, channels_last=True,
                      clip_grad=1.0, optimizer="adamw", schedule="cosine", warmup=1, label_smoothing=0.0)  # fmt: skip
    assert result.final_top1 > 0.2 and all(torch.isfinite(p).all() for p in result.model.parameters())
    assert result.history[0]["lr"] == pytest.approx(2e-3)  # the end of warmup is the peak (AdamW at batch 64)


def test_a_damaged_run_config_is_a_clear_error(tmp_path) -> None:
    from convarch.train.checkpoint import read_config
    from convarch.train.config import TrainConfig

    (tmp_path / "config.json").write_text("{bad")
    with pytest.raises(ca.ConfigError, match="is damaged"):
        read_config(tmp_path)
    with pytest.raises(ca.ConfigError, match="wrong type"):
        TrainConfig.from_dict({"epochs": "x"})


def test_a_damaged_resume_state_is_a_clear_error(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    out = tmp_path / "r"
    ca.train(TINY, "digits", out=out, epochs=1, threads=1, quiet=True)
    state = out / "state.safetensors"
    with safe_open(str(state), framework="pt") as handle:
        header = {**handle.metadata(), "state": "{cut"}
    save_file(read_state(state)[0], str(state), metadata=header)
    with pytest.raises(ca.WeightsError, match=r"state.safetensors is damaged \(its header's state field"):
        ca.train(resume=out, quiet=True)


def test_a_half_precision_resume_state_resumes_in_float32(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    out = tmp_path / "half"
    with pytest.raises(Interrupt):  # stop in epoch 2, after epoch 1's state was written
        ca.train(TINY, "digits", out=out, on_batch=stop_at(epoch=1), quiet=True, **FAST)
    state_path = out / "state.safetensors"
    header = read_header(state_path)
    tensors = {k: v.half() if "/" not in k and v.is_floating_point() else v for k, v in load_file(state_path).items()}
    save_file(tensors, str(state_path), metadata=header)  # the model's tensors as float16, as a hand edit might
    result = ca.train(resume=out, quiet=True)
    assert len(result.history) == FAST["epochs"]
    assert {p.dtype for p in ca.load(out / "last.safetensors").parameters()} == {torch.float32}


def test_a_tie_keeps_the_earlier_epoch_as_best_in_the_file_and_in_the_summary(tmp_path: Path) -> None:
    """A rate too small to move a prediction, in a net without batch norm (its running statistics would move
    them), gives every epoch the same held-out top-1."""
    out = tmp_path / "run"
    net = "INPUT -> CONV3-4 -> RELU -> GAP -> FC10"
    result = ca.train(net, "digits", out=out, epochs=3, lr=1e-12, schedule="constant", labels_per_class=5,
                      threads=1, quiet=True)  # fmt: skip
    assert len({row["val_top1"] for row in result.history}) == 1
    assert result.best_epoch == 1 and read_header(out / "best.safetensors")["epoch"] == "1"


def test_finetune_s_frozen_phase_saves_its_best_epoch_not_its_last(tmp_path: Path, monkeypatch) -> None:
    import sys

    finetune_module = sys.modules["convarch.train.finetune"]  # the package's ``finetune`` is the function
    base = ca.train(TINY, "digits", out=tmp_path / "base", epochs=1, labels_per_class=10, threads=1, quiet=True)
    real_eval = finetune_module._head_eval
    calls = []

    def worse_after_the_first(head, x, y, criterion, classes):  # the held-out top-1 falls after epoch 1
        stats = real_eval(head, x, y, criterion, classes)
        calls.append(1)
        return dataclasses.replace(stats, top1=0.9 if len(calls) == 1 else 0.5)

    monkeypatch.setattr(finetune_module, "_head_eval", worse_after_the_first)
    out = tmp_path / "ft"
    result = ca.finetune(data="digits", weights=base.out / "last.safetensors", out=out, epochs=3, freeze_epochs=3,
                         labels_per_class=10, threads=1, quiet=True)  # fmt: skip
    assert result.best_epoch == 1 and read_header(out / "best.safetensors")["epoch"] == "1"
    assert read_header(out / "last.safetensors")["epoch"] == "3"
    assert not weights_equal(ca.load(out / "best.safetensors"), ca.load(out / "last.safetensors"))


def test_resume_refuses_options_that_change_the_run_and_takes_those_that_do_not(tmp_path: Path) -> None:
    out = tmp_path / "run"
    ca.train(TINY, "digits", out=out, epochs=1, labels_per_class=5, threads=1, quiet=True)
    with pytest.raises(ca.ConfigError, match=r"these differ: epochs \(3 vs 1\); amp \(True vs the default\)\. Leave"):
        ca.train(resume=out, epochs=3, amp=True, quiet=True)
    here = "cuda" if torch.cuda.is_available() else "cpu"  # what the saved "auto" resolves to on this machine
    resumed = ca.train(resume=out, num_workers=0, threads=2, device=here, quiet=True)  # other CPUs, same run
    assert [row["epoch"] for row in resumed.history] == [1]


def test_finetune_resume_refuses_new_options_instead_of_ignoring_them(tmp_path: Path) -> None:
    base = ca.train(TINY, "digits", out=tmp_path / "base", epochs=1, labels_per_class=10, threads=1, quiet=True)
    out = tmp_path / "ft"
    ca.finetune(data="digits", weights=base.out / "last.safetensors", out=out, epochs=2, freeze_epochs=1,
                labels_per_class=10, threads=1, quiet=True)  # fmt: skip
    with pytest.raises(ca.ConfigError, match=r"these differ: layer_decay \(0\.5 vs 0\.\d+\); epochs \(12 vs 2\)"):
        ca.finetune(resume=out, epochs=12, layer_decay=0.5, quiet=True)
    assert ca.finetune(resume=out, threads=1, quiet=True).history[-1]["epoch"] == 2  # finished: nothing to do


def test_a_non_finite_batch_norm_statistic_is_named_as_one() -> None:
    model = ca.build(TINY)
    bn = next(name for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d))

    def poison_statistics(epoch: int, index: torch.Tensor) -> None:
        if epoch == 1:
            model.get_submodule(bn).running_var.fill_(float("inf"))

    with pytest.raises(TrainingDiverged, match=rf"batch-norm statistics \({bn}\.running_var\) became non-finite"):
        ca.train(model, "digits", on_batch=poison_statistics, labels_per_class=5, quiet=True, **FAST)
