"""``ca.export_onnx``: a model to an ONNX file that is checked in ONNX Runtime before it appears.

The torch exporter (``torch.onnx.export(dynamo=True)``) converts the ``torch.export`` program; the batch
dimension stays free. The file's metadata carries what a deployment needs besides the graph: the input
size, the preprocessing and the class names. The file is written to a temporary name, loaded in ONNX
Runtime and compared with PyTorch on random and real inputs; only a file that passes is moved into place,
so a failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convarch.deploy.check import FP32_TOLERANCE, OutputCheck, check_against, input_size_of
from convarch.deploy.program import BATCH, STATIC_BATCH, export_program, first_line, inference_copy, quiet_exporter
from convarch.deploy.runtime import OnnxRuntimeModel, require, session
from convarch.errors import ConfigError, ConvarchError, ExportError, advising
from convarch.io import atomic_write, write_failure
from convarch.spec.layer_base import positive_int

PREPROCESS_KEYS = ("resize", "crop", "crop_pct", "mean", "std", "interpolation")  # crop_pct: timm's models
METADATA_PREFIX = "convarch."


@dataclass(frozen=True)
class Exported:
    """What ``export`` wrote: the file, its format, how long it took, and the check's result (ONNX)."""

    path: Path
    format: str
    seconds: float
    check: OutputCheck | None = None

    def describe(self) -> str:
        size = self.path.stat().st_size / 1e6
        where = "in ONNX Runtime" if self.format == "onnx" else "after torch.export.load"
        checked = f"; checked {where}: {self.check.describe()}" if self.check else ""
        return f"wrote {self.path} ({self.format}, {size:,.1f} MB) in {self.seconds:.1f} s{checked}"


def metadata(model: nn.Module, input_size: tuple[int, int, int]) -> dict[str, str]:
    """The ONNX metadata: input size, preprocessing and class names, each as JSON under ``convarch.``."""
    from convarch import __version__

    cfg = getattr(model, "pretrained_cfg", None) or {}
    preprocessing = {key: cfg[key] for key in PREPROCESS_KEYS if key in cfg} or None
    facts: dict[str, Any] = {
        "input_size": list(input_size),
        "preprocessing": preprocessing,
        "class_names": getattr(model, "class_names", None),
        "num_classes": getattr(model, "num_classes", None),
        "architecture": cfg.get("architecture"),
        "version": __version__,
    }
    return {METADATA_PREFIX + key: json.dumps(value) for key, value in facts.items()}


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``convarch.`` metadata of an ONNX file, parsed (empty for a file convarch did not write)."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)
    return {
        prop.key.removeprefix(METADATA_PREFIX): json.loads(prop.value)
        for prop in model.metadata_props
        if prop.key.startswith(METADATA_PREFIX)
    }


def check_destination(path: Path) -> None:
    """Fail before the work, not after it: a directory that is missing or read-only, or a directory as file."""
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the directory {path.parent} does not exist; create it first")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a directory; give a file name")
    try:  # a probe, since access() says yes to root in a read-only directory and cannot see a read-only mount
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as failure:
        raise ExportError(f"cannot write {path}: {write_failure(failure)}; choose another path") from None
    os.close(fd)
    os.unlink(probe)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    dynamic_batch: bool = True,
    opset: int | None = None,
    input_size: tuple[int, int, int] | None = None,
    check: bool = True,
    tolerance: float = FP32_TOLERANCE,
) -> Exported:
    """Export ``model`` to ``path`` (.onnx) through the torch exporter, then check the file in ONNX Runtime.

    The check compares ONNX Runtime's logits with PyTorch's on random inputs and on real images (the
    built-in digits, prepared as the model expects); a max abs diff over ``tolerance`` or a top-1 class that
    differs on any image raises ``ExportError`` saying by how much, and no file is written.
    """
    started = time.perf_counter()
    path = Path(path)
    if opset is not None:
        try:
            opset = positive_int(opset, "opset")
        except ConfigError as error:
            raise advising(error, "opset") from None
    refuse_reduced_precision(model)
    check_destination(path)
    for package in ("onnx", "onnxscript", *(("onnxruntime",) if check else ())):
        require(package)
    size = input_size_of(model, input_size)
    model = inference_copy(model)
    program = to_onnx_program(model, size, dynamic_batch=dynamic_batch, opset=opset)
    written = program.model.opset_imports.get("")
    if opset is not None and written != opset:  # the exporter falls back to its default without an error
        message = (f"the torch exporter cannot write ONNX opset {opset} for this model (it fell back to {written}); "
                   f"leave opset out for opset {written}, or give one it can convert to (17 and later)")  # fmt: skip
        raise advising(ConfigError(message), "opset")
    program.model.metadata_props.update(metadata(model, size))
    result: list[OutputCheck] = []

    def write(temp: str) -> None:
        program.save(temp, external_data=False)
        if check:
            result.append(check_file(model, temp, size, tolerance=tolerance,
                                     batch=None if dynamic_batch else STATIC_BATCH))  # fmt: skip

    atomic_write(path, write, error=ExportError, advice="choose another path")
    return Exported(path, "onnx", time.perf_counter() - started, result[0] if result else None)


def refuse_reduced_precision(model: nn.Module) -> None:
    """An optimized bf16/fp16 model is for running, not for exporting: its weights are rounded and its BNs
    folded, and the fp32 file must come from the model itself."""
    dtype = getattr(model, "dtype", None)
    if isinstance(dtype, torch.dtype) and dtype != torch.float32 and hasattr(model, "inner"):
        raise ConfigError(
            f"this is an optimized {str(dtype).removeprefix('torch.')} model, made to run; export the model it was "
            "optimized from (the export is fp32, and ca.optimize(..., runtime='onnxruntime') runs it)"
        )


def to_onnx_program(
    model: nn.Module, input_size: tuple[int, int, int], *, dynamic_batch: bool, opset: int | None
) -> Any:
    """The ``torch.onnx.ONNXProgram`` of ``model``: ``torch.export`` first (it names a failing layer), then
    the ONNX conversion (an operator with no ONNX translation is named with the layer that uses it)."""
    exported = export_program(model, input_size, dynamic_batch=dynamic_batch)
    output = "features" if getattr(model, "num_classes", None) == 0 else "logits"  # num_classes=0: pooled features
    try:
        with quiet_exporter():
            program = torch.onnx.export(exported, dynamo=True, opset_version=opset, verbose=False,
                                        input_names=["images"], output_names=[output])  # fmt: skip
    except ConvarchError:
        raise
    except Exception as error:
        raise ExportError(
            f"{_layers_using(exported, error)} cannot be converted to ONNX: {first_line(error)}. Deploy the model "
            "with PyTorch (ca.optimize(model, runtime='torch') or a .pt2 export) instead."
        ) from error
    _name_batch_dimension(program.model)
    return program


def _name_batch_dimension(model: Any) -> None:
    """Call the free batch dimension "batch" wherever it appears: torch.export names it after its internal
    symbol (``s77``), which is what Netron, TensorRT's profiles and ONNX Runtime's inputs would show."""
    import onnx_ir as ir

    (images,) = model.graph.inputs
    symbol = images.shape[0] if images.shape is not None else None
    if not isinstance(symbol, ir.SymbolicDim) or symbol.value is None:
        return  # a static batch
    values = [*model.graph.inputs, *model.graph.outputs]
    values += [value for node in model.graph.all_nodes() for value in node.outputs]
    for value in values:
        if value.shape is not None and any(getattr(dim, "value", None) == symbol.value for dim in value.shape):
            value.shape = ir.Shape(
                [ir.SymbolicDim(BATCH) if getattr(dim, "value", None) == symbol.value else dim for dim in value.shape]
            )


def _layers_using(exported: torch.export.ExportedProgram, error: BaseException) -> str:
    """The layers whose operators the error message mentions (the converter names ops, not modules)."""
    text = str(error)
    found = []
    for node in exported.graph.nodes:
        target = getattr(node.target, "__name__", str(node.target))
        stack = node.meta.get("nn_module_stack") or {}
        if node.op == "call_function" and target.split(".")[0] in text and stack:
            path, kind = list(stack.values())[-1]
            label = f"{path} ({getattr(kind, '__name__', str(kind).rsplit('.', 1)[-1])})"
            if label not in found:
                found.append(label)
    return ", ".join(found[:3]) or "the model"


def check_file(
    model: nn.Module,
    path: str | os.PathLike,
    input_size: tuple[int, int, int],
    *,
    tolerance: float = FP32_TOLERANCE,
    batch: int | None = None,
) -> OutputCheck:
    """Load the ONNX file in ONNX Runtime and compare its outputs with ``model``'s; raise if they differ."""
    try:
        runtime = OnnxRuntimeModel(session(str(path)), facts={})
    except ConvarchError:
        raise
    except Exception as error:
        raise ExportError(f"ONNX Runtime cannot load the exported file: {first_line(error)}") from error
    outcome = check_against(model, runtime, input_size, tolerance=tolerance, batch=batch)
    if not outcome.passed:
        raise ExportError(
            f"the ONNX file does not compute what the PyTorch model computes: {outcome.describe()}. It was "
            "removed. Report this with the model, or deploy with PyTorch (a .pt2 export)."
        )
    return outcome
