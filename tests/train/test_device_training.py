"""What a run does on its device: GPU defaults, mixed precision from the hardware, the divergence guard's two
cases, deferred loss checks and a compiled model that compiles once. GPU facts are faked where a decision
only reads them, so all of this runs on the CPU."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
from rich.console import Console
from safetensors import safe_open
from tests.train.helpers import FAST, TINY

import convarch as ca
from convarch.cli import main
from convarch.errors import ConfigError
from convarch.train import trainer as trainer_module
from convarch.train.config import TrainConfig, available_cpus, for_device
from convarch.train.evaluate import eval_precision, finite_with_batch_statistics
from convarch.train.trainer import Trainer, TrainingDiverged
from convarch.weights.checkpoint import read_header

CUDA = torch.device("cuda", 0)


def test_the_cpu_defaults_stay_off_and_a_gpu_turns_them_on() -> None:
    cpu = for_device(TrainConfig(), torch.device("cpu"))
    assert (cpu.amp, cpu.channels_last, cpu.cudnn_benchmark, cpu.num_workers) == (False, False, False, 0)
    gpu = for_device(TrainConfig(), CUDA)
    assert (gpu.amp, gpu.channels_last, gpu.cudnn_benchmark, gpu.num_workers) == (True, True, True, available_cpus())
    off = for_device(TrainConfig(amp=False, channels_last=False, cudnn_benchmark=False, num_workers=3), CUDA)
    assert (off.amp, off.channels_last, off.cudnn_benchmark, off.num_workers) == (False, False, False, 3)
    assert for_device(gpu, CUDA) == gpu  # resolving twice changes nothing


def test_workers_share_the_cpus_among_the_processes_on_a_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    alone = available_cpus()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert available_cpus() == max(1, alone // 2)


def test_gpu_decoding_without_a_gpu_is_refused_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"decode gpu .* device is cpu; use device='cuda'"):
        for_device(TrainConfig(decode="gpu"), torch.device("cpu"))
    with pytest.raises(ConfigError, match="unknown decode 'nvjpeg'"):
        TrainConfig(decode="nvjpeg")
    code = main(["train", TINY, "--data", "digits", "--decode", "gpu", "--device", "cpu", "--quiet", "--out", "-"])
    err = capsys.readouterr().err
    assert code != 0 and "--decode gpu" in err and "Traceback" not in err


def test_amp_on_a_cpu_without_native_bf16_says_why_it_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "0")
    buffer = io.StringIO()
    ca.train(TINY, "digits", amp=True, labels_per_class=5, console=Console(file=buffer, width=300), **FAST)
    lines = [line for line in buffer.getvalue().splitlines() if "mixed precision" in line]
    assert len(lines) == 1 and "no native bf16" in lines[0]
    quiet = io.StringIO()  # asked for and not given: said with --quiet too, which only hides progress
    ca.train(TINY, "digits", amp=True, labels_per_class=5, quiet=True, console=Console(file=quiet, width=300), **FAST)
    assert [line for line in quiet.getvalue().splitlines() if "mixed precision" in line] == lines


def test_evaluation_never_runs_in_fp16() -> None:
    assert eval_precision(torch.float16) is None  # fp16 training (old GPUs) evaluates in fp32
    assert eval_precision(torch.bfloat16) == torch.bfloat16
    assert eval_precision(None) is None


def _poison_running_mean(holder: dict[str, torch.nn.Module], epochs: set[int]):  # type: ignore[no-untyped-def]
    """Running means of -3e38 (finite): the evaluation's activations overflow, the batch statistics' do not."""

    def hook(epoch: int, index: torch.Tensor) -> None:
        if epoch in epochs:
            with torch.no_grad():
                holder["model"].features.bn1.running_mean.fill_(-3e38)

    return hook


def test_a_held_out_overflow_with_finite_weights_warns_and_training_goes_on(tmp_path: Path) -> None:
    model = ca.build(TINY)
    bn = next(name for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert bn == "features.bn1", "the test poisons features.bn1"
    buffer = io.StringIO()
    out = tmp_path / "run"
    result = ca.train(model, "digits", out=out, on_batch=_poison_running_mean({"model": model}, {0}),
                      console=Console(file=buffer, width=400), **FAST)  # fmt: skip
    first = result.history[0]
    assert len(result.history) == 2 and not math.isfinite(first["val_loss"]) and math.isfinite(first["train_loss"])
    warning = [line for line in buffer.getvalue().splitlines() if line.startswith("warning:")]
    assert "after epoch 1" in warning[0] and "weights are finite" in warning[0] and "Training goes on" in warning[0]
    assert read_header(out / "last.safetensors")["epoch"] == "2"
    assert len(json.loads((out / "metrics.json").read_text())) == 2


def test_the_batch_statistics_probe_tells_lagging_statistics_from_overflowing_weights() -> None:
    model = ca.build(TINY).eval()
    x = torch.randn(8, 1, 16, 16)
    with torch.no_grad():
        model.features.bn1.running_mean.fill_(-3e38)
    assert not torch.isfinite(model(x)).all()
    assert finite_with_batch_statistics(model, x)
    assert model.features.bn1.running_mean[0] == -3e38 and not model.training  # the model itself is untouched
    with torch.no_grad():
        model.classifier.weight.fill_(3e38)
    assert not finite_with_batch_statistics(model, x)


def test_an_accelerator_checks_losses_in_windows_and_names_the_first_bad_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Trainer.__init__

    def deferred(self: Trainer, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        self.check_every = 4  # as on a GPU: no sync per step

    monkeypatch.setattr(Trainer, "__init__", deferred)
    model = ca.build(TINY)
    seen = {"steps": 0}

    def poison(epoch: int, index: torch.Tensor) -> None:
        seen["steps"] += epoch == 1
        if epoch == 1 and seen["steps"] == 6:
            with torch.no_grad():
                model.features.conv1.weight.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 6.*last good checkpoint"):
        ca.train(model, "digits", out=tmp_path / "run", on_batch=poison, quiet=True, **FAST)
    assert seen["steps"] == 8  # stopped at the end of the window holding step 6


def test_a_compiled_run_compiles_once_trains_other_batch_sizes_eagerly_and_saves_plain_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graphs: list[str] = []

    def counting_backend(gm: torch.fx.GraphModule, inputs: list[torch.Tensor]):  # type: ignore[no-untyped-def]
        graphs.append(gm.code)
        return gm.forward

    monkeypatch.setattr(
        trainer_module,
        "compile_module",
        lambda module, mode: torch.compile(module, backend=counting_backend, dynamic=False),
    )
    torch._dynamo.reset()
    batches: list[int] = []
    compiled_by_epoch: dict[int, int] = {}

    def record(epoch: int, index: torch.Tensor) -> None:
        batches.append(len(index))
        compiled_by_epoch.setdefault(epoch, len(graphs))

    out = tmp_path / "run"
    # digits: 1,438 training images = 22 batches of 64 and 30 left over; 359 held out = 256 + 103.
    result = ca.train(TINY, "digits", out=out, compile=True, ema=True, epochs=3, batch_size=64, threads=1,
                      quiet=True, on_batch=record)  # fmt: skip
    # every image trains: the remainder of 30 runs through the uncompiled module (the same parameters), so
    # nothing compiles again for it (and a folder batch that lost unreadable files is not thrown away)
    assert batches == ([64] * 22 + [30]) * 3
    assert compiled_by_epoch[1] > 0 and compiled_by_epoch[1] == compiled_by_epoch[2] == len(graphs)
    assert result.history[-1]["val_top1"] > 0.5
    for name in ("last.safetensors", "best.safetensors", "state.safetensors"):
        with safe_open(out / name, "pt") as file:
            assert file.keys() and not any("_orig_mod" in key for key in file.keys()), name  # noqa: SIM118
    torch._dynamo.reset()


def test_the_last_evaluation_batch_of_a_compiled_run_is_padded_in_its_memory_format() -> None:
    from convarch.train.compiled import padded_to

    x = torch.rand(3, 2, 4, 5).contiguous(memory_format=torch.channels_last)
    padded = padded_to(x, 8)
    assert padded.shape == (8, 2, 4, 5) and padded.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(padded[:3], x) and not padded[3:].any()
    assert padded_to(x, 3) is x


def test_a_compile_mode_without_compile_is_refused_and_cuda_graphs_on_the_cpu_are_explained(capsys) -> None:
    with pytest.raises(ca.ConfigError, match="compile_mode reduce-overhead applies to a compiled run only"):
        ca.train(TINY, "digits", compile_mode="reduce-overhead", epochs=1, quiet=True)
    from convarch.cli import main

    code = main(["train", TINY, "--data", "digits", "--compile", "--compile-mode", "reduce-overhead", "--epochs", "1",
                 "--labels-per-class", "5", "--threads", "1"])  # fmt: skip
    assert code == 0 and "CUDA graphs, which need a GPU; on the cpu it compiles as the default mode" in (
        capsys.readouterr().out.replace("\n", " ")
    )
    torch._dynamo.reset()
