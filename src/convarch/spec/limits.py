"""Documented limits (docs/pattern-language.md). Absurd input is refused against these before any
memory is spent: nothing the parser, binder or builder accepts can hang or exhaust memory."""

from __future__ import annotations

from convarch.spec.layers import Layer
from convarch.spec.nodes import Node

MAX_TEXT = 100_000  # characters of pattern text
MAX_DEPTH = 32  # nested groups, branches, repeats and optionals
MAX_LAYERS = 10_000  # primitives once every repeat is expanded
MAX_REPEAT = 10_000  # one repetition count
MAX_DIM = 65_536  # any size, width, filter, stride or padding
MAX_BUILD_PARAMS = 2_000_000_000  # parameters a build may allocate (8 GB of float32)


def expanded_size(node: Node, variables: dict[str, int] | None = None) -> int:
    """Primitives in a node once repeats are expanded; an unbound variable repeat counts once."""
    if isinstance(node, Layer):
        return 1
    total = sum(expanded_size(child, variables) for child in node.children())
    return total * node.copies(variables or {})
