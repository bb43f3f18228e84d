"""Spec -> canonical pattern text, the inverse of the parser: ``parse(to_pattern(s)) == s``.

Canonical form: upper-case names, `` -> `` between elements, arguments only where they differ from their
defaults, groups as ``[ ... ]``, repetition as ``*N``, optional elements with ``?``, parallel branches
as ``{ A | B }``, named blocks as ``NAME(args)`` and labels as ``name: element``.
"""

from __future__ import annotations

from convarch.errors import ConfigError
from convarch.spec.layers import Layer, format_value
from convarch.spec.nodes import Block, NetSpec, Node, Opt, Parallel, Repeat, Seq


def to_pattern_text(spec: NetSpec | Node) -> str:
    if isinstance(spec, NetSpec):
        body = _chain(spec.layers) if spec.layers.label is None else _element(spec.layers)
        head = f"INPUT({spec.input})" if spec.input is not None else ""
        return " -> ".join(part for part in (head, body) if part)
    return _element(spec)


# ``NetSpec.__str__`` imports this name.
to_pattern = to_pattern_text


def _chain(seq: Seq) -> str:
    return " -> ".join(_element(item) for item in seq.items)


def _element(node: Node) -> str:
    text = _atom(node)
    return f"{node.label}: {text}" if node.label is not None else text


def _atom(node: Node) -> str:
    if isinstance(node, Layer):
        return node.text()
    if isinstance(node, Block):
        args = [format_value(a) for a in node.args] + [f"{k}={format_value(v)}" for k, v in node.kwargs]
        return f"{node.name}({', '.join(args)})" if args else node.name
    if isinstance(node, Seq):
        return f"[{_chain(node)}]"
    if isinstance(node, Repeat):
        return f"{_group(node.body)}*{node.times}"
    if isinstance(node, Opt):
        # A bare layer or block takes its '?' directly; a labelled one keeps brackets, or the label would be
        # read as the label of the optional element itself.
        bare = isinstance(node.body, Layer | Block) and node.body.label is None
        return f"{_atom(node.body) if bare else _group(node.body)}?"
    if isinstance(node, Parallel):
        return "{" + " | ".join(_branch(b) for b in node.branches) + "}"
    raise ConfigError(
        f"{type(node).__name__} has no pattern notation of its own; wrap it in a named block "
        "(RES, BOTTLENECK, DENSE, ...) to print it. ca.save stores such specs as JSON instead."
    )


def _group(node: Node) -> str:
    """A repeated or optional body prints in brackets: ``[CONV3-64 -> RELU]*2``, ``[POOL2]*2``.

    The parser reads a one-element group before ``*``/``?`` as that element, so a one-element *sequence*
    body keeps its own brackets: ``[[POOL2]]*2``.
    """
    if isinstance(node, Seq) and node.label is None and len(node.items) != 1:
        return f"[{_chain(node)}]"
    return f"[{_element(node)}]"


def _branch(node: Node) -> str:
    """A branch prints as its chain; a one-element group keeps its brackets (``{[A] | B}``), since the
    parser reads a one-element branch as the element itself."""
    return _chain(node) if isinstance(node, Seq) and node.label is None and len(node.items) > 1 else _element(node)
