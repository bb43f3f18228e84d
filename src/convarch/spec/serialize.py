"""Specs as JSON: a lossless, total encoding used by checkpoints (``ca.save``) beside the pattern text.

Every node is written as its class name and its fields. Only convarch's own node classes (the subclasses
of ``Node`` defined in ``convarch`` modules, found when decoding) can be decoded, so a checkpoint header can
never name arbitrary code, and a new combinator or primitive needs no entry here.

``format`` versions: 1 (no ``format`` key) was written before the node protocol; its nodes and fields are a
subset of version 2's, so it decodes as it is. A future change of fields adds a version and an upgrade step
in ``_UPGRADES``, so every checkpoint ever written still loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from convarch.errors import ConfigError
from convarch.spec import layers  # noqa: F401  (defines every primitive, so each is a Node subclass here)
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume

KIND = "node"  # the key naming a node's class ("type" is a POOL argument)
FORMAT = 2
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: lambda data: data}  # version -> next


def node_types() -> dict[str, type[Node]]:
    """Every node class convarch defines, by class name."""
    found: dict[str, type[Node]] = {}
    pending: list[type[Node]] = [Node]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("convarch.") and cls is not Node:
            found[cls.__name__] = cls
    return found


def _encode(value: Any) -> Any:
    if isinstance(value, Node):
        out = {KIND: type(value).__name__}
        for f in fields(value):
            item = getattr(value, f.name)
            if not (f.name == "label" and item is None):
                out[f.name] = _encode(item)
        return out
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any, types: dict[str, type[Node]]) -> Any:
    if isinstance(value, dict):
        kind = value.get(KIND)
        if kind not in types:
            raise ConfigError(f"unknown spec node type {kind!r} in the saved spec; is it from a newer convarch?")
        cls = types[kind]
        known = {f.name for f in fields(cls)}
        args = {k: _decode(v, types) for k, v in value.items() if k != KIND}
        unknown = set(args) - known
        if unknown:
            raise ConfigError(f"saved {kind} has unknown fields {sorted(unknown)}")
        return cls(**args)
    if isinstance(value, list):
        return tuple(_decode(v, types) for v in value)
    return value


def spec_to_dict(spec: NetSpec) -> dict[str, Any]:
    return {"format": FORMAT, "input": list(spec.input.chw) if spec.input else None, "layers": _encode(spec.layers)}


def _upgraded(data: dict[str, Any]) -> dict[str, Any]:
    version = data.get("format", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"the saved spec has an unknown format {version!r}")
    if version > FORMAT:
        raise ConfigError(f"the saved spec has format {version}, newer than this convarch reads ({FORMAT}); upgrade")
    while version < FORMAT:
        data, version = _UPGRADES[version](data), version + 1
    return data


def spec_from_dict(data: dict[str, Any]) -> NetSpec:
    if not isinstance(data, dict):
        raise ConfigError("the saved spec is malformed: expected a JSON object")
    data = _upgraded(data)
    try:
        layers = _decode(data["layers"], node_types())
        volume = Volume.of(tuple(data["input"])) if data.get("input") else None
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"the saved spec is malformed: {error}") from None
    if not isinstance(layers, Seq):
        raise ConfigError("the saved spec must have a sequence of layers at the top")
    return NetSpec(layers, volume)


def spec_to_json(spec: NetSpec) -> str:
    return json.dumps(spec_to_dict(spec), separators=(",", ":"))


def spec_from_json(text: str) -> NetSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"the saved spec is not valid JSON: {error}") from None
    return spec_from_dict(data)
