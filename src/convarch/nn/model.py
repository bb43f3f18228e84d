"""The one model class every zoo and pattern network shares, so the model contract holds everywhere.

The contract (timm's interface, which torchvision users also meet): ``num_classes``, ``in_chans``,
``num_features``, ``forward_features(x)`` (the last feature map), ``forward_head(x, pre_logits=False)``,
``reset_classifier(num_classes)``, ``get_classifier()``, ``feature_info`` (channels and reduction of each
stage), ``forward_intermediates(x, indices)`` (the maps where the stages end) and ``spec`` (the network as
data, always in step with the modules).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import nn

from convarch.errors import ConfigError
from convarch.nn.build import ModuleBuilder
from convarch.nn.features import StageIndices, select_stages, stage_outputs
from convarch.nn.input_check import check_input, tracing
from convarch.nn.layers import AuxTap, HeadFlatten
from convarch.spec.edit import num_classes_of, with_classifier
from convarch.spec.nodes import NetSpec
from convarch.spec.volume import Volume
from convarch.spec.walk import Context, input_volume, output_of, split, walk, walk_network


class AuxOutputs(NamedTuple):
    """What a model with auxiliary classifiers returns in training mode (at inference: the logits only)."""

    logits: torch.Tensor
    aux: tuple[torch.Tensor, ...]
    weights: tuple[float, ...]


def classification_loss(output: torch.Tensor | AuxOutputs, target: torch.Tensor, criterion: nn.Module) -> torch.Tensor:
    """The loss of a model's output: with auxiliary heads, ``main + sum(weight * aux)`` (GoogLeNet §6)."""
    if isinstance(output, AuxOutputs):
        loss = criterion(output.logits, target)
        for logits, weight in zip(output.aux, output.weights, strict=True):
            loss = loss + weight * criterion(logits, target)
        return loss
    return criterion(output, target)


class ConvNet(nn.Module):
    """A network built from its spec: ``features`` -> ``pre_logits`` -> ``classifier`` (-> ``post``)."""

    def __init__(self, spec: NetSpec, *, pretrained_cfg: dict[str, Any] | None = None) -> None:
        super().__init__()
        parts = walk_network(spec, ModuleBuilder())
        self.features: nn.Module = parts["features"][0]
        self.pre_logits: nn.Module = parts["pre_logits"][0]
        head_out = parts["pre_logits"][1]
        if len(self.pre_logits) and not head_out.flat:  # type: ignore[arg-type]
            self.pre_logits.add_module("flatten", HeadFlatten(1))
        self.classifier: nn.Module = parts["classifier"][0] if "classifier" in parts else nn.Identity()
        self.post: nn.Module = parts["post"][0]
        self.spec = spec
        self.in_chans = input_volume(spec).c
        self.num_classes = num_classes_of(spec)
        if len(self.pre_logits):  # type: ignore[arg-type]
            head_out = Volume(head_out.numel, 1, 1, flat=True)
        self._head_volume = head_out
        self.num_features = head_out.c
        self.feature_info = stage_info(spec)
        self.pretrained_cfg: dict[str, Any] = dict(pretrained_cfg or {})
        self.class_names: list[str] | None = None
        self._fits: torch.Size | None = None  # the last input shape checked against the spec
        self._check_aux_taps()

    def _check_aux_taps(self) -> None:
        top = set(self.features.children())
        for name, module in self.named_modules():
            if isinstance(module, AuxTap) and module not in top:
                raise ConfigError(f"{name}: an auxiliary classifier must sit at the top level of the features")

    # ---- the contract ----------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(x)
        return x if pre_logits else self.post(self.classifier(x))

    def forward_intermediates(
        self, x: torch.Tensor, indices: StageIndices = None, *, intermediates_only: bool = False,
        stop_early: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:  # fmt: skip
        """The feature maps where the chosen stages of ``feature_info`` end, as in timm.

        ``indices``: None for every stage, n for the last n, or a list of stage indices. Returns
        ``(forward_features output, maps)``, or only the maps with ``intermediates_only``; ``stop_early``
        skips the layers after the last chosen stage (the first item is then that stage's map).
        """
        self._check_input(x)
        final, maps = stage_outputs(self.features, x, select_stages(self.feature_info, indices),
                                    stop_early=stop_early or intermediates_only)  # fmt: skip
        return maps if intermediates_only else (final, maps)

    def _check_input(self, x: torch.Tensor) -> None:
        # tracing() first: comparing a traced (symbolic) shape with the cached one would add a guard on the batch
        if isinstance(x, torch.Tensor) and not tracing() and x.shape != self._fits:
            check_input(self.spec, tuple(x.shape))  # a SizingError naming the layer, not a torch error
            self._fits = x.shape

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        output = self.forward_logits(x)
        if isinstance(output, AuxOutputs):
            return output._replace(logits=self.post(output.logits))
        return self.post(output)

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        """The class scores before a trailing SOFTMAX (``post``): what a loss and ``predict``'s own softmax take.
        The same as ``forward`` for a network that does not end in SOFTMAX."""
        self._check_input(x)
        if self.training and self.has_aux:
            aux, weights = [], []
            for module in self.features.children():
                x = module(x)
                if isinstance(module, AuxTap):
                    aux.append(module.head(x))
                    weights.append(module.weight)
            return AuxOutputs(self.classifier(self.pre_logits(x)), tuple(aux), tuple(weights))
        return self.classifier(self.pre_logits(self.forward_features(x)))

    @property
    def has_aux(self) -> bool:
        return any(isinstance(m, AuxTap) for m in self.features.children())

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh ``num_classes``-way one (0: none, pooled features out)."""
        spec = with_classifier(self.spec, num_classes)
        parts = split(spec)
        device = next((p.device for p in self.parameters()), torch.device("cpu"))
        self._reset_aux(spec, device)
        if parts.classifier is None:
            self.classifier = nn.Identity()
            self.post = nn.Sequential()
        else:
            builder, ctx = ModuleBuilder(), Context(owned=True)
            self.classifier = walk(parts.classifier, self._head_volume, "classifier", builder, ctx)[0].to(device)
        self.spec, self.num_classes = spec, num_classes
        self.class_names = None
        self._fits = None

    def _reset_aux(self, spec: NetSpec, device: torch.device) -> None:
        """Rebuild the auxiliary heads for the new classes (removed for 0)."""
        if not self.has_aux:
            return
        named = dict(split(spec).features)
        v = input_volume(spec)
        for name, node in split(self.spec).features:
            out = output_of(node, v, f"features.{name}")
            module = getattr(self.features, name)
            if isinstance(module, AuxTap):
                if name in named:
                    head = walk(named[name], v, f"features.{name}", ModuleBuilder(), Context())[0]
                    setattr(self.features, name, head.to(device))
                else:
                    delattr(self.features, name)
            v = out

    @property
    def default_cfg(self) -> dict[str, Any]:  # timm's older name
        return self.pretrained_cfg


def stage_info(spec: NetSpec) -> list[dict[str, Any]]:
    """Where each stage of the feature extractor ends, timm-style.

    ``reduction`` is the input size over the feature map size, rounded to a power of two, so a
    227-pixel AlexNet still reports 4, 8, 16 and 32. A stage ends at the last top-level layer before the
    reduction grows, and at the end of the features.
    """
    v = input_volume(spec)
    size = v.h
    ends: list[dict[str, Any]] = []
    for i, (name, node) in enumerate(split(spec).features):
        v = output_of(node, v, f"features.{name}")
        reduction = 2 ** round(math.log2(size / v.h)) if not v.flat else ends[-1]["reduction"] if ends else 1
        if ends and ends[-1]["reduction"] == reduction:
            ends.pop()
        ends.append({"num_chs": v.c, "reduction": reduction, "module": f"features.{name}", "index": i})
    return ends
