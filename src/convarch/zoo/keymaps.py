"""Helpers for weight-key maps: another library's state-dict names -> ours.

A family describes the correspondence as a table of module prefixes (``"features.0"`` ->
``"features.conv1"``), built from its spec so that it follows the configuration. ``rename`` applies it.
A prefix mapped to None names modules the configuration lacks (torchvision's GoogLeNet auxiliary heads in
a model built without them): their keys are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from convarch.errors import ConfigError
from convarch.spec.layers import FC
from convarch.spec.nodes import NetSpec
from convarch.spec.walk import split, trace


def rename(state: Mapping[str, Any], prefixes: Mapping[str, str | None]) -> dict[str, Any]:
    """Rename each key by its longest matching module prefix; keys that match none are kept as they are.

    Keys under a prefix mapped to None are dropped.
    """
    ordered = sorted(prefixes, key=len, reverse=True)
    out: dict[str, Any] = {}
    for key, value in state.items():
        target: str | None = key
        for src in ordered:
            if key.startswith(src + "."):
                target = None if prefixes[src] is None else prefixes[src] + key[len(src) :]
                break
        if target is not None:
            out[target] = value
    return out


def squeeze_linear(state: Mapping[str, Any], spec: NetSpec) -> tuple[dict[str, Any], list[str]]:
    """Our FC weights from a file whose linear layers are 1x1 convs (timm's resnetv2 head).

    A 1x1 conv on pooled features computes the same map as a linear layer, so its weight is only
    flattened. Returns the state and the keys it changed.
    """
    out, changed = dict(state), []
    for path in fc_chain(spec):
        key = f"{path}.weight"
        weight = out.get(key)
        if weight is not None and getattr(weight, "ndim", 0) == 4 and tuple(weight.shape[2:]) == (1, 1):
            out[key] = weight.flatten(1)
            changed.append(key)
    return out, changed


def sequential(src: str, ours: str, names: Iterable[str]) -> dict[str, str]:
    """``src.0``, ``src.1``, ... -> ``ours.<name0>``, ``ours.<name1>``, ...: two aligned Sequentials."""
    return {f"{src}.{i}": f"{ours}.{name}" for i, name in enumerate(names)}


def fc_chain(spec: NetSpec) -> list[str]:
    """Our module paths of the head's FC layers in order, the classifier last."""
    parts = split(spec)
    hidden = [f"pre_logits.{name}" for name, node in parts.pre_logits if isinstance(node, FC)]
    return [*hidden, "classifier"] if parts.classifier is not None else hidden


def in_order(spec: NetSpec, names: Sequence[str]) -> dict[str, str]:
    """Another library's names for our modules with parameters, listed in the order our walk meets them.

    For layouts that number modules by their place in the reference's code (torchvision's ``features.3.conv.1``)
    rather than by anything in the network's structure: the family generates the names from its configuration.
    """
    ours = [step.path for step in trace(spec) if step.layer.params(step.input)]
    if len(names) != len(ours):
        raise ConfigError(f"the key map names {len(names)} modules with parameters but the network has {len(ours)}")
    return dict(zip(names, ours, strict=True))


def feature_names(spec: NetSpec) -> list[str]:
    return [name for name, _ in split(spec).features]


def from_layout(name: str, state: Mapping[str, Any], layout: str, spec: NetSpec | None = None) -> dict[str, Any]:
    """A state dict in another library's layout (``"torchvision"``, ``"timm"``) renamed to ours."""
    from convarch.errors import WeightsError
    from convarch.zoo.registry import get_entry

    entry = get_entry(name)
    if layout not in entry.key_maps:
        known = ", ".join(sorted(entry.key_maps)) or "none"
        raise WeightsError(f"{name} has no key map from the {layout!r} layout; known layouts: {known}")
    spec = spec or entry.spec()
    return squeeze_linear(rename(state, entry.key_maps[layout](spec)), spec)[0]
