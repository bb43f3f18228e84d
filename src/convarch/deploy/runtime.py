"""ONNX Runtime behind a torch interface: a session that takes and returns tensors.

onnx, onnxscript and onnxruntime are an optional extra (``pip install "convarch[onnx]"``); every entry point
that needs one asks ``require`` first, so a missing package is one clear error, not an ImportError deep in a
call. The session runs with torch's thread count, so a comparison between runtimes is between equals.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from convarch.errors import ConfigError, MissingDependencyError

EXTRA = 'pip install "convarch[onnx]"'


def require(package: str) -> ModuleType:
    """Import one of the ``[onnx]`` extra's packages, or say how to install it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(
            f"{package} is not installed, and ONNX export and the onnxruntime runtime need it. Install the extra: "
            f"{EXTRA} (it brings onnx, onnxscript and onnxruntime)"
        ) from None


def session(model: bytes | str, *, device: torch.device | str = "cpu", threads: int | None = None) -> Any:
    """An ONNX Runtime session over a serialised model or a file, with every graph optimisation on.

    ``threads`` defaults to torch's current count (``torch.get_num_threads()``).
    """
    ort = require("onnxruntime")
    device = torch.device(device)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1  # a ConvNet is one chain of ops: parallelism lives inside each op
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    # ORT's pool threads spin after each run, waiting for the next; the cores they hold are taken from
    # whatever runs next on them (preprocessing, PyTorch, another model). On 2 cores that doubled the
    # latency of a torchvision model measured between ONNX Runtime calls (benchmarks/RESULTS.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ConfigError(
                "this onnxruntime has no CUDA support; install onnxruntime-gpu, or use runtime='torch' on the GPU"
            )
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(model, sess_options=options, providers=providers)


class OnnxRuntimeModel(nn.Module):
    """An ONNX Runtime session wrapped as an inference-only module: a float tensor in, logits out.

    It keeps the model facts callers read (``num_classes``, ``in_chans``, ``class_names``, ``pretrained_cfg``,
    ``spec``), so ``ca.evaluate`` and ``ca.predict`` take it where they take a ConvNet.
    """

    def __init__(self, runtime_session: Any, *, device: torch.device | str = "cpu", facts: dict[str, Any]) -> None:
        super().__init__()
        self.session = runtime_session
        self.device = torch.device(device)
        self.input_name = runtime_session.get_inputs()[0].name
        self.num_classes: int = facts.get("num_classes", 0)
        self.in_chans: int = facts.get("in_chans", 3)
        self.class_names: list[str] | None = facts.get("class_names")
        self.pretrained_cfg: dict[str, Any] = dict(facts.get("pretrained_cfg") or {})
        self.spec = facts.get("spec")
        self.runtime = "onnxruntime"
        super().train(False)  # inference-only from the start: callers that save and restore the mode see eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        (logits,) = self.session.run(None, {self.input_name: array})
        return torch.from_numpy(np.ascontiguousarray(logits)).to(x.device)

    def train(self, mode: bool = True) -> OnnxRuntimeModel:
        if mode:
            raise ConfigError("an ONNX Runtime model is inference-only; train the PyTorch model instead")
        return super().train(False)

    def describe(self) -> str:
        """The runtime, for benchmark tables: "onnxruntime 1.32.0 (CPUExecutionProvider, 2 threads)"."""
        import onnxruntime

        threads = self.session.get_session_options().intra_op_num_threads
        providers = ", ".join(self.session.get_providers())
        return f"onnxruntime {onnxruntime.__version__} ({providers}, {threads} threads)"

    def extra_repr(self) -> str:
        providers = ", ".join(self.session.get_providers())
        return f"onnxruntime session ({providers}), {self.num_classes} classes"
