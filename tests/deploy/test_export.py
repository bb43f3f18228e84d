"""Export to ONNX (checked in ONNX Runtime), torch.export programs and checkpoints; bad input fails cleanly.

Every zoo family (its smallest member at a small input) and every block type (a short pattern) exports and
passes the check; `benchmarks/export_zoo.py` does the same for every zoo model at its own input size.
"""

from __future__ import annotations

import copy
import errno
import importlib
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from tests.family_samples import BLOCK_PATTERNS, small_zoo_model, smallest_per_family

import convarch as ca
from convarch.deploy import export, export_onnx, format_for, read_metadata
from convarch.deploy.check import check_against, compare_outputs, input_size_of
from convarch.deploy.runtime import OnnxRuntimeModel, session
from convarch.errors import ConfigError, ExportError, MissingDependencyError

FAMILIES = smallest_per_family()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_exports_and_passes_the_check(family: str, tmp_path: Path) -> None:
    model = small_zoo_model(FAMILIES[family])
    result = export_onnx(model, tmp_path / "m.onnx")
    assert result.check is not None and result.check.passed and result.check.images == 32
    assert result.check.max_abs_diff <= 1e-4 and result.check.top1_agreement == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCK_PATTERNS)
def test_every_block_type_exports_and_passes_the_check(block: str, tmp_path: Path) -> None:
    result = export_onnx(ca.build(BLOCK_PATTERNS[block]), tmp_path / "b.onnx")
    assert result.check is not None and result.check.passed


def test_onnx_has_a_free_batch_and_the_deployment_metadata(tmp_path: Path) -> None:
    model = ca.build("INPUT(28x28x1) -> CONV5-6 -> RELU -> POOL2 -> FC3")
    model.class_names = ["cat", "dog", "eel"]
    model.pretrained_cfg = {"resize": 28, "crop": 28, "mean": [0.1], "std": [0.3], "interpolation": "bilinear"}
    path = export_onnx(model, tmp_path / "m.onnx").path
    facts = read_metadata(path)
    assert facts["input_size"] == [1, 28, 28] and facts["class_names"] == ["cat", "dog", "eel"]
    assert facts["preprocessing"] == {**model.pretrained_cfg} and facts["num_classes"] == 3
    runtime = OnnxRuntimeModel(session(str(path)), facts={})
    for batch in (1, 5):  # exported at batch 2: any batch runs
        x = torch.randn(batch, 1, 28, 28)
        torch.testing.assert_close(runtime(x), model.eval()(x), rtol=0, atol=1e-5)


def test_pt2_is_an_exported_program_with_a_free_batch(tmp_path: Path) -> None:
    model = small_zoo_model("resnet20")
    result = export(model, tmp_path / "m.pt2")
    assert result.format == "pt2" and result.check is not None and result.check.passed
    loaded = torch.export.load(str(result.path)).module()
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=1e-5)


def test_safetensors_export_is_a_checkpoint(tmp_path: Path) -> None:
    model = small_zoo_model("lenet5")
    path = export(model, tmp_path / "m.safetensors").path
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(ca.load(path).eval()(x), model(x))


def test_format_comes_from_the_suffix_and_format_only_overrides_it() -> None:
    assert [format_for(f"m{s}") for s in (".onnx", ".PT2", ".safetensors")] == ["onnx", "pt2", "safetensors"]
    assert format_for("model", "onnx") == "onnx" and format_for("m.bin", "pt2") == "pt2"
    with pytest.raises(ConfigError, match=r"contradicts the suffix of m\.onnx"):
        format_for("m.onnx", "pt2")
    with pytest.raises(ConfigError, match=r"unsupported suffix '\.pth'.*\.onnx, \.pt2 or \.safetensors"):
        format_for("m.pth")
    with pytest.raises(ConfigError, match="unsupported format 'tflite'"):
        format_for("m.onnx", "tflite")


def test_a_missing_or_read_only_directory_fails_before_the_work(tmp_path: Path, monkeypatch) -> None:
    model = ca.build(BLOCK_PATTERNS["lrn"])
    with pytest.raises(ExportError, match="does not exist; create it first"):
        export_onnx(model, tmp_path / "missing" / "m.onnx")

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # as root a chmod would not stop the writes
    for suffix in (".onnx", ".pt2", ".safetensors"):
        with pytest.raises(ExportError, match="permission denied; choose another path"):
            export(model, tmp_path / f"m{suffix}")
    assert _files(tmp_path) == []


class DataDependent(torch.nn.Module):
    """A custom layer the exporter cannot handle: a Python branch on a tensor's value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if float(x.sum()) > 0 else -x


def test_a_layer_the_exporter_cannot_handle_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    model = small_zoo_model("resnet20")
    model.features.layer2 = DataDependent()
    for suffix in (".onnx", ".pt2"):
        with pytest.raises(ExportError, match=r"features\.layer2 \(DataDependent\) cannot be exported"):
            export(model, tmp_path / f"m{suffix}")
    assert _files(tmp_path) == []


def test_a_channel_last_or_wrong_channel_input_size_is_named_before_the_work(tmp_path: Path) -> None:
    lenet = ca.create_model("lenet5")  # 1-channel 32x32 images
    with pytest.raises(ca.SizingError, match=r"input_size \(32, 32, 1\) reads as 32 channels.*is \(1, 32, 32\)"):
        export_onnx(lenet, tmp_path / "l.onnx", input_size=(32, 32, 1))
    with pytest.raises(ca.SizingError, match=r"gives 3-channel images, but the model takes 1-channel ones: give "
                       r"input_size=\(1, 64, 64\)"):  # fmt: skip
        ca.optimize(lenet, input_size=(3, 64, 64))
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())  # no spec: its first conv says
    with pytest.raises(ca.SizingError, match="the model takes 3-channel ones"):
        export_onnx(plain, tmp_path / "p.onnx", input_size=(1, 28, 28))
    assert _files(tmp_path) == []


def test_an_onnx_file_that_fails_its_check_is_removed_and_the_error_says_by_how_much(tmp_path, monkeypatch) -> None:
    real_forward = OnnxRuntimeModel.forward
    monkeypatch.setattr(OnnxRuntimeModel, "forward", lambda self, x: real_forward(self, x) + 3e-3)
    with pytest.raises(ExportError, match=r"max abs diff 3\.0\de-03 \(limit 1e-04\).*It was removed"):
        export_onnx(ca.build(BLOCK_PATTERNS["lrn"]), tmp_path / "m.onnx")
    assert _files(tmp_path) == []


def test_a_top1_disagreement_fails_the_check_even_within_the_tolerance() -> None:
    reference = torch.tensor([[1.0, 0.99985, 0.0], [0.0, 2.0, 1.0]])  # first row: a gap of 1.5e-4, not a tie
    deployed = torch.tensor([[0.99992, 0.99993, 0.0], [0.0, 2.0, 1.0]])  # 8e-5 away, but its top class differs
    outcome = compare_outputs(lambda x: reference, lambda x: deployed, [], torch.zeros(2))
    assert outcome.max_abs_diff <= 1e-4 and outcome.top1_agreement == 0.5 and not outcome.passed
    tie = torch.tensor([[1.0, 0.99995, 0.0]])  # a gap within the tolerance: rounding may break it either way
    flipped = torch.tensor([[0.99996, 0.99997, 0.0]])
    assert compare_outputs(lambda x: tie, lambda x: flipped, [], torch.zeros(1)).passed


def test_onnxruntime_missing_says_how_to_install_the_extra(tmp_path: Path, monkeypatch) -> None:
    real_import = importlib.import_module

    def without_onnxruntime(name: str, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_onnxruntime)
    with pytest.raises(MissingDependencyError, match=r'onnxruntime is not installed.*pip install "convarch\[onnx\]"'):
        export_onnx(ca.build(BLOCK_PATTERNS["lrn"]), tmp_path / "m.onnx")
    assert _files(tmp_path) == [] and issubclass(MissingDependencyError, ImportError)


def test_the_ort_wrapper_takes_and_returns_tensors_and_refuses_training(tmp_path: Path) -> None:
    model = ca.build(BLOCK_PATTERNS["lrn"])
    path = export_onnx(model, tmp_path / "m.onnx").path
    runtime = OnnxRuntimeModel(session(str(path)), facts={"num_classes": 5})
    out = runtime(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, 5)
    assert np.isfinite(out.numpy()).all() and runtime.eval() is runtime
    with pytest.raises(ConfigError, match="inference-only"):
        runtime.train()


def test_an_opset_the_exporter_cannot_write_is_refused_not_replaced(tmp_path: Path) -> None:
    model = ca.build(BLOCK_PATTERNS["lrn"])
    written = onnx.load(str(export_onnx(model, tmp_path / "m.onnx", opset=21).path))
    assert {entry.domain: entry.version for entry in written.opset_import}[""] == 21
    with pytest.raises(ConfigError, match="cannot write ONNX opset 11 for this model"):
        export_onnx(model, tmp_path / "old.onnx", opset=11)
    assert not (tmp_path / "old.onnx").exists()


def test_export_leaves_the_model_in_its_mode() -> None:
    model = ca.build(BLOCK_PATTERNS["plain"]).train()
    with tempfile.TemporaryDirectory() as tmp:
        export(model, Path(tmp) / "m.pt2")
    assert model.training and all(m.training for m in model.modules())


def test_the_limit_grows_with_the_logits_beyond_a_trained_classifier_s_range() -> None:
    small = torch.tensor([[4.0, 1.0, 0.0]])
    assert not compare_outputs(lambda x: small, lambda x: small + 2e-4, [], torch.zeros(1)).passed
    huge = torch.tensor([[6e4, 1e4, 0.0]])  # an untrained ResNet-101's scale: float32 spacing is 4e-3 there
    outcome = compare_outputs(lambda x: huge, lambda x: huge + 1e-2, [], torch.zeros(1))
    assert outcome.passed and outcome.limit == pytest.approx(0.6) and "logits up to 6.0e+04" in outcome.describe()
    assert not compare_outputs(lambda x: huge, lambda x: huge + 1.0, [], torch.zeros(1)).passed


def test_drift_beyond_the_limit_passes_only_where_pytorch_s_own_fp32_drifts_as_far() -> None:
    """Where two fp32 answers differ by more than the limit, a float64 evaluation says which is wrong."""
    truth = torch.tensor([[130.0, 20.0, -5.0]], dtype=torch.float64)
    pytorch = (truth + 5e-3).float()  # PyTorch's own rounding, 5e-3 from the float64 answer
    closer = (truth - 2e-3).float()  # 7e-3 from PyTorch (limit 1.3e-3), but nearer the truth than PyTorch is
    exact_calls = []

    def exact():
        exact_calls.append(1)
        return lambda x: truth

    outcome = compare_outputs(lambda x: pytorch, lambda x: closer, [], torch.zeros(1), exact=exact)
    assert outcome.max_abs_diff > outcome.limit and outcome.passed and len(exact_calls) == 1
    assert outcome.exact_diff == pytest.approx(2e-3, rel=1e-2) and outcome.reference_error == pytest.approx(
        5e-3, rel=1e-2
    )
    assert "as PyTorch itself rounds" in outcome.describe()
    wrong = (truth + 0.5).float()
    failed = compare_outputs(lambda x: pytorch, lambda x: wrong, [], torch.zeros(1), exact=exact)
    assert not failed.passed and "more than rounding" in failed.describe()
    within = compare_outputs(lambda x: pytorch, lambda x: pytorch + 1e-4, [], torch.zeros(1), exact=exact)
    assert within.passed and within.exact_diff is None and len(exact_calls) == 2  # float64 only when needed


def test_check_against_asks_a_float64_copy_and_leaves_the_model_in_float32() -> None:
    model = ca.build(BLOCK_PATTERNS["plain"]).eval()

    def off_by_rounding(x: torch.Tensor) -> torch.Tensor:  # float64 answer rounded to fp32: the most exact one
        return copy.deepcopy(model).double()(x.double()).float() + 2e-4 * (x.shape[0] == 3)

    outcome = check_against(model, off_by_rounding, model.spec.input.chw)
    assert not outcome.passed and outcome.exact_diff is not None and outcome.exact_diff < 3e-4
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the float64 twin was a copy


@pytest.mark.parametrize("suffix", ["onnx", "pt2"])
def test_a_static_batch_export_takes_one_image_and_is_checked_one_image_at_a_time(tmp_path: Path, suffix) -> None:
    model = ca.build(BLOCK_PATTERNS["plain"])
    result = export(model, tmp_path / f"s.{suffix}", dynamic_batch=False)
    assert result.check is not None and result.check.passed and result.check.images == 32
    if suffix == "onnx":
        shape = onnx.load(str(result.path)).graph.input[0].type.tensor_type.shape
        assert shape.dim[0].dim_value == 1  # fixed, not a named free dimension


def test_the_free_batch_dimension_is_called_batch_everywhere(tmp_path: Path) -> None:
    written = onnx.load(str(export_onnx(ca.build(BLOCK_PATTERNS["res"]), tmp_path / "d.onnx").path))
    onnx.checker.check_model(written, full_check=True)
    values = [*written.graph.input, *written.graph.output, *written.graph.value_info]
    names = {dim.dim_param for value in values for dim in value.type.tensor_type.shape.dim if dim.dim_param}
    assert names == {"batch"} and written.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_a_model_that_cannot_run_in_float64_keeps_the_strict_verdict_and_says_why() -> None:
    class CastsToFloat32(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.float().flatten(1))  # float32 input against float64 weights in the twin

    model = CastsToFloat32()
    outcome = check_against(model, lambda x: model(x) + 1e-3, (1, 2, 2))
    assert not outcome.passed and outcome.exact_diff is None and "RuntimeError" in outcome.referee_failed
    assert "no float64 evaluation to tell rounding from error" in outcome.describe()


def test_ties_count_at_the_drift_the_referee_accepted() -> None:
    """PyTorch's top two classes 3e-3 apart: within the drift the referee accepts (2 x PyTorch's 5e-3 from
    float64), beyond the strict limit (1.3e-3 at logits of 130). Rounding may swap them: the swap is a tie."""
    truth = torch.tensor([[130.0, 129.998, -5.0]], dtype=torch.float64)
    pytorch = (truth + torch.tensor([[5e-3, 4e-3, 0.0]], dtype=torch.float64)).float()  # keeps class 0 on top
    swapped = (truth + torch.tensor([[-3e-3, 3e-3, 0.0]], dtype=torch.float64)).float()  # puts class 1 on top
    exact = lambda: lambda x: truth  # noqa: E731
    outcome = compare_outputs(lambda x: pytorch, lambda x: swapped, [], torch.zeros(1), exact=exact)
    assert swapped.argmax() != pytorch.argmax() and outcome.close and outcome.top1_agreement == 1.0
    strict = compare_outputs(lambda x: pytorch, lambda x: swapped, [], torch.zeros(1))  # no referee: no tie
    assert strict.top1_agreement == 0.0 and not strict.passed


def test_a_model_returning_a_tuple_gets_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="returns a tuple, not one tensor of logits"):
        compare_outputs(lambda x: (x, x), lambda x: (x, x), [], torch.zeros(1, 3))


def test_pooled_features_are_named_so_and_bad_opsets_and_optimized_bf16_models_are_refused(tmp_path: Path) -> None:
    features = ca.build(BLOCK_PATTERNS["plain"], num_classes=0)
    written = onnx.load(str(export_onnx(features, tmp_path / "f.onnx").path))
    assert [output.name for output in written.graph.output] == ["features"]
    model = ca.build(BLOCK_PATTERNS["plain"])
    for opset in (-1, 0, 2.5, True):
        with pytest.raises(ConfigError, match="opset must be a positive whole number"):
            export_onnx(model, tmp_path / "o.onnx", opset=opset)
    fast = ca.optimize(model, dtype="bf16")
    for suffix in ("onnx", "pt2"):
        with pytest.raises(ConfigError, match="optimized bfloat16 model, made to run; export the model it was"):
            export(fast, tmp_path / f"b.{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.onnx"]


def test_a_timm_model_says_its_input_size_and_its_own_channels(tmp_path: Path) -> None:
    timm = pytest.importorskip("timm")
    gray = timm.create_model("resnet10t", in_chans=1, num_classes=3)  # pretrained_cfg still says (3, 224, 224)
    assert input_size_of(gray)[0] == 1
    assert input_size_of(timm.create_model("resnet10t", num_classes=3)) == (3, 176, 176)
