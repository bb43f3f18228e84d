"""``ca.optimize``: the fastest inference path this hardware runs correctly, for a built model.

Each step transforms modules, never the spec, and each is chosen by a fact about the hardware (from
``convarch.hardware``), not by hope:

- batch norm folded into the conv before it: in eval mode BN is an affine map, so ``conv -> BN`` is one
  conv with rescaled weights and a bias (Ioffe & Szegedy 2015, §3.2 on inference), one pass less over the
  activations;
- channels_last (NHWC) where convolutions run on oneDNN (CPU) or cuDNN (GPU): their fast kernels are NHWC,
  and NCHW input is converted at every layer otherwise (1.2-1.4x measured on this project's CPU);
- bf16 or fp16 only where the device computes it natively: emulated bf16 on an AVX2 CPU is 4-7x *slower*;
  an explicit ``dtype`` overrides the rule (to test reduced precision on any machine);
- ``torch.compile`` on request, with inductor's freezing (weights as constants, so it folds them);
- or ``runtime="onnxruntime"``: the checked ONNX export in an ONNX Runtime session that takes and returns
  tensors.

In fp32 the result is checked against the model before it is returned: max abs diff on logits at most 1e-4
and the same top-1 class on real images (``convarch.deploy.check``).
"""

from __future__ import annotations

import copy
import itertools
import statistics
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from convarch.deploy.check import FP32_TOLERANCE, check_against, input_size_of
from convarch.errors import ConfigError, ExportError
from convarch.hardware import native_low_precision, nhwc_convolutions
from convarch.spec.layer_base import positive_int

RUNTIMES = ("torch", "onnxruntime")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TUNE_SECONDS = 0.5  # per candidate when ``batch_size`` asks optimize to measure: 5 runs, or fewer (3 at least)
TUNE_BATCH = 32  # larger batches are timed at 32: they rank the candidates alike, and 256 would take minutes
TUNE_MARGIN = 0.1  # a measured path replaces the rules' choice only when at least this much faster
FACTS = ("num_classes", "in_chans", "class_names", "pretrained_cfg", "spec")


class OptimizedModel(nn.Module):
    """An inference-only model: float32 images in (any memory format), float32 logits out.

    It casts and lays out the input as its inner module needs, and keeps the model facts (``num_classes``,
    ``class_names``, ``pretrained_cfg``, ...) so ``ca.evaluate`` and ``ca.predict`` take it like a ConvNet.
    ``steps`` says what was done and why.
    """

    def __init__(
        self,
        inner: nn.Module,
        *,
        device: torch.device,
        dtype: torch.dtype,
        memory_format: torch.memory_format,
        facts: dict[str, Any],
        steps: list[str],
    ) -> None:
        super().__init__()
        self.inner = inner
        self.device, self.dtype, self.memory_format = device, dtype, memory_format
        self.steps = steps
        self.runtime = "torch"
        self.check: Any = None  # the OutputCheck of an fp32 result (reduced precision is not held to 1e-4)
        self.timed: dict[str, float] = {}  # each candidate's median seconds, where optimize measured them
        self.timed_batch: int | None = None  # ... at this batch
        for key in FACTS:
            setattr(self, key, facts.get(key))
        super().train(False)  # inference-only from the start: callers that save and restore the mode see eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = x.to(self.device, self.dtype).contiguous(memory_format=self.memory_format)
            output = self.inner(x)
            return (output.logits if hasattr(output, "logits") else output).float()

    def train(self, mode: bool = True) -> OptimizedModel:
        if mode:
            raise ConfigError("an optimized model is inference-only (batch norm is folded); train the original model")
        return super().train(False)

    def _apply(self, fn: Any, recurse: bool = True) -> OptimizedModel:
        # .to()/.float()/.half() would undo the chosen precision and layout: an optimized model stays as built
        return self

    def describe(self) -> str:
        """The path ``optimize`` chose, for benchmark tables: "torch optimized: 20 batch norms folded; ..."."""
        return "torch optimized: " + "; ".join(self.steps)

    def extra_repr(self) -> str:
        return "; ".join(self.steps)


class ClassScores(nn.Module):
    """A model answering with its class scores before a trailing SOFTMAX (``ConvNet.forward_logits``), as
    evaluation and prediction need them: they apply their own softmax or cross-entropy."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        forward_logits = getattr(self.model, "forward_logits", None)
        return forward_logits(x) if forward_logits is not None else self.model(x)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold each eval-mode BatchNorm2d that directly follows a Conv2d in a Sequential into that conv.

    In a Sequential the conv's output feeds only the BN, so the pair is one function. Returns how many pairs.
    """
    folded = 0
    for container in list(model.modules()):
        if not isinstance(container, nn.Sequential):
            continue
        names = list(container._modules)
        for first, second in itertools.pairwise(names):
            conv, bn = container._modules[first], container._modules[second]
            if (
                type(conv) is nn.Conv2d
                and type(bn) is nn.BatchNorm2d
                and bn.track_running_stats
                and bn.running_mean is not None
                and not conv.training
                and not bn.training
            ):
                container._modules[first] = fuse_conv_bn_eval(conv, bn)
                container._modules[second] = nn.Identity()
                folded += 1
    return folded


def resolve_dtype(dtype: torch.dtype | str | None, device: torch.device) -> tuple[torch.dtype, str]:
    """The compute dtype and why: an explicit one, else the device's native reduced precision, else fp32."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
        dtype = DTYPES[dtype]
    if dtype is not None:
        if dtype not in DTYPES.values():
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype}")
        return dtype, f"{_name(dtype)} as asked"
    native = native_low_precision(device)
    if native is None:
        return torch.float32, f"fp32: this {device.type.upper()} has no native bf16 or fp16, and emulation is slower"
    return native, f"{_name(native)}: native on this {device.type.upper()}"


def _name(dtype: torch.dtype) -> str:
    return next(name for name, value in DTYPES.items() if value == dtype)


def channels_last_helps(model: nn.Module, device: torch.device) -> bool:
    """NHWC pays where the convolutions run on oneDNN (CPU) or cuDNN (GPU); a model without convs gains nothing."""
    return nhwc_convolutions(device) and any(isinstance(m, nn.Conv2d) for m in model.modules())


def optimize(
    model: nn.Module,
    *,
    device: torch.device | str = "cpu",
    runtime: str = "torch",
    dtype: torch.dtype | str | None = None,
    compile: bool | str = False,
    channels_last: bool | None = None,
    check: bool = True,
    input_size: tuple[int, int, int] | None = None,
    logits: bool = False,
    batch_size: int | None = None,
) -> nn.Module:
    """An inference-only copy of ``model`` that runs as fast as this hardware allows and computes the same.

    ``runtime``: "torch" (BN folded, channels_last where it helps, native reduced precision, optionally
    compiled; ``compile`` may name a torch.compile mode) or "onnxruntime" (an ONNX Runtime session).
    ``dtype`` forces a precision; ``channels_last`` forces the layout either way. ``check`` compares an fp32
    result with ``model`` on random and real inputs and raises ``ExportError`` beyond 1e-4. ``logits`` returns
    the scores before a trailing SOFTMAX (what ``evaluate`` and ``predict`` need). ``batch_size``, the batch
    the model will run at, makes the torch runtime time its candidate precisions and layouts there and keep
    the fastest, where the hardware rules would otherwise decide alone. ``model`` is not changed.
    """
    from convarch.analysis.measure import resolve_device

    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"optimize takes a model (an nn.Module), got {type(model).__name__}")
    target = resolve_device(torch.device(device).type)
    if target.type == "cuda" and torch.device(device).index is not None:
        target = torch.device(device)
    size = input_size_of(model, input_size)
    reference = copy.deepcopy(model).eval().float().to(target)
    facts = {key: getattr(model, key, None) for key in FACTS}
    if logits:
        reference = ClassScores(reference)
    if runtime == "onnxruntime":
        if (dtype is not None and DTYPES.get(dtype, dtype) != torch.float32) or compile:  # type: ignore[call-overload]
            raise ConfigError("runtime='onnxruntime' runs the fp32 ONNX graph: leave dtype and compile out")
        optimized: nn.Module = _onnxruntime(reference.cpu(), size, target, facts)
        reference = reference.cpu()
    else:
        optimized = _torch(copy.deepcopy(reference), target, dtype, compile, channels_last, facts, size, batch_size)
    if check and getattr(optimized, "dtype", torch.float32) == torch.float32:
        outcome = check_against(reference, optimized, size, tolerance=FP32_TOLERANCE, device=target)
        if not outcome.passed:
            raise ExportError(f"the optimized model does not compute what the model computes: {outcome.describe()}")
        optimized.check = outcome
    return optimized


def _torch(
    model: nn.Module,
    device: torch.device,
    dtype: torch.dtype | str | None,
    compile: bool | str,
    channels_last: bool | None,
    facts: dict[str, Any],
    size: tuple[int, int, int],
    batch_size: int | None,
) -> OptimizedModel:
    model.requires_grad_(False)
    folded = fold_batchnorm(model)
    steps = ["no batch norm to fold" if not folded else "1 batch norm folded into its conv" if folded == 1
             else f"{folded} batch norms folded into their convs"]  # fmt: skip
    chosen, why = resolve_dtype(dtype, device)
    nhwc = channels_last_helps(model, device) if channels_last is None else channels_last
    memory_format = torch.channels_last if nhwc else torch.contiguous_format
    # the rule's choice stands unless there is a batch to measure at and something left to choose
    dtypes = [chosen, torch.float32] if dtype is None and chosen != torch.float32 else [chosen]
    layouts = [memory_format, torch.contiguous_format] if channels_last is None and nhwc else [memory_format]
    timed: dict[str, float] = {}
    # Not for a compiled model: the candidates are timed eagerly, and the eager ranking need not hold compiled
    if batch_size is not None and not compile and len(dtypes) * len(layouts) > 1:
        (chosen, memory_format), why, timed = _fastest(model, device, size, batch_size, dtypes, layouts, facts)
        steps.append(why)
    else:
        steps += [why, "channels_last" if memory_format == torch.channels_last else "contiguous (NCHW)"]
    model = model.to(device=device, dtype=chosen, memory_format=memory_format)
    inner: nn.Module = model
    if isinstance(compile, str):  # a torch.compile mode ("max-autotune", "reduce-overhead": CUDA graphs)
        inner = torch.compile(model, mode=compile)
        steps.append(f"torch.compile (mode {compile})")
    elif compile:  # freezing: the weights become constants that inductor folds and lays out once (inference)
        # On the CPU, max_autotune also times inductor's GEMM templates against oneDNN: seconds of compile
        # there, and resnet50 at batch 1 in bf16 went from 1.90x to 2.14x torchvision's eager fp32. On a GPU
        # it autotunes every conv and matmul, minutes for a ResNet, so it stays a mode to ask for.
        options = {"freezing": True, **({"max_autotune": True} if device.type == "cpu" else {})}
        inner = torch.compile(model, options=options)
        steps.append("torch.compile (frozen weights" + (", autotuned)" if device.type == "cpu" else ")"))
    optimized = OptimizedModel(inner, device=device, dtype=chosen, memory_format=memory_format, facts=facts,
                               steps=steps)  # fmt: skip
    optimized.timed, optimized.timed_batch = timed, batch_size if timed else None
    return optimized


def _fastest(
    model: nn.Module,
    device: torch.device,
    size: tuple[int, int, int],
    batch_size: int,
    dtypes: list[torch.dtype],
    layouts: list[torch.memory_format],
    facts: dict[str, Any],
) -> tuple[tuple[torch.dtype, torch.memory_format], str, dict[str, float]]:
    """The precision and layout that run ``model`` fastest at ``batch_size``, timed as it will be called
    (fp32 NCHW images in, cast inside); a step line; and each candidate's median seconds.

    The rules are right for big batches and can be wrong for small ones: at batch 1 on this project's CPU,
    channels_last made resnet18 0.58x as fast and bf16 lost on resnet50, because converting the input and
    the reorders cost more than the faster convolutions save on one image.
    """
    from convarch.analysis.measure import check_batch_fits, time_batch
    from convarch.analysis.report import analyze_spec

    spec = facts.get("spec")
    if spec is not None:  # the model is made for this batch: refused now rather than by the allocator later
        report = analyze_spec(spec, names=False)
        check_batch_fits(report, batch_size, device, "Give a smaller batch_size.",
                         what=f"timing batch {batch_size} at {report.input}")  # fmt: skip
    x = torch.randn(min(batch_size, TUNE_BATCH), *size, device=device)
    latency = {}
    for dtype, layout in itertools.product(dtypes, layouts):
        candidate = copy.deepcopy(model).to(device=device, dtype=dtype, memory_format=layout)
        wrapped = OptimizedModel(candidate, device=device, dtype=dtype, memory_format=layout, facts=facts, steps=[])
        seconds, _ = time_batch(wrapped, x, warmup=1, repeats=5, max_seconds=TUNE_SECONDS, measure_memory=False)
        latency[dtype, layout] = statistics.median(seconds)
    ruled = (dtypes[0], layouts[0])  # the hardware rules' choice, listed first
    fastest = min(latency, key=latency.__getitem__)
    # the rules stand unless measured clearly wrong: a close call would flip with the machine's load
    best = fastest if latency[fastest] < (1 - TUNE_MARGIN) * latency[ruled] else ruled
    timed = {_describe(*option): seconds for option, seconds in latency.items()}
    verdict = "the fastest" if best == fastest else f"the rules' choice, within {TUNE_MARGIN:.0%} of the fastest"
    return best, f"{_describe(*best)} ({verdict} of {len(latency)} timed)", timed


def _describe(dtype: torch.dtype, layout: torch.memory_format) -> str:
    return f"{_name(dtype)} {'channels_last' if layout == torch.channels_last else 'NCHW'}"


def _onnxruntime(
    model: nn.Module, size: tuple[int, int, int], device: torch.device, facts: dict[str, Any]
) -> nn.Module:
    from convarch.deploy.onnx_export import to_onnx_program
    from convarch.deploy.runtime import OnnxRuntimeModel, require, session

    for package in ("onnx", "onnxscript", "onnxruntime"):
        require(package)
    program = to_onnx_program(model, size, dynamic_batch=True, opset=None)
    return OnnxRuntimeModel(session(program.model_proto.SerializeToString(), device=device), device=device,
                            facts=facts)  # fmt: skip
