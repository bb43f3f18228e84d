"""Named composite blocks: plain functions that return specs, callable from Python and from patterns.

``@block("BOTTLENECK")`` registers a function ``fn(*args, **kwargs) -> Node``. ``make_block`` calls it
and wraps the result in a ``Block`` node whose arguments are canonical: positional parameters by
position, others by name and only when they differ from their defaults. So ``BOTTLENECK(128, s=2)``
prints back the same way however it was called, and ``parse(to_pattern(s)) == s`` holds.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convarch.errors import ConfigError
from convarch.spec.layers import PRIMITIVES
from convarch.spec.nodes import Block, Node


@dataclass(frozen=True)
class BlockDef:
    name: str
    fn: Callable[..., Node]

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.fn) or "").split("\n")[0]


BLOCKS: dict[str, BlockDef] = {}


def block(name: str) -> Callable[[Callable[..., Node]], Callable[..., Block]]:
    """Register ``fn`` as the block ``name``; the decorated function returns the wrapped ``Block``."""
    name = name.upper()

    def register(fn: Callable[..., Node]) -> Callable[..., Block]:
        if name in BLOCKS or name in PRIMITIVES:
            raise ConfigError(f"block name {name!r} is already taken")
        BLOCKS[name] = BlockDef(name, fn)

        def make(*args: Any, **kwargs: Any) -> Block:
            return make_block(name, *args, **kwargs)

        make.__name__, make.__doc__, make.__wrapped__ = fn.__name__, fn.__doc__, fn  # type: ignore[attr-defined]
        return make

    return register


def make_block(name: str, *args: Any, **kwargs: Any) -> Block:
    """Call the block function and wrap its body with canonical arguments."""
    definition = BLOCKS.get(name.upper())
    if definition is None:
        raise ConfigError(f"unknown block {name!r}; known blocks: {', '.join(sorted(BLOCKS))}")
    try:
        bound = definition.signature.bind(*args, **kwargs)
    except TypeError as error:
        raise ConfigError(
            f"{definition.name}: {error}; its signature is {definition.name}{definition.signature}"
        ) from None
    bound.apply_defaults()
    positional, named = [], []
    for param in definition.signature.parameters.values():
        value = bound.arguments[param.name]
        if param.default is inspect.Parameter.empty:
            positional.append(value)
        elif value != param.default:
            named.append((param.name, value))
    body = definition.fn(*bound.args, **bound.kwargs)
    return Block(definition.name, tuple(positional), tuple(named), body)
