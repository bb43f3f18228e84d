"""Recognise the layout of a state dict (ours, torchvision's, timm's) and rename its keys to ours.

Each zoo family gives key maps (``ModelEntry.key_maps``: layout -> module-prefix table). A file is in the
layout whose map renames the most of its keys onto the model's keys; our own layout is the identity map.
Before that, two kinds of wrapping are undone: the ``module.`` prefix that DataParallel/DDP add (and the
``_orig_mod.`` prefix of ``torch.compile``), and the pre-0.3 key names of torchvision's DenseNet files.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import torch

from convarch.errors import ConvarchError, WeightsError
from convarch.spec.nodes import NetSpec
from convarch.zoo.keymaps import rename
from convarch.zoo.registry import KeyMap

OUR_LAYOUT = "convarch"
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# torchvision's published DenseNet files predate its module names: "denselayer1.norm.1.weight" is today's
# "denselayer1.norm1.weight" (torchvision/models/densenet.py, _load_state_dict, does the same repair).
_LEGACY_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LayoutMatch:
    layout: str
    state: State  # renamed to our keys
    matched: int  # how many of the model's keys the renamed file provides


def unwrap_keys(state: Mapping[str, torch.Tensor]) -> State:
    """Drop the prefixes DDP and torch.compile put on every key, and repair legacy DenseNet names."""
    state = dict(state)
    stripped = True
    while stripped and state:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if all(key.startswith(prefix) for key in state):
                state = {key[len(prefix) :]: value for key, value in state.items()}
                stripped = True
    return {_LEGACY_DENSENET.sub(r"\1\2", key): value for key, value in state.items()}


def detect_layout(
    state: State,
    expected: Collection[str],
    key_maps: Mapping[str, KeyMap],
    key_spec: NetSpec,
    *,
    where: str,
) -> LayoutMatch:
    """The layout whose key map covers the most of the model's keys; ours wins ties."""
    expected = set(expected)
    candidates = [LayoutMatch(OUR_LAYOUT, state, len(expected.intersection(state)))]
    for layout, key_map in key_maps.items():
        try:
            renamed = rename(state, key_map(key_spec))
        except (ConvarchError, ValueError, KeyError, IndexError):
            continue  # a map that does not apply to this configuration cannot be the file's layout
        candidates.append(LayoutMatch(layout, renamed, len(expected.intersection(renamed))))
    best = max(candidates, key=lambda match: match.matched)  # max keeps the first of equals
    if best.matched == 0:
        layouts = ", ".join(match.layout for match in candidates)
        raise WeightsError(
            f"{where} does not fit this model in any known layout ({layouts}): none of its keys names one of "
            f"the model's tensors. The file starts with {sorted(state)[:3]}; the model expects names such as "
            f"{sorted(expected)[:3]}. Is it a checkpoint of another network?"
        )
    return best
