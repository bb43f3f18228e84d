"""``ca.export``: one model to one deployment file, its format chosen by the suffix.

``.onnx``        the torch exporter's ONNX, checked in ONNX Runtime (``export_onnx``);
``.pt2``         a ``torch.export`` ExportedProgram (``torch.export.save``; ``torch.export.load`` reads it),
                 checked against the model the same way;
``.safetensors`` a convarch checkpoint (``ca.save``; ``ca.load`` rebuilds it).

``format`` overrides the suffix only where the suffix names no format; a suffix that names another one is a
contradiction and an error, so ``model.onnx`` never holds a pt2 archive.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from convarch.deploy.check import FP32_TOLERANCE, check_against, input_size_of
from convarch.deploy.onnx_export import Exported, check_destination, export_onnx, metadata, refuse_reduced_precision
from convarch.deploy.program import STATIC_BATCH, export_program, inference_copy, quiet_exporter
from convarch.errors import ConfigError, ExportError, advising
from convarch.io import atomic_write

FORMATS = {".onnx": "onnx", ".pt2": "pt2", ".safetensors": "safetensors"}


def format_for(path: str | os.PathLike, format: str | None = None) -> str:
    """The format ``path`` is written in: its suffix's, or ``format`` where the suffix names none."""
    path = Path(path)
    named = FORMATS.get(path.suffix.lower())
    known = ", ".join(f"{fmt} ({suffix})" for suffix, fmt in FORMATS.items())
    if format is not None and format not in FORMATS.values():
        raise ConfigError(f"unsupported format {format!r}; convarch exports {known}")
    if format is not None and named is not None and format != named:
        message = (f"format {format} contradicts the suffix of {path.name} ({named}); give the file a "
                   f"{_suffix(format)} suffix, or leave format out")  # fmt: skip
        raise advising(ConfigError(message), "format")
    if named is None and format is None:
        raise ConfigError(
            f"{path.name}: unsupported suffix {path.suffix or '(none)'!r}; convarch exports {known}. Give the file "
            f"a {', '.join(list(FORMATS)[:-1])} or {list(FORMATS)[-1]} suffix (or name the format: format=)"
        )
    return format or named  # type: ignore[return-value]


def _suffix(format: str) -> str:
    return next(suffix for suffix, fmt in FORMATS.items() if fmt == format)


def export(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    dynamic_batch: bool = True,
    opset: int | None = None,
    check: bool = True,
    input_size: tuple[int, int, int] | None = None,
) -> Exported:
    """Write ``model`` to ``path`` as ONNX, a torch.export program or a convarch checkpoint (see the module).

    ``input_size`` (C, H, W) is needed only for a model that does not say what it takes (a torchvision
    model; convarch models and timm's say it themselves). A static-batch export takes one image a call.
    """
    chosen = format_for(path, format)
    path = Path(path)
    if chosen == "onnx":
        return export_onnx(model, path, dynamic_batch=dynamic_batch, opset=opset, check=check, input_size=input_size)
    if chosen == "pt2":
        return export_pt2(model, path, dynamic_batch=dynamic_batch, check=check, input_size=input_size)
    return export_checkpoint(model, path)


def export_pt2(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    dynamic_batch: bool = True,
    check: bool = True,
    input_size: tuple[int, int, int] | None = None,
) -> Exported:
    """``model`` as a ``torch.export`` ExportedProgram file, with the ONNX export's metadata as an extra file
    (``convarch.json``); checked like ONNX, through ``torch.export.load(path).module()``."""
    started = time.perf_counter()
    path = Path(path)
    refuse_reduced_precision(model)
    check_destination(path)
    size = input_size_of(model, input_size)
    model = inference_copy(model)
    program = export_program(model, size, dynamic_batch=dynamic_batch)
    facts = {key.removeprefix("convarch."): json.loads(value) for key, value in metadata(model, size).items()}
    result = []

    def write(temp: str) -> None:
        with quiet_exporter():
            torch.export.save(program, temp, extra_files={"convarch.json": json.dumps(facts)})
            loaded = torch.export.load(temp).module() if check else None
        if loaded is not None:
            outcome = check_against(model, loaded, size, tolerance=FP32_TOLERANCE,
                                    batch=None if dynamic_batch else STATIC_BATCH)  # fmt: skip
            if not outcome.passed:
                raise ExportError(
                    f"the exported program does not compute what the model computes: {outcome.describe()}"
                )
            result.append(outcome)

    atomic_write(path, write, error=ExportError, advice="choose another path")
    return Exported(path, "pt2", time.perf_counter() - started, result[0] if result else None)


def export_checkpoint(model: nn.Module, path: str | os.PathLike) -> Exported:
    """``model`` as a self-describing convarch checkpoint (``ca.save``)."""
    from convarch.nn.model import ConvNet
    from convarch.weights.checkpoint import save

    started = time.perf_counter()
    check_destination(Path(path))
    if not isinstance(model, ConvNet):
        raise ConfigError(
            f"a .safetensors export holds a convarch model; got {type(model).__name__}. Export ONNX or pt2"
        )
    saved = save(model, path, error=ExportError, advice="choose another path")
    return Exported(saved, "safetensors", time.perf_counter() - started)
