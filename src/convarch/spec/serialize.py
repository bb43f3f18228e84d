"""Specs as JSON: a lossless, total encoding used by checkpoints (``ca.save``) beside the pattern text.

Only the known node classes can be decoded, so a checkpoint header can never name arbitrary code.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from convarch.errors import ConfigError
from convarch.spec.layers import PRIMITIVES
from convarch.spec.nodes import Aux, Block, Dense, NetSpec, Node, Opt, Parallel, Repeat, Residual, Seq
from convarch.spec.volume import Volume

KIND = "node"  # the key naming a node's class ("type" is a POOL argument)
NODE_TYPES: dict[str, type[Node]] = {
    cls.__name__: cls for cls in (Seq, Repeat, Opt, Parallel, Residual, Dense, Aux, Block, *PRIMITIVES.values())
}


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


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get(KIND)
        if kind not in NODE_TYPES:
            raise ConfigError(f"unknown spec node type {kind!r} in the saved spec; is it from a newer convarch?")
        cls = NODE_TYPES[kind]
        known = {f.name for f in fields(cls)}
        args = {k: _decode(v) for k, v in value.items() if k != KIND}
        unknown = set(args) - known
        if unknown:
            raise ConfigError(f"saved {kind} has unknown fields {sorted(unknown)}")
        return cls(**args)
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def spec_to_dict(spec: NetSpec) -> dict[str, Any]:
    return {"input": list(spec.input.chw) if spec.input else None, "layers": _encode(spec.layers)}


def spec_from_dict(data: dict[str, Any]) -> NetSpec:
    try:
        layers = _decode(data["layers"])
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
