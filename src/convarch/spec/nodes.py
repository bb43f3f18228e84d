"""The spec tree: the base of every node, the node protocol, and the combinators that compose primitives.

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
* ``Gate``      ``x * gate(x)``, one factor per channel: squeeze-and-excitation (Hu et al. 2017 §3);
* ``Block``     a named composite (``BOTTLENECK(128, s=2)``) that prints as its name but carries its body.

The protocol (docs/design.md, "One walk, several interpreters"). A node declares

* its children: ``slots`` names the fields that hold sub-nodes; ``children()`` lists them and
  ``rebuild(children)`` makes the same node with new ones, so tree edits (``bind``) need no list of types;
* how the volume flows: ``flow(walk, v)`` walks each child through ``walk(part, child, volume)`` (which
  names it ``path.part`` and returns its output volume) and returns the node's own output volume, raising
  a ``SizingError`` where the children's volumes do not fit together;
* its torch module: ``module(parts, vin, vout)`` from the modules built for its parts;
* facts readers ask about: ``spine()`` (the parts in series from input to output, for strides),
  ``output_overwritable()`` (whether a residual sum may be added into its output in place),
  ``wrapped()`` (the one node it applies, for ``Repeat``/``Opt``/``Block``).

So a new combinator is one class here (plus its torch module in ``nn/layers.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from torch import nn

from convarch.errors import ConfigError, SizingError
from convarch.nn import layers as L
from convarch.spec.volume import Volume


class Walk(Protocol):
    """What ``Node.flow`` may ask of the walk (``spec.walk`` provides it).

    ``walk(part, child, v)`` interprets ``child`` on input ``v`` as the module ``path.part`` (``part=""``:
    at the node's own path) and returns its output volume. ``owned``: the child may overwrite its input in
    place; ``aux``: the child is a training-only head; ``container=False`` walks the child itself rather
    than as an ``nn.Sequential`` of its items.
    """

    path: str
    owned: bool

    def __call__(
        self, part: str, child: Node, v: Volume, *, owned: bool = False, aux: bool = False, container: bool = True
    ) -> Volume: ...


@dataclass(frozen=True)
class Node:
    """Base of every spec node. ``label`` names the built module (``layer1``); None means automatic."""

    label: str | None = field(default=None, kw_only=True)

    slots: ClassVar[tuple[str, ...]] = ()  # the fields that hold sub-nodes: a Node, None or a tuple of Nodes
    hands_on_input: ClassVar[bool] = False  # its output is its input tensor (eval dropout, a flatten view)
    # How the parts meet in the output, for readers that depend on it (diagrams, the linear-stack rule):
    # "concat", "add" (a residual; its parts: pre, body, shortcut, post), "dense" (growing concatenation),
    # "gate" (the input scaled by its part), "tap" (the input passes on; the parts are side outputs), or
    # "" (the output is the one part "" itself: a named block); "none" for nodes the walk handles itself.
    joins: ClassVar[str] = "none"

    # ---- the tree ---------------------------------------------------------------------------------
    def children(self) -> tuple[Node, ...]:
        """The direct sub-nodes, in slot order (a ``None`` slot is left out)."""
        found: list[Node] = []
        for name in self.slots:
            value = getattr(self, name)
            if isinstance(value, tuple):
                found.extend(value)
            elif value is not None:
                found.append(value)
        return tuple(found)

    def rebuild(self, children: Sequence[Node]) -> Node:
        """The same node with new children, given in ``children()`` order."""
        new = iter(children)
        changes: dict[str, Any] = {}
        for name in self.slots:
            value = getattr(self, name)
            if isinstance(value, tuple):
                changes[name] = tuple(next(new) for _ in value)
            elif value is not None:
                changes[name] = next(new)
        return replace(self, **changes) if changes else self

    def map_children(self, fn: Callable[[Node], Node]) -> Node:
        return self.rebuild([fn(child) for child in self.children()])

    def unbound(self) -> bool:
        """Whether this node itself (not its children) still needs ``bind``."""
        return False

    def copies(self, variables: dict[str, int]) -> int:
        """How many times the children are applied (a repeat's count); 1 for most nodes."""
        return 1

    # ---- the walk ---------------------------------------------------------------------------------
    def flow(self, walk: Walk, v: Volume) -> Volume:
        """Walk the children (see ``Walk``) and return this node's output volume."""
        raise ConfigError(f"{walk.path}: {type(self).__name__} cannot be walked")

    def module(self, parts: dict[str, nn.Module], vin: Volume, vout: Volume) -> nn.Module:
        """The torch module, from the modules built for each part ``flow`` walked."""
        raise NotImplementedError(f"{type(self).__name__}.module")

    def spine(self) -> tuple[str, ...]:
        """The parts that carry the input, in series, to the output's H x W; () keeps H x W."""
        return ()

    def output_overwritable(self) -> bool:
        """Whether autograd leaves this node's output alone, so ``out += skip`` may write into it."""
        return False

    def wrapped(self) -> Node | None:
        """The one node this node applies, with nothing before or after it (a repeat, an option, a block)."""
        return None


@dataclass(frozen=True)
class Seq(Node):
    items: tuple[Node, ...] = ()

    slots: ClassVar[tuple[str, ...]] = ("items",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))

    def output_overwritable(self) -> bool:
        return bool(self.items) and self.items[-1].output_overwritable()


@dataclass(frozen=True)
class Repeat(Node):
    body: Node
    times: int | str  # a str is a template variable, bound by ``bind``

    slots: ClassVar[tuple[str, ...]] = ("body",)

    def unbound(self) -> bool:
        return isinstance(self.times, str)

    def copies(self, variables: dict[str, int]) -> int:
        return variables.get(self.times.upper(), 1) if isinstance(self.times, str) else self.times

    def wrapped(self) -> Node | None:
        return self.body

    def output_overwritable(self) -> bool:
        return self.body.output_overwritable()


@dataclass(frozen=True)
class Opt(Node):
    body: Node

    slots: ClassVar[tuple[str, ...]] = ("body",)

    def unbound(self) -> bool:
        return True

    def flow(self, walk: Walk, v: Volume) -> Volume:
        raise ConfigError(f"{walk.path}: an optional element ('?') must be resolved by bind before it is built")

    def wrapped(self) -> Node | None:
        return self.body


@dataclass(frozen=True)
class Parallel(Node):
    branches: tuple[Node, ...]

    slots: ClassVar[tuple[str, ...]] = ("branches",)
    joins: ClassVar[str] = "concat"

    def __post_init__(self) -> None:
        object.__setattr__(self, "branches", tuple(self.branches))

    def flow(self, walk: Walk, v: Volume) -> Volume:
        outs = [walk(f"branch{i}", branch, v) for i, branch in enumerate(self.branches, 1)]
        if any(o.flat for o in outs) or len({(o.h, o.w) for o in outs}) > 1:
            shapes = ", ".join(f"branch{i}: {o}" for i, o in enumerate(outs, 1))
            raise SizingError(
                f"parallel branches must keep the same H x W to be concatenated, got {shapes}. "
                "Match their strides and padding.",
                layer=walk.path,
                rule="branch-mismatch",
            )
        return Volume(sum(o.c for o in outs), outs[0].h, outs[0].w)

    def module(self, parts: dict[str, nn.Module], vin: Volume, vout: Volume) -> nn.Module:
        return L.Concat(list(parts.values()))

    def spine(self) -> tuple[str, ...]:
        return ("branch1",)  # every branch ends at the same H x W (``flow`` checks it)

    def output_overwritable(self) -> bool:
        return True  # a fresh torch.cat result


@dataclass(frozen=True)
class Residual(Node):
    """``post(scale * body(pre(x)) + shortcut(x'))``.

    ``shortcut`` is used only when the body changes the volume (a projection, He et al. 2015 eq. 2, or
    the zero-padded identity of option A); otherwise the identity is used. With ``pre`` (pre-activation,
    He et al. 2016) the projection sees the pre-activated input ``x' = pre(x)``, the identity the raw ``x``.

    ``skip_optional``: a body that changes the volume and has no shortcut runs alone, without a skip, rather
    than being refused: MobileNetV2's inverted residual adds its input exactly when the volumes agree
    (Sandler et al. 2018 §4, Fig. 4). Such a residual takes no ``pre`` or ``post``.
    """

    body: Node
    shortcut: Node | None = None
    pre: Node | None = None
    post: Node | None = None
    scale: float = 1.0
    skip_optional: bool = False

    slots: ClassVar[tuple[str, ...]] = ("pre", "body", "shortcut", "post")
    joins: ClassVar[str] = "add"

    def __post_init__(self) -> None:
        if self.skip_optional and (self.pre is not None or self.post is not None):
            raise ConfigError("a residual whose skip is optional takes no pre or post layers")

    def flow(self, walk: Walk, v: Volume) -> Volume:
        inner = v if self.pre is None else walk("pre", self.pre, v)
        # The body's input may also feed the projection, so the body must not modify it in place.
        out = walk("body", self.body, inner)
        if out != v and self.shortcut is not None:
            skip = walk("shortcut", self.shortcut, inner)
            if skip != out:
                raise SizingError(
                    f"the shortcut gives {skip} but the body gives {out}; they must match to be added. "
                    "Set the projection's stride and width to the body's.",
                    layer=walk.path,
                    rule="channel-mismatch",
                )
        elif out != v and not self.skip_optional:
            raise SizingError(
                f"the residual body turns {v} into {out}, so the identity shortcut cannot be added. "
                "Give the block a projection shortcut (1x1 conv with the body's stride and width), or keep "
                "the channels and stride unchanged.",
                layer=walk.path,
                rule="channel-mismatch",
            )
        if self.post is not None:
            out = walk("post", self.post, out, owned=True)
        return out

    def module(self, parts: dict[str, nn.Module], vin: Volume, vout: Volume) -> nn.Module:
        skips = "shortcut" in parts or vin == vout or not self.skip_optional
        return L.ResidualUnit(parts["body"], parts.get("shortcut"), parts.get("pre"), parts.get("post"), self.scale,
                              add_inplace=self.body.output_overwritable(), skip=skips)  # fmt: skip

    def spine(self) -> tuple[str, ...]:
        return ("pre", "body", "post")

    def output_overwritable(self) -> bool:
        return self.post is None or self.post.output_overwritable()


@dataclass(frozen=True)
class Dense(Node):
    """``count`` copies of ``body``; copy i sees the concatenation of the input and copies 1..i-1."""

    body: Node
    count: int

    slots: ClassVar[tuple[str, ...]] = ("body",)
    joins: ClassVar[str] = "dense"

    def copies(self, variables: dict[str, int]) -> int:
        return self.count

    def flow(self, walk: Walk, v: Volume) -> Volume:
        c = v.c
        for i in range(1, self.count + 1):
            out = walk(f"layer{i}", self.body, Volume(c, v.h, v.w))
            if (out.h, out.w) != (v.h, v.w) or out.flat:
                raise SizingError(
                    f"a dense layer must keep H x W ({v.h}x{v.w}) so its output can be concatenated, "
                    f"got {out}. Use stride 1 and padding (F-1)/2 inside the block.",
                    layer=f"{walk.path}.layer{i}",
                    rule="branch-mismatch",
                )
            c += out.c
        return Volume(c, v.h, v.w)

    def module(self, parts: dict[str, nn.Module], vin: Volume, vout: Volume) -> nn.Module:
        return L.DenseBlock(list(parts.values()))

    def output_overwritable(self) -> bool:
        return True  # a fresh torch.cat result


@dataclass(frozen=True)
class Aux(Node):
    """An auxiliary classifier tapped off the main path (GoogLeNet §5, Szegedy et al. 2014).

    The main path passes through unchanged. In training the model also returns ``body(x)``, whose loss is
    added with ``weight``; at inference the head is skipped. It must sit at the top level of the features.
    """

    body: Node
    weight: float = 0.3

    slots: ClassVar[tuple[str, ...]] = ("body",)
    joins: ClassVar[str] = "tap"

    def flow(self, walk: Walk, v: Volume) -> Volume:
        out = walk("head", self.body, v, aux=True)
        if not out.flat:
            raise SizingError(f"an auxiliary classifier must end in an FC, but its head gives {out}", layer=walk.path)
        return v

    def module(self, parts: dict[str, nn.Module], vin: Volume, vout: Volume) -> nn.Module:
        return L.AuxTap(parts["head"], self.weight)


@dataclass(frozen=True)
class Gate(Node):
    """``x * gate(x)``: the gate path gives one factor per channel (1x1xC), broadcast over H x W.

    Squeeze-and-excitation (Hu et al. 2017 §3, eq. 4) recalibrates channels this way: squeeze by global
    pooling, excite through a bottleneck of two 1x1 convs ending in a sigmoid. ``reduction`` is that
    bottleneck's ratio r (Table 10): the gate path may narrow the channels by r and must restore them, so
    the input width must be a multiple of r. The gate path's modules sit directly under the gate's own
    module (``se.fc1``, ``se.fc2``), as timm's SE modules name them.
    """

    gate: Node
    reduction: int = 1

    slots: ClassVar[tuple[str, ...]] = ("gate",)
    joins: ClassVar[str] = "gate"

    def __post_init__(self) -> None:
        if not isinstance(self.reduction, int) or isinstance(self.reduction, bool) or self.reduction < 1:
            raise ConfigError(f"a gate's reduction ratio must be a whole number of at least 1, got {self.reduction!r}")

    def flow(self, walk: Walk, v: Volume) -> Volume:
        if v.flat:
            raise SizingError(f"a channel gate needs a spatial input, but receives the flat vector {v}",
                              layer=walk.path, rule="spatial-after-flat")  # fmt: skip
        if v.c % self.reduction:
            raise SizingError(
                f"the reduction ratio {self.reduction} must divide the {v.c} input channels, but "
                f"{v.c} / {self.reduction} = {v.c / self.reduction:g}. Use a ratio that divides {v.c}, "
                f"or make the width a multiple of {self.reduction}.",
                layer=walk.path,
                rule="channel-mismatch",
            )
        g = walk("", self.gate, v)
        if g.flat or g.c != v.c or (g.h, g.w) not in ((1, 1), (v.h, v.w)):
            raise SizingError(
                f"the gate gives {g} for the input {v}; it must give one factor per input channel "
                f"(1x1x{v.c}) to be multiplied in. End the gate with a 1x1 conv back to {v.c} channels.",
                layer=walk.path,
                rule="channel-mismatch",
            )
        return v

    def module(self, parts: dict[str, nn.Module], vin: Volume, vout: Volume) -> nn.Module:
        gate = parts[""]
        named = gate.named_children() if isinstance(gate, nn.Sequential) else [("gate", gate)]
        return L.ChannelGate(OrderedDict(named))

    def output_overwritable(self) -> bool:
        return True  # the product's backward needs x and the gate, not the product


@dataclass(frozen=True)
class Block(Node):
    """A named composite block: prints as ``NAME(args)``; its cost is the cost of ``body``."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    body: Node

    slots: ClassVar[tuple[str, ...]] = ("body",)
    joins: ClassVar[str] = ""

    def flow(self, walk: Walk, v: Volume) -> Volume:
        return walk("", self.body, v, owned=walk.owned, container=False)

    def module(self, parts: dict[str, nn.Module], vin: Volume, vout: Volume) -> nn.Module:
        return parts[""]

    def spine(self) -> tuple[str, ...]:
        return ("",)

    def wrapped(self) -> Node | None:
        return self.body

    def output_overwritable(self) -> bool:
        return self.body.output_overwritable()


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
