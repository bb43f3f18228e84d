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
from convarch.spec.layers import CLASSIFIER_KINDS, HEAD_KINDS, Layer, Pool, Softmax
from convarch.spec.nodes import Aux, Block, Dense, NetSpec, Node, Opt, Parallel, Repeat, Residual, Seq
from convarch.spec.volume import Volume

T = TypeVar("T")
PASS_THROUGH = frozenset({"DROPOUT", "FLATTEN"})


@dataclass(frozen=True)
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
    """Turns the pieces of a walk into results; subclasses override what they need."""

    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> T:
        raise NotImplementedError

    def sequence(self, named: list[tuple[str, T]], path: str) -> T:
        raise NotImplementedError

    def parallel(self, branches: list[T], path: str) -> T:
        raise NotImplementedError

    def residual(self, body: T, shortcut: T | None, pre: T | None, post: T | None, node: Residual, path: str) -> T:
        raise NotImplementedError

    def dense(self, layers: list[T], path: str) -> T:
        raise NotImplementedError

    def aux(self, head: T, node: Aux, path: str) -> T:
        raise NotImplementedError

    def block(self, node: Block, body: T, path: str) -> T:
        """A named block around its walked body; most readers need only the body (the default)."""
        return body


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
        elif isinstance(node, Repeat | Opt | Block):
            node = node.body
        else:
            return None


def last_item(node: Node) -> Node | None:
    """The last node a node applies, looking through sequences, repeats and blocks."""
    while True:
        if isinstance(node, Seq):
            items = list(splice(node.items))
            if not items:
                return None
            node = items[-1]
        elif isinstance(node, Repeat | Block):
            node = node.body
        else:
            return node


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
            name = f"{stem}{counters[stem]}"
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
    return first is not None and (first.kind in HEAD_KINDS or (isinstance(first, Pool) and first.adaptive))


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
    if head and isinstance(head[-1][1], Layer) and head[-1][1].kind in CLASSIFIER_KINDS:
        classifier = head.pop()[1]
    elif post:
        head, post = head + post, []
    return Split(features, head, classifier, post)


def _located(error: SizingError, path: str) -> SizingError:
    if path and not error.layer.startswith(path):
        return SizingError(error.reason, layer=f"{path} {error.layer}".strip())
    return error


def walk(node: Node, v: Volume, path: str, interp: Interpreter[T], ctx: Context) -> tuple[T, Volume]:
    """Interpret one node on input volume ``v``; returns the result and the output volume."""
    if isinstance(node, Layer):
        try:
            out = node.output(v)
        except SizingError as error:
            raise _located(error, path) from None
        return interp.layer(node, v, out, path, ctx), out
    if isinstance(node, Block):
        body, out = walk(node.body, v, path, interp, ctx)
        return interp.block(node, body, path), out
    if isinstance(node, Seq | Repeat):
        return walk_container(node, v, path, interp, ctx)
    if isinstance(node, Opt):
        raise ConfigError(f"{path}: an optional element ('?') must be resolved by bind before it is built")
    if isinstance(node, Parallel):
        results, outs = [], []
        for i, branch in enumerate(node.branches, 1):
            result, out = walk_container(branch, v, f"{path}.branch{i}", interp, ctx.fresh())
            results.append(result)
            outs.append(out)
        if any(o.flat for o in outs) or len({(o.h, o.w) for o in outs}) > 1:
            shapes = ", ".join(f"branch{i}: {o}" for i, o in enumerate(outs, 1))
            raise SizingError(
                f"parallel branches must keep the same H x W to be concatenated, got {shapes}. "
                "Match their strides and padding.",
                layer=path,
            )
        return interp.parallel(results, path), Volume(sum(o.c for o in outs), outs[0].h, outs[0].w)
    if isinstance(node, Residual):
        return _walk_residual(node, v, path, interp, ctx)
    if isinstance(node, Aux):
        head, out = walk_container(node.body, v, f"{path}.head", interp, Context(aux=True))
        if not out.flat:
            raise SizingError(f"an auxiliary classifier must end in an FC, but its head gives {out}", layer=path)
        return interp.aux(head, node, path), v
    if isinstance(node, Dense):
        results, c = [], v.c
        for i in range(node.count):
            result, out = walk_container(node.body, Volume(c, v.h, v.w), f"{path}.layer{i + 1}", interp, ctx.fresh())
            if (out.h, out.w) != (v.h, v.w) or out.flat:
                raise SizingError(
                    f"a dense layer must keep H x W ({v.h}x{v.w}) so its output can be concatenated, "
                    f"got {out}. Use stride 1 and padding (F-1)/2 inside the block.",
                    layer=f"{path}.layer{i + 1}",
                )
            results.append(result)
            c += out.c
        return interp.dense(results, path), Volume(c, v.h, v.w)
    raise ConfigError(f"{path}: not a spec node: {node!r}")


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
        if not (isinstance(item, Layer) and item.kind in PASS_THROUGH):
            ctx = ctx.fresh(owned=True)
    return interp.sequence(results, path), v


def _walk_residual(node: Residual, v: Volume, path: str, interp: Interpreter[T], ctx: Context) -> tuple[T, Volume]:
    pre, inner = None, v
    if node.pre is not None:
        pre, inner = walk_container(node.pre, v, f"{path}.pre", interp, ctx.fresh())
    # The body's input may also feed the projection, so the body must not modify it in place.
    body, out = walk_container(node.body, inner, f"{path}.body", interp, ctx.fresh())
    shortcut = None
    if out != v:
        if node.shortcut is None:
            raise SizingError(
                f"the residual body turns {v} into {out}, so the identity shortcut cannot be added. "
                "Give the block a projection shortcut (1x1 conv with the body's stride and width), or keep "
                "the channels and stride unchanged.",
                layer=path,
            )
        shortcut, skip = walk_container(node.shortcut, inner, f"{path}.shortcut", interp, ctx.fresh())
        if skip != out:
            raise SizingError(
                f"the shortcut gives {skip} but the body gives {out}; they must match to be added. "
                "Set the projection's stride and width to the body's.",
                layer=path,
            )
    post = None
    if node.post is not None:
        post, out = walk_container(node.post, out, f"{path}.post", interp, ctx.fresh(owned=True))
    return interp.residual(body, shortcut, pre, post, node, path), out


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


class _Tracer(Interpreter[None]):
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> None:
        self.steps.append(Step(path, layer, vin, vout, ctx.aux))

    def sequence(self, named: list, path: str) -> None:
        return None

    def parallel(self, branches: list, path: str) -> None:
        return None

    def residual(self, body, shortcut, pre, post, node, path) -> None:
        return None

    def dense(self, layers: list, path: str) -> None:
        return None

    def aux(self, head, node, path) -> None:
        return None


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
    tracer = _Tracer()
    walk_network(spec, tracer, input_size)
    return tracer.steps


def output_volume(spec: NetSpec, input_size: Volume | None = None) -> Volume:
    return walk_network(spec, _Tracer(), input_size)["post"][1]
