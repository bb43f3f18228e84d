"""The spec tree: the base of every node, and the combinators that compose primitives.

A spec says *what* a network is, never how big its input is: a CONV stores its filter count, not its
input channels. Volumes flow through the tree when an interpreter walks it (``spec.walk``), so the same
spec serves any input size.

Combinators (CS231n's vocabulary for putting layers together):

* ``Seq``       layers one after another (``A -> B``);
* ``Repeat``    ``[ ... ]*N`` with ``N`` an integer or a template variable;
* ``Opt``       ``X?``, an element that ``bind`` keeps or drops;
* ``Parallel``  branches on the same input, joined by channel concatenation (Inception, Szegedy 2014 §5);
* ``Residual``  ``post(body(pre(x)) * scale + shortcut(x))`` (He et al. 2015 §3.2; pre-activation: He et
  al. 2016 §3; scaling: Szegedy et al. 2016 §3.3);
* ``Dense``     dense growth: each layer sees the concatenation of all earlier outputs (Huang et al. 2017);
* ``Aux``       an auxiliary classifier tapped off the main path, used only in training (GoogLeNet);
* ``Block``     a named composite (``BOTTLENECK(128, s=2)``) that prints as its name but carries its body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from convarch.spec.volume import Volume


@dataclass(frozen=True)
class Node:
    """Base of every spec node. ``label`` names the built module (``layer1``); None means automatic."""

    label: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Seq(Node):
    items: tuple[Node, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class Repeat(Node):
    body: Node
    times: int | str  # a str is a template variable, bound by ``bind``


@dataclass(frozen=True)
class Opt(Node):
    body: Node


@dataclass(frozen=True)
class Parallel(Node):
    branches: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "branches", tuple(self.branches))


@dataclass(frozen=True)
class Residual(Node):
    """``post(scale * body(pre(x)) + shortcut(x'))``.

    ``shortcut`` is used only when the body changes the volume (a projection, He et al. 2015 eq. 2, or
    the zero-padded identity of option A); otherwise the identity is used. With ``pre`` (pre-activation,
    He et al. 2016) the projection sees the pre-activated input ``x' = pre(x)``, the identity the raw ``x``.
    """

    body: Node
    shortcut: Node | None = None
    pre: Node | None = None
    post: Node | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class Dense(Node):
    """``count`` copies of ``body``; copy i sees the concatenation of the input and copies 1..i-1."""

    body: Node
    count: int


@dataclass(frozen=True)
class Aux(Node):
    """An auxiliary classifier tapped off the main path (GoogLeNet §5, Szegedy et al. 2014).

    The main path passes through unchanged. In training the model also returns ``body(x)``, whose loss is
    added with ``weight``; at inference the head is skipped. It must sit at the top level of the features.
    """

    body: Node
    weight: float = 0.3


@dataclass(frozen=True)
class Block(Node):
    """A named composite block: prints as ``NAME(args)``; its cost is the cost of ``body``."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    body: Node


@dataclass(frozen=True)
class NetSpec:
    """A whole network: an optional INPUT volume and the top-level chain of layers."""

    layers: Seq
    input: Volume | None = None

    def with_input(self, volume: Volume) -> NetSpec:
        return NetSpec(self.layers, volume)

    def __str__(self) -> str:
        from convarch.pattern.printer import to_pattern  # printing lives with the language

        return to_pattern(self)


def as_seq(node: Node | None) -> Seq:
    """View any node as a sequence (an empty one for None)."""
    if node is None:
        return Seq(())
    return node if isinstance(node, Seq) and node.label is None else Seq((node,))


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of a node, in order; used by generic tree walks."""
    if isinstance(node, Seq):
        return node.items
    if isinstance(node, Parallel):
        return node.branches
    if isinstance(node, Residual):
        return tuple(n for n in (node.pre, node.body, node.shortcut, node.post) if n is not None)
    if isinstance(node, Repeat | Opt | Dense | Block | Aux):
        return (node.body,)
    return ()
