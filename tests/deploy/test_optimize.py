"""``ca.optimize``: an inference-only model that computes what the model computes, on the fastest path.

fp32 (BN folded, channels_last, ONNX Runtime): max abs diff on logits at most 1e-4 for every family and
block type. Reduced precision: top-1 agreement at least 99% on the built-in digits through a LeNet-5
trained on mnist5k. The native-only rule is tested both ways by telling ``convarch.hardware`` what to assume.
"""

from __future__ import annotations

import pytest
import torch
from tests.family_samples import BLOCK_PATTERNS, small_zoo_model, smallest_per_family

import convarch as ca
from convarch.data.builtin import digits
from convarch.data.preprocess import model_preprocessing
from convarch.deploy.optimize import OptimizedModel, fold_batchnorm, optimize
from convarch.deploy.runtime import OnnxRuntimeModel
from convarch.errors import ConfigError

FAMILIES = smallest_per_family()


def _max_diff(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x).float() - b(x).float()).abs().max())


@pytest.mark.parametrize("family", FAMILIES)
def test_fp32_optimize_matches_every_family_and_leaves_the_model_alone(family: str) -> None:
    model = small_zoo_model(FAMILIES[family])
    before = {key: value.clone() for key, value in model.state_dict().items()}
    optimized = optimize(model, dtype="fp32", channels_last=True)  # the check inside raises beyond 1e-4
    x = torch.randn(2, *model.spec.input.chw)
    assert _max_diff(optimized, model, x) <= 1e-4 and optimized.check.passed
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert optimized.spec is model.spec and optimized.num_classes == model.num_classes


@pytest.mark.parametrize("block", BLOCK_PATTERNS)
def test_fp32_optimize_matches_every_block_type(block: str) -> None:
    model = ca.build(BLOCK_PATTERNS[block]).eval()
    optimized = optimize(model, dtype="fp32")
    assert _max_diff(optimized, model, torch.randn(3, *model.spec.input.chw)) <= 1e-4


def test_batch_norm_is_folded_into_the_conv_before_it() -> None:
    model = small_zoo_model("resnet20")
    convs = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    optimized = optimize(model, dtype="fp32")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in optimized.modules())
    assert f"{convs} batch norms folded" in "; ".join(optimized.steps)
    preact = ca.build("INPUT(16x16x3) -> CONV3-8 -> BN -> RELU -> BN -> CONV3-8 -> GAP -> FC2").eval()
    assert fold_batchnorm(preact) == 1  # a BN after a ReLU has no conv to fold into


def test_onnxruntime_runtime_takes_and_returns_tensors() -> None:
    model = small_zoo_model("resnet20")
    optimized = optimize(model, runtime="onnxruntime")
    assert isinstance(optimized, OnnxRuntimeModel) and optimized.num_classes == 7
    x = torch.randn(5, 3, 32, 32)
    out = optimized(x)
    assert isinstance(out, torch.Tensor) and out.shape == (5, 7) and _max_diff(optimized, model, x) <= 1e-4


def test_reduced_precision_only_where_native_unless_asked(monkeypatch) -> None:
    model = ca.build(BLOCK_PATTERNS["plain"]).eval()
    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "0")
    plain = optimize(model)
    assert plain.dtype == torch.float32 and "no native bf16" in "; ".join(plain.steps)
    assert optimize(model, dtype=torch.bfloat16).dtype == torch.bfloat16  # asked for: done anyway
    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "1")
    native = optimize(model)
    assert native.dtype == torch.bfloat16 and "native on this CPU" in "; ".join(native.steps)


@pytest.fixture(scope="module")
def lenet_on_mnist() -> ca.ConvNet:
    torch.manual_seed(0)
    return ca.train("lenet5", "mnist5k", epochs=2, quiet=True, device="cpu", threads=1).model.eval()


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_reduced_precision_agrees_on_99_percent_of_real_digits(lenet_on_mnist, dtype: str) -> None:
    images = model_preprocessing(lenet_on_mnist)(digits().images)
    optimized = optimize(lenet_on_mnist, dtype=dtype)
    with torch.no_grad():
        expected = lenet_on_mnist(images).argmax(dim=1)
    got = optimized(images).argmax(dim=1)
    agreement = float((got == expected).float().mean())
    assert optimized.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    assert agreement >= 0.99, f"{dtype}: top-1 agreement {agreement:.2%} on {len(images)} digits"


def test_an_optimized_model_is_inference_only_and_keeps_its_precision() -> None:
    optimized = optimize(ca.build(BLOCK_PATTERNS["res"]), dtype="bf16")
    assert isinstance(optimized, OptimizedModel) and optimized.eval() is optimized
    with pytest.raises(ConfigError, match="inference-only"):
        optimized.train()
    optimized.to(torch.float64)
    assert next(optimized.inner.parameters()).dtype == torch.bfloat16


def test_bad_arguments_are_clear() -> None:
    model = ca.build(BLOCK_PATTERNS["lrn"])
    with pytest.raises(ConfigError, match="unknown runtime 'tensorrt'"):
        optimize(model, runtime="tensorrt")
    with pytest.raises(ConfigError, match="unknown dtype 'int8'"):
        optimize(model, dtype="int8")
    with pytest.raises(ConfigError, match="fp32 ONNX graph"):
        optimize(model, runtime="onnxruntime", dtype="bf16")
    with pytest.raises(ConfigError, match="takes a model"):
        optimize("resnet18")  # type: ignore[arg-type]


@pytest.mark.slow
def test_compile_on_request_computes_the_same() -> None:
    model = ca.build(BLOCK_PATTERNS["plain"]).eval()
    optimized = optimize(model, dtype="fp32", compile=True)
    assert (
        "torch.compile" in "; ".join(optimized.steps) and _max_diff(optimized, model, torch.randn(3, 3, 32, 32)) <= 1e-4
    )


def test_a_batch_size_makes_optimize_keep_the_fastest_measured_path(monkeypatch) -> None:
    """The hardware rules say bf16 + channels_last here; measured, NCHW fp32 is fastest, and measured wins."""
    import convarch.analysis.measure as measure

    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "1")
    model = ca.build(BLOCK_PATTERNS["plain"]).eval()
    timed = []

    def fake_time_batch(wrapped, x, **options):
        timed.append((wrapped.dtype, wrapped.memory_format, x.shape[0], options["measure_memory"]))
        fast = wrapped.dtype == torch.float32 and wrapped.memory_format == torch.contiguous_format
        return [0.001 if fast else 0.004] * 3, None

    monkeypatch.setattr(measure, "time_batch", fake_time_batch)
    assert optimize(model).dtype == torch.bfloat16 and not timed  # no batch given: the rules alone
    chosen = optimize(model, batch_size=4)
    assert len(timed) == 4 and {t[2] for t in timed} == {4} and not any(t[3] for t in timed)
    assert chosen.dtype == torch.float32 and chosen.memory_format == torch.contiguous_format
    assert "fp32 NCHW (the fastest of 4 timed)" in chosen.describe() and chosen.timed["fp32 NCHW"] == 0.001
    assert _max_diff(chosen, model, torch.randn(2, 3, 32, 32)) <= 1e-4  # checked like any fp32 result
    timed.clear()
    fixed = optimize(model, batch_size=4, dtype="bf16", channels_last=True)  # nothing left to choose
    assert not timed and fixed.dtype == torch.bfloat16 and fixed.memory_format == torch.channels_last


def test_measuring_runs_the_real_candidates() -> None:
    model = ca.build(BLOCK_PATTERNS["res"]).eval()
    chosen = optimize(model, batch_size=2, dtype="fp32")  # layouts only: NCHW and channels_last
    assert set(chosen.timed) == {"fp32 NCHW", "fp32 channels_last"} and chosen.timed_batch == 2
    assert all(seconds > 0 for seconds in chosen.timed.values())
    with pytest.raises(ConfigError, match="batch_size must be a positive whole number"):
        optimize(model, batch_size=0)


def test_batch_size_takes_numpy_integers_and_a_batch_too_large_is_refused_before_allocating(monkeypatch) -> None:
    import sys

    import numpy as np

    model = ca.build(BLOCK_PATTERNS["plain"]).eval()
    assert optimize(model, batch_size=np.int64(2), dtype="fp32").timed_batch == 2
    monkeypatch.setattr(sys.modules["convarch.analysis.measure"], "available_memory", lambda device: 2**20)
    with pytest.raises(ConfigError, match=r"timing batch 4096 at .* needs about .*Give a smaller batch_size"):
        optimize(model, batch_size=4096, dtype="fp32")
    assert optimize(model, dtype="bf16").check is None  # reduced precision: no fp32 check to report


def test_a_model_without_batch_norm_says_so() -> None:
    optimized = optimize(ca.build("INPUT(8x8x1) -> FC16 -> RELU -> FC4"))
    assert optimized.steps[0] == "no batch norm to fold"


def test_a_close_call_keeps_the_rules_choice_and_big_batches_are_timed_at_32(monkeypatch) -> None:
    import convarch.analysis.measure as measure

    monkeypatch.setenv("CONVARCH_ASSUME_CPU_BF16", "1")
    model = ca.build(BLOCK_PATTERNS["plain"]).eval()
    sizes = []

    def nearly_even(wrapped, x, **options):  # fp32 NCHW 5% faster than the rules' bf16 channels_last
        sizes.append(x.shape[0])
        rules = wrapped.dtype == torch.bfloat16 and wrapped.memory_format == torch.channels_last
        return [0.0100 if rules else 0.0095] * 3, None

    monkeypatch.setattr(measure, "time_batch", nearly_even)
    chosen = optimize(model, batch_size=256)
    assert chosen.dtype == torch.bfloat16 and chosen.memory_format == torch.channels_last
    assert "the rules' choice, within 10% of the fastest" in chosen.describe() and set(sizes) == {32}
    compiled_later = optimize(model, batch_size=4, compile=True)  # timed eagerly would not say what compiles fastest
    assert not compiled_later.timed and len(sizes) == 4
