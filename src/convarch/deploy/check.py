"""Does a deployed model compute what the PyTorch model computes? Random inputs, and real images.

Random inputs find numerical drift anywhere in the input space; real images (the built-in UCI digits,
prepared as the model expects its inputs) say whether the drift ever changes a prediction. In fp32 a
deployed model must stay within 1e-4 of PyTorch's logits and agree on the top-1 class of every image.
An image whose two best PyTorch logits lie within that limit of each other is a tie: rounding may break it
either way, so it counts as agreeing.

The 1e-4 holds for logits up to 10 in magnitude, a trained classifier's range. Beyond it the limit grows
in proportion (1e-5 of the largest logit): float32's own spacing grows with the magnitude, and an untrained
ResNet-101, whose batch norms still hold their initial statistics, reaches logits of 6e4, where float32
resolves only 4e-3. A fixed 1e-4 would refuse its correct export.

A deep net can drift further than that and still be right: two float32 evaluations that sum in different
orders (PyTorch's kernels, ONNX Runtime's) each carry their own rounding, and it compounds through depth. An
untrained SE-ResNet-101 on random inputs (logits of 130) differs from ONNX Runtime by 5.6e-3, while PyTorch
itself is 3.3e-3 from the same model evaluated in float64, and ONNX Runtime 2.4e-3. So where the two float32
answers differ by more than the limit, the check asks the float64 evaluation which is wrong: the deployed
model passes when its own error is within the limit or within twice PyTorch's (``DRIFT_FACTOR``), that is,
when it is no less accurate than PyTorch is. A wrong graph off by more than that fails; an error no larger
than PyTorch's own rounding cannot be told from it, and top-1 agreement on the real images still must be 100%.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convarch.deploy.program import first_line
from convarch.errors import ConfigError, SizingError
from convarch.spec.volume import Volume

FP32_TOLERANCE = 1e-4
TRAINED_SCALE = 10.0  # logits up to this magnitude get the tolerance as it is; larger ones, in proportion
RANDOM_BATCH = 3  # not the export's example batch of 2, so the check also exercises the free batch dimension
REAL_IMAGES = 32
DRIFT_FACTOR = 2.0  # a deployed fp32 model may be up to this much further from float64 than PyTorch's fp32 is


@dataclass(frozen=True)
class OutputCheck:
    """How far a deployed model's outputs are from PyTorch's."""

    max_abs_diff: float  # over random and real inputs
    top1_agreement: float  # on the real images, ties counted as agreeing
    images: int
    tolerance: float
    scale: float = 0.0  # the largest PyTorch logit, in absolute value
    # asked only where ``max_abs_diff`` exceeds the limit: each fp32 answer's distance from a float64 evaluation
    exact_diff: float | None = None  # the deployed model's
    reference_error: float | None = None  # PyTorch's own
    referee_failed: str = ""  # why the float64 evaluation could not run, where it was asked

    @property
    def limit(self) -> float:
        """The tolerance at the logits' magnitude: as given up to 10, in proportion beyond."""
        return self.tolerance * max(1.0, self.scale / TRAINED_SCALE)

    @property
    def rounding_limit(self) -> float | None:
        """How far from float64 the deployed model may be: the limit, or twice PyTorch's own fp32 error."""
        if self.reference_error is None:
            return None
        return max(self.limit, DRIFT_FACTOR * self.reference_error)

    @property
    def close(self) -> bool:
        """Within the limit of PyTorch, or (where not) no less accurate than PyTorch against float64."""
        if self.max_abs_diff <= self.limit:
            return True
        return self.exact_diff is not None and self.exact_diff <= self.rounding_limit  # type: ignore[operator]

    @property
    def passed(self) -> bool:
        return self.close and self.top1_agreement == 1.0

    def describe(self) -> str:
        scaled = f", logits up to {self.scale:.1e}" if self.limit > self.tolerance else ""
        drift = (
            f"; no float64 evaluation to tell rounding from error: {self.referee_failed}" if self.referee_failed else ""
        )
        if self.exact_diff is not None:
            verdict = "as PyTorch itself rounds" if self.close else "more than rounding"
            drift = (
                f"; from a float64 evaluation {self.exact_diff:.2e}, where PyTorch's fp32 is "
                f"{self.reference_error:.2e} from it ({verdict}; limit {self.rounding_limit:.1e})"
            )
        return (
            f"max abs diff {self.max_abs_diff:.2e} (limit {self.limit:.0e}{scaled}){drift}, top-1 agreement "
            f"{self.top1_agreement:.2%} on {self.images} real images"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"max_abs_diff": self.max_abs_diff, "top1_agreement": self.top1_agreement, "images": self.images,
                "limit": self.limit, "logit_scale": self.scale, "float64_diff": self.exact_diff,
                "pytorch_float64_diff": self.reference_error, "passed": self.passed}  # fmt: skip


def input_size_of(model: nn.Module, input_size: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """The (C, H, W) a model takes: given, or read from a convarch model's spec.

    A given size is checked as ``analyze`` checks it (``Volume.of`` names an (H, W, C) tuple), and its
    channels against the model's, so the mistake is named here and not as a shape error in the first conv.
    """
    spec = getattr(model, "spec", None)
    if input_size is not None:
        volume = Volume.of(input_size)
        takes = spec.input.c if spec is not None and spec.input is not None else _channels_taken(model)
        if takes is not None and volume.c != takes:
            raise SizingError(
                f"input_size {tuple(input_size)!r} gives {volume.c}-channel images, but the model takes "
                f"{takes}-channel ones: give input_size=({takes}, {volume.h}, {volume.w}), or build the model with "
                f"in_chans={volume.c}"
            )
        return volume.chw
    if spec is not None and spec.input is not None:
        return spec.input.chw
    declared = (getattr(model, "pretrained_cfg", None) or {}).get("input_size")  # timm's models say it there
    if declared is not None and len(declared) == 3:
        # the channels from the model itself: timm keeps the pretrained (3, H, W) when built with in_chans=1
        channels = getattr(model, "in_chans", None) or _channels_taken(model) or declared[0]
        return (int(channels), int(declared[1]), int(declared[2]))
    raise ConfigError(f"{type(model).__name__} does not say what input it takes; give input_size=(C, H, W)")


def _channels_taken(model: nn.Module) -> int | None:
    """The input channels of the model's first conv (None without one)."""
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return getattr(first_conv, "in_channels", None)


def real_inputs(model: nn.Module, input_size: tuple[int, int, int], count: int = REAL_IMAGES) -> torch.Tensor:
    """``count`` built-in digits, prepared as ``model`` expects: its recorded preprocessing, or the digits'
    own statistics at its input size (a model trained from scratch on them)."""
    from convarch.data.builtin import digits
    from convarch.data.preprocess import Preprocessing, dataset_stats, default_preprocessing, model_preprocessing

    images = digits().images
    step = max(1, len(images) // count)
    sample = images[::step][:count]  # spread over the set: every class, not the first few
    prep: Preprocessing | None = model_preprocessing(model)
    if prep is None or prep.input_size != tuple(input_size):
        prep = default_preprocessing(input_size, *dataset_stats(images, input_size[0]))
    return prep(sample)


def compare_outputs(
    reference: Callable[[torch.Tensor], torch.Tensor],
    deployed: Callable[[torch.Tensor], torch.Tensor],
    inputs: list[torch.Tensor],
    real: torch.Tensor,
    *,
    tolerance: float = FP32_TOLERANCE,
    exact: Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> OutputCheck:
    """Compare ``deployed`` with ``reference`` on each batch of ``inputs`` and on the ``real`` images.

    ``exact`` makes the reference's float64 twin (it takes float64 inputs); it is made and run only where
    the two differ by more than the limit, to tell rounding from a wrong answer (see the module).
    """
    worst = scale = 0.0
    answers = []
    with torch.inference_mode():
        for batch in [*inputs, real]:
            expected, got = _logits(reference(batch)), _logits(deployed(batch))
            if got.shape != expected.shape:
                raise ConfigError(
                    f"the deployed model returns shape {tuple(got.shape)} where PyTorch returns {tuple(expected.shape)}"
                )
            answers.append((batch, expected, got))
            worst = max(worst, float((got - expected).abs().max()))
            scale = max(scale, float(expected.abs().max()))
    outcome = OutputCheck(worst, 1.0, len(expected), tolerance, scale)
    if worst > outcome.limit and exact is not None:
        try:
            outcome = dataclasses.replace(outcome, **_against_float64(exact(), answers))
        except (RuntimeError, TypeError) as error:  # e.g. a forward that casts to float32, or a plain-attribute
            # tensor .double() does not reach: no referee, so PyTorch's answer stands as the reference
            outcome = dataclasses.replace(outcome, referee_failed=first_line(error))
    # ``expected`` and ``got`` now hold the real images' logits
    if expected.ndim != 2 or expected.shape[1] < 2:  # pooled features or one output: no class to agree on
        return outcome
    best_two = expected.topk(2, dim=1).values
    # two classes closer than the drift the check accepts are a tie: rounding may break it either way
    margin = outcome.rounding_limit if outcome.close and outcome.rounding_limit is not None else outcome.limit
    tie = (best_two[:, 0] - best_two[:, 1]) <= margin
    agree = (got.argmax(dim=1) == expected.argmax(dim=1)) | tie
    return dataclasses.replace(outcome, top1_agreement=float(agree.float().mean()))


def _against_float64(
    exact: Callable[[torch.Tensor], torch.Tensor], answers: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
) -> dict[str, float]:
    """How far the deployed and the PyTorch fp32 answers are each from the float64 evaluation."""
    exact_diff = reference_error = 0.0
    with torch.inference_mode():
        for batch, expected, got in answers:
            truth = _logits(exact(batch.double()), torch.float64)
            exact_diff = max(exact_diff, float((got.double() - truth).abs().max()))
            reference_error = max(reference_error, float((expected.double() - truth).abs().max()))
    return {"exact_diff": exact_diff, "reference_error": reference_error}


def _logits(output: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    logits = output.logits if hasattr(output, "logits") else output
    if not isinstance(logits, torch.Tensor):
        raise ConfigError(
            f"the model returns a {type(logits).__name__}, not one tensor of logits; deploy a model (or a wrapper "
            "module) whose forward returns the class scores as one tensor"
        )
    return logits.detach().to(dtype).cpu()


def check_against(
    model: nn.Module,
    deployed: Callable[[torch.Tensor], torch.Tensor],
    input_size: tuple[int, int, int],
    *,
    tolerance: float = FP32_TOLERANCE,
    real_count: int = REAL_IMAGES,
    device: torch.device | str = "cpu",
    batch: int | None = None,
) -> OutputCheck:
    """``compare_outputs`` of ``deployed`` with the eval-mode ``model`` on random inputs and real digits;
    ``batch`` feeds ``deployed`` that many images a call (a static-batch export takes no other)."""

    generator = torch.Generator().manual_seed(0)
    random = torch.randn(RANDOM_BATCH, *input_size, generator=generator).to(device)
    real = real_inputs(model, input_size, real_count).to(device)
    if batch is not None:
        deployed = _in_chunks(deployed, batch)
    return compare_outputs(model.eval(), deployed, [random], real, tolerance=tolerance,
                           exact=lambda: copy.deepcopy(model).double())  # fmt: skip


def _in_chunks(deployed: Callable[[torch.Tensor], Any], batch: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.cat([_logits(deployed(chunk)) for chunk in x.split(batch)])
