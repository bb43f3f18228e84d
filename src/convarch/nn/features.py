"""Feature maps at the end of each stage: timm's ``forward_intermediates`` and ``features_only``.

Detection and segmentation heads (FPN, U-Net) take the maps where the resolution halves, which
``feature_info`` already locates; this module collects them in one pass through ``features``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from convarch.errors import ConfigError
from convarch.nn.input_check import check_input, tracing
from convarch.spec.nodes import NetSpec

StageIndices = int | Sequence[int] | None
"""None: every stage; an int n: the last n stages; a sequence: those stages (negative counts from the end)."""


def select_stages(feature_info: list[dict[str, Any]], indices: StageIndices) -> list[dict[str, Any]]:
    """The chosen entries of ``feature_info``, in network order; a bad index names the valid range."""
    count = len(feature_info)
    if indices is None:
        return list(feature_info)
    if isinstance(indices, int):
        if not 1 <= indices <= count:
            raise ConfigError(f"indices={indices} asks for the last {indices} stages, but this model has {count}")
        return feature_info[count - indices :]
    chosen = set()
    for index in indices:
        if not isinstance(index, int) or not -count <= index < count:
            raise ConfigError(f"stage index {index!r} is out of range: this model has stages 0..{count - 1}")
        chosen.add(index % count)
    if not chosen:
        raise ConfigError("indices is empty: name at least one stage (see model.feature_info)")
    return [feature_info[i] for i in sorted(chosen)]


def stage_outputs(
    features: nn.Module, x: torch.Tensor, stages: list[dict[str, Any]], *, stop_early: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``features`` once, keeping the output of each stage's last module."""
    wanted = {stage["module"] for stage in stages}
    maps = []
    for name, module in features.named_children():
        x = module(x)
        if f"features.{name}" in wanted:
            maps.append(x)
            if stop_early and len(maps) == len(wanted):
                break
    return x, maps


class FeatureExtractor(nn.Module):
    """A backbone whose forward returns the chosen stages' feature maps: ``create_model(..., features_only=True)``.

    It keeps the model's ``features`` (same state-dict keys, so our checkpoints load into it) and drops the
    head; ``feature_info`` lists the chosen stages only.
    """

    def __init__(self, features: nn.Module, spec: NetSpec, feature_info: list[dict[str, Any]],
                 indices: StageIndices = None, pretrained_cfg: dict[str, Any] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.features = features
        self.spec = spec
        self.feature_info = select_stages(feature_info, indices)
        self.pretrained_cfg = dict(pretrained_cfg or {})
        self._fits: torch.Size | None = None

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape != self._fits and not tracing():
            check_input(self.spec, tuple(x.shape))  # a SizingError naming the layer, not a torch error
            self._fits = x.shape
        return stage_outputs(self.features, x, self.feature_info, stop_early=True)[1]
