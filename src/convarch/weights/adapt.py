"""Fit pretrained tensors to a model configured differently: other input channels, other classes.

Input channels (timm's rule): for one channel, sum the RGB filters of the first conv, so a grey image gives
the response the RGB filters give to that image repeated on three channels. For more channels, repeat
the filters and scale them by 3/in_chans, so the first conv's output keeps its magnitude.

Classes: if the file's classifier has another width than the model's, its weights are dropped, with the
auxiliary classifiers', and the model keeps freshly initialised heads to train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from convarch.errors import WeightsError
from convarch.spec.nodes import NetSpec
from convarch.spec.walk import trace

CLASSIFIER = "classifier"


def first_conv(spec: NetSpec) -> str | None:
    """Module path of the first convolution on the main path (the one that sees the image)."""
    return next((step.path for step in trace(spec) if step.layer.kind == "CONV" and not step.aux), None)


def adapt_filters(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """First-conv filters for ``in_chans`` input channels, from filters made for ``weight.shape[1]``."""
    have = weight.shape[1]
    if in_chans == have:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(in_chans / have)
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (have / in_chans)


@dataclass(frozen=True)
class Heads:
    """Where a network's classifiers are: the main one and, per auxiliary tap, its final layer."""

    classifiers: tuple[str, ...]  # module paths whose tensors depend on the number of classes
    aux_taps: tuple[str, ...] = field(default_factory=tuple)  # top-level auxiliary heads, whole

    @classmethod
    def of(cls, spec: NetSpec) -> Heads:
        last_in_tap: dict[str, str] = {}
        for step in trace(spec):
            if step.aux and step.layer.classifier:
                last_in_tap[".".join(step.path.split(".")[:2])] = step.path
        return cls((CLASSIFIER, *last_in_tap.values()), tuple(last_in_tap))

    def classes_in(self, state: dict[str, torch.Tensor]) -> int:
        """The width of the main classifier in ``state`` (0 when the file has none)."""
        for key, value in state.items():
            if key.startswith(CLASSIFIER + ".") and value.dim() >= 1:
                return value.shape[0]
        return 0

    def is_classifier_key(self, key: str) -> bool:
        return any(key.startswith(prefix + ".") for prefix in self.classifiers)

    def is_aux_key(self, key: str) -> bool:
        return any(key.startswith(prefix + ".") for prefix in self.aux_taps)


def adapt_in_chans(state: dict[str, torch.Tensor], conv: str | None, in_chans: int) -> tuple[dict, str | None]:
    """``state`` with the first conv's filters adapted to ``in_chans``; the message says what changed."""
    key = f"{conv}.weight"
    if conv is None or key not in state or state[key].dim() != 4 or state[key].shape[1] == in_chans:
        return state, None
    have = state[key].shape[1]
    if in_chans > 1 and have not in (1, 3):
        raise WeightsError(
            f"cannot adapt {key} from {have} to {in_chans} input channels: only 1- and 3-channel filters are "
            f"adapted. Build the model with in_chans={have}."
        )
    rule = "summed over the input channels" if in_chans == 1 else f"repeated and scaled by {have}/{in_chans}"
    message = f"{key}: the weights see {have} input channels and the model {in_chans}: filters {rule}"
    return {**state, key: adapt_filters(state[key], in_chans)}, message


def drop_heads(
    state: dict[str, torch.Tensor], heads: Heads, num_classes: int, model_keys: set[str]
) -> tuple[dict, list[str], str | None]:
    """Drop the classifiers when the class counts differ, and auxiliary heads the model does not have."""
    source_classes = heads.classes_in(state)
    mismatch = source_classes != num_classes
    dropped = sorted(
        key for key in state
        if (mismatch and heads.is_classifier_key(key)) or (heads.is_aux_key(key) and key not in model_keys)
    )  # fmt: skip
    message = None
    if mismatch:
        with_aux = len(heads.classifiers) > 1
        heads_text = "the classifier and the auxiliary classifiers start" if with_aux else "the classifier starts"
        fate = (f"{heads_text} from fresh weights: train them before use" if num_classes
                else "the classifier is removed and the model returns pooled features")  # fmt: skip
        have = f"a {source_classes}-class classifier" if source_classes else "no classifier"
        message = f"the weights have {have} and the model {num_classes} classes: {fate}"
    kept = {key: value for key, value in state.items() if key not in set(dropped)}
    return kept, dropped, message
