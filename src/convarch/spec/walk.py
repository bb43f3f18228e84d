"""One walk over a spec, shared by every interpreter.

``walk`` carries the volume through the tree, names every node the way the built module will be named
(``features.layer1.0.body.conv1``), and asks an ``Interpreter`` to turn each piece into its result:
modules for the builder, rows for the analyser. Naming and volume rules therefore exist once.

Naming inside a container (an ``nn.Sequential``): a labelled node takes its label; an unlabelled
primitive takes its kind and a counter (``conv1``, ``relu1``, ``conv2``); an unlabelled composite takes
its index among composites (``0``, ``1``: torchvision's ``layer1.0``). Unlabelled sequences and integer
repeats are spliced into the surrounding container.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from convarch.errors import ConfigError, SizingError
from convarch.spec.layers import Layer, Softmax
from convarch.spec.nodes import NetSpec, Node, Repeat, Seq
from convarch.spec.volume import Volume

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Context:
    """What a layer may assume about its input tensor.

    ``owned``: nothing else reads the input after this layer, so an in-place op (ReLU) is safe. It is
    False at the network input and wherever an input fans out (branches, residual bodies, dense layers).
    """

    owned: bool = False
    aux: bool = False  # inside an auxiliary classifier (training-only side output)

    def fresh(self, owned: bool = False) -> Context:
        return Context(owned=owned, aux=self.aux)


class Interpreter(Generic[T]):
    """Turns the pieces of a walk into results. Every method has a default, so a reader overrides only
    what it needs: ``layer`` for each primitive, ``sequence`` for a container of named items, ``combine``
    for any other node (``node.flow`` decides its parts; ``parts`` maps each part's name to its result, and
    ``node.joins`` says how they meet). The defaults return None, and a named block its body's result: the
    base class alone follows volumes and does nothing else."""

    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> T:
        return None  # type: ignore[return-value]

    def sequence(self, named: list[tuple[str, T]], path: str) -> T:
        return None  # type: ignore[return-value]

    def combine(self, node: Node, parts: dict[str, T], vin: Volume, vout: Volume, path: str, ctx: Context) -> T:
        # A node with no join of its own (a named block) is its one part; ``Node.joins`` says how others join.
        return parts[""] if not node.joins else None  # type: ignore[return-value]


class _Parts(Generic[T]):
    """The ``Walk`` a node's ``flow`` receives: walks each part and keeps its result under its name."""

    __slots__ = ("ctx", "interp", "owned", "parts", "path")

    def __init__(self, path: str, interp: Interpreter[T], ctx: Context) -> None:
        self.path, self.interp, self.ctx, self.owned = path, interp, ctx, ctx.owned
        self.parts: dict[str, T] = {}

    def __call__(
        self, part: str, child: Node, v: Volume, *, owned: bool = False, aux: bool = False, container: bool = True
    ) -> Volume:
        path = f"{self.path}.{part}" if part else self.path
        ctx = Context(owned=owned, aux=self.ctx.aux or aux)
        result, out = (walk_container if container else walk)(child, v, path, self.interp, ctx)
        self.parts[part] = result
        return out


def splice(items: tuple[Node, ...]) -> Iterator[Node]:
    """Items of a container with unlabelled sequences and integer repeats spliced in."""
    for item in items:
        if isinstance(item, Seq) and item.label is None:
            yield from splice(item.items)
        elif isinstance(item, Repeat) and item.label is None:
            yield from splice((item.body,) * _count(item))
        else:
            yield item


def _count(repeat: Repeat) -> int:
    if isinstance(repeat.times, str):
        raise ConfigError(f"repeat count {repeat.times} is a template variable; bind it first (e.g. {repeat.times}=2)")
    return repeat.times


def leaf_kind(node: Node) -> Layer | None:
    """The first primitive a node applies (None for composites that branch)."""
    while True:
        if isinstance(node, Layer):
            return node
        if isinstance(node, Seq):
            items = list(splice(node.items))
            if not items:
                return None
            node = items[0]
        elif (inner := node.wrapped()) is not None:
            node = inner
        else:
            return None


def name_items(items: list[Node]) -> list[tuple[str, Node]]:
    """Module names for the items of one container (see the module docstring)."""
    counters: dict[str, int] = {}
    composites = 0
    named: list[tuple[str, Node]] = []
    for item in items:
        if item.label is not None:
            name = item.label
        elif isinstance(item, Layer):
            stem = item.kind.lower()
            counters[stem] = counters.get(stem, 0) + 1
            name = f"{stem}_{counters[stem]}" if stem[-1].isdigit() else f"{stem}{counters[stem]}"  # relu6_1
        else:
            name = str(composites)
            composites += 1
        named.append((name, item))
    seen: set[str] = set()
    for name, _ in named:
        if name in seen:
            raise ConfigError(f"two layers in one group are both named {name!r}; rename one label")
        seen.add(name)
    return named


@dataclass(frozen=True)
class Split:
    """The top level of a network, cut the way the model contract needs it."""

    features: list[tuple[str, Node]]
    pre_logits: list[tuple[str, Node]]
    classifier: Node | None
    post: list[tuple[str, Node]]


def starts_head(node: Node) -> bool:
    first = leaf_kind(node)
    return first is not None and first.starts_head()


def split(spec: NetSpec) -> Split:
    """Features end where the head starts: the first FC, GAP, FLATTEN, RBF or adaptive POOL.

    The classifier is the last FC/RBF of the head, followed by nothing but SOFTMAX.
    """
    named = name_items(list(splice(spec.layers.items)))
    start = next((i for i, (_, node) in enumerate(named) if starts_head(node)), len(named))
    features, head = named[:start], named[start:]
    post: list[tuple[str, Node]] = []
    while head and isinstance(head[-1][1], Softmax):
        post.insert(0, head.pop())
    classifier = None
    if head and isinstance(head[-1][1], Layer) and head[-1][1].classifier:
        classifier = head.pop()[1]
    elif post:
        head, post = head + post, []
    return Split(features, head, classifier, post)


def _located(error: SizingError, path: str) -> SizingError:
    if path and not error.layer.startswith(path):
        return SizingError(error.reason, layer=f"{path} {error.layer}".strip(), rule=error.rule)
    return error


def walk(node: Node, v: Volume, path: str, interp: Interpreter[T], ctx: Context) -> tuple[T, Volume]:
    """Interpret one node on input volume ``v``; returns the result and the output volume.

    Primitives and containers are walked here; every other node walks its own parts (``Node.flow``).
    """
    if isinstance(node, Layer):
        try:
            out = node.output(v)
        except SizingError as error:
            raise _located(error, path) from None
        return interp.layer(node, v, out, path, ctx), out
    if isinstance(node, Seq | Repeat):
        return walk_container(node, v, path, interp, ctx)
    if not isinstance(node, Node):
        raise ConfigError(f"{path}: not a spec node: {node!r}")
    parts = _Parts(path, interp, ctx)
    out = node.flow(parts, v)
    return interp.combine(node, parts.parts, v, out, path, ctx), out


def walk_container(node: Node, v: Volume, path: str, interp: Interpreter[T], ctx: Context) -> tuple[T, Volume]:
    """Interpret a node as a container of named items (an ``nn.Sequential`` when built)."""
    if isinstance(node, Repeat):
        items: list[Node] = list(splice((node.body,) * _count(node)))
    else:
        items = list(splice(node.items)) if isinstance(node, Seq) else [node]
    return walk_named(name_items(items), v, path, interp, ctx)


def walk_named(
    named: list[tuple[str, Node]], v: Volume, path: str, interp: Interpreter[T], ctx: Context
) -> tuple[T, Volume]:
    results = []
    for name, item in named:
        result, v = walk(item, v, f"{path}.{name}" if path else name, interp, ctx)
        results.append((name, result))
        # Dropout (in eval) and Flatten (a view) hand on their input; anything else makes a new tensor.
        if not item.hands_on_input:
            ctx = ctx.fresh(owned=True)
    return interp.sequence(results, path), v


def input_volume(spec: NetSpec) -> Volume:
    if spec.input is None:
        raise ConfigError("the network has no INPUT size; give one, e.g. input_size=(3, 224, 224)")
    return spec.input


# ---- the simplest interpreter: a flat trace of every primitive ------------------------------------------


@dataclass(frozen=True)
class Step:
    """One primitive applied: where it sits in the built module, and its input and output volumes."""

    path: str
    layer: Layer
    input: Volume
    output: Volume
    aux: bool = False  # part of an auxiliary classifier, which runs only in training


class Tracer(Interpreter[None]):
    """Collects one ``Step`` per primitive applied, in execution order."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> None:
        self.steps.append(Step(path, layer, vin, vout, ctx.aux))


def output_of(node: Node, v: Volume, path: str = "") -> Volume:
    """The output volume of one node on input ``v`` (a SizingError where it does not work out)."""
    return walk(node, v, path, Interpreter(), Context())[1]


def walk_network(spec: NetSpec, interp: Interpreter[T], v: Volume | None = None) -> dict[str, tuple[T, Volume]]:
    """Walk the four parts of a network (features, pre_logits, classifier, post) in order."""
    parts = split(spec)
    v = input_volume(spec) if v is None else v
    results: dict[str, tuple[T, Volume]] = {}
    result, v = walk_named(parts.features, v, "features", interp, Context(owned=False))
    results["features"] = (result, v)
    result, v = walk_named(parts.pre_logits, v, "pre_logits", interp, Context(owned=bool(parts.features)))
    results["pre_logits"] = (result, v)
    if parts.classifier is not None:
        results["classifier"] = walk(parts.classifier, v, "classifier", interp, Context(owned=True))
        v = results["classifier"][1]
    result, v = walk_named(parts.post, v, "post", interp, Context(owned=True))
    results["post"] = (result, v)
    return results


def trace(spec: NetSpec, input_size: Volume | None = None) -> list[Step]:
    """Every primitive of the network with its volumes, in execution order."""
    tracer = Tracer()
    walk_network(spec, tracer, input_size)
    return tracer.steps


def output_volume(spec: NetSpec, input_size: Volume | None = None) -> Volume:
    return walk_network(spec, Interpreter(), input_size)["post"][1]
