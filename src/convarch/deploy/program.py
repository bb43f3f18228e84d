"""``torch.export`` of a model, with errors that name the layer the exporter could not handle.

The export runs non-strict: torch runs the model's Python on fake tensors, so forward hooks see which
module is executing when the exporter gives up. A stack of module names kept by those hooks turns
"Could not guard on data-dependent expression" deep in torch into "features.2 (MyLayer): ...".
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from convarch.errors import ConvarchError, ExportError

BATCH = "batch"
EXAMPLE_BATCH = 2  # not 1: torch.export specialises a dimension of size 1, and the batch must stay free
STATIC_BATCH = 1  # a static-batch export takes one image a call, as a latency-bound deployment feeds it


@contextlib.contextmanager
def module_stack(model: nn.Module) -> Iterator[list[str]]:
    """Yields the names of the modules being executed, innermost last.

    A module that raises never reaches its forward hook, so after a failure the list still ends with it.
    """
    stack: list[str] = []
    names = {module: name for name, module in model.named_modules()}

    def enter(module: nn.Module, _args: object) -> None:
        stack.append(names[module])

    def leave(_module: nn.Module, _args: object, _output: object) -> None:
        stack.pop()

    handles = [m.register_forward_pre_hook(enter) for m in names] + [m.register_forward_hook(leave) for m in names]
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Silence the exporters' own logging and warnings: a failure dumps the whole graph to stderr, and a
    success warns about internals; convarch reports both in one line of its own."""
    loggers = [logging.getLogger(name) for name in ("torch", "onnx_ir", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        # torch.export prints a failed trace's partial graph to sys.stderr itself, outside logging
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def layer_label(model: nn.Module, path: list[str]) -> str:
    """The innermost named module on ``path``, with its type: ``features.2.conv (MyConv)``."""
    name = next((n for n in reversed(path) if n), "")
    if not name:
        return f"the model ({type(model).__name__})"
    return f"{name} ({type(model.get_submodule(name)).__name__})"


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def inference_copy(model: nn.Module) -> nn.Module:
    """An eval-mode float32 copy of ``model`` on the CPU: exports leave the caller's model (its mode, device
    and precision) as it was, and an exported file does not depend on where the model happened to live."""
    return copy.deepcopy(model).eval().float().cpu()


def export_program(
    model: nn.Module, input_size: tuple[int, int, int], *, dynamic_batch: bool = True
) -> torch.export.ExportedProgram:
    """``model`` as a ``torch.export`` ExportedProgram in eval mode, with a free batch dimension if asked
    (otherwise fixed at ``STATIC_BATCH``)."""
    model = model.eval()
    example = torch.zeros(EXAMPLE_BATCH if dynamic_batch else STATIC_BATCH, *input_size)
    shapes = ({0: torch.export.Dim(BATCH, min=1)},) if dynamic_batch else None
    with module_stack(model) as failed_in, quiet_exporter():
        try:
            return torch.export.export(model, (example,), dynamic_shapes=shapes, strict=False)
        except ConvarchError:
            raise
        except Exception as error:  # torch reports an unsupported construct with many exception types
            raise ExportError(
                f"{layer_label(model, failed_in)} cannot be exported: {first_line(error)}. Rewrite that layer "
                "with tensor operations only (no .item(), NumPy or Python branches on tensor values), or "
                "deploy the model with PyTorch (ca.optimize(model, runtime='torch'))."
            ) from error
