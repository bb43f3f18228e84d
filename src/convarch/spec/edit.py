"""Small, pure edits of a network spec: the classifier width and the input volume."""

from __future__ import annotations

from dataclasses import replace

from convarch.errors import ConfigError
from convarch.spec.layers import FC, Layer, Softmax
from convarch.spec.limits import MAX_DIM
from convarch.spec.nodes import Aux, Block, NetSpec, Node, Seq, as_seq
from convarch.spec.volume import Volume
from convarch.spec.walk import splice


def classifier_index(items: list[Node]) -> int | None:
    """Index of the final FC/RBF in a top-level chain, looking past a trailing SOFTMAX."""
    i = len(items) - 1
    while i >= 0 and isinstance(items[i], Softmax):
        i -= 1
    if i >= 0 and isinstance(items[i], Layer) and items[i].classifier:
        return i
    return None


def check_num_classes(num_classes: object) -> int:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
        raise ConfigError(f"num_classes must be a non-negative integer (0 removes the classifier), got {num_classes!r}")
    if num_classes > MAX_DIM:  # a classifier is a layer width, bounded like every other (docs/pattern-language.md)
        raise ConfigError(f"num_classes is too large: {num_classes:,}; the limit is {MAX_DIM:,}")
    return num_classes


def with_classifier(spec: NetSpec, num_classes: int) -> NetSpec:
    """The same network with a ``num_classes``-way classifier; 0 removes it (pooled features).

    Auxiliary classifiers follow: resized with the main one, removed with it.
    """
    check_num_classes(num_classes)
    items = [_resize_aux(item, num_classes) for item in spec.layers.items]
    items = [item for item in items if item is not None]
    index = classifier_index(items)
    if index is None and classifier_index(list(splice(tuple(items)))) is not None:
        items = list(splice(tuple(items)))
        index = classifier_index(items)
    if index is None:
        if num_classes:
            items.append(FC(num_classes))
    elif num_classes == 0:
        items = items[:index]  # a SOFTMAX after a removed classifier has nothing to normalise
    else:
        items[index] = replace(items[index], out=num_classes)
    return NetSpec(Seq(tuple(items), label=spec.layers.label), spec.input)


def num_classes_of(spec: NetSpec) -> int:
    items = list(splice(spec.layers.items))
    index = classifier_index(items)
    return 0 if index is None else items[index].out  # type: ignore[attr-defined]


def with_input(spec: NetSpec, *, in_chans: int | None = None, size: tuple[int, int] | None = None) -> NetSpec:
    """The same network on another input: channel count and/or H x W."""
    base = spec.input or Volume(3, 224, 224)
    c = base.c if in_chans is None else in_chans
    h, w = (base.h, base.w) if size is None else size
    if not isinstance(c, int) or isinstance(c, bool) or c < 1:
        raise ConfigError(f"in_chans must be a positive integer, got {in_chans!r}")
    return NetSpec(spec.layers, Volume.of((c, h, w)))


def _resize_aux(node: Node, num_classes: int) -> Node | None:
    """Resize (or, for 0 classes, drop) the classifier of an auxiliary head at the top level."""
    target = node.body if isinstance(node, Block) else node
    if not isinstance(target, Aux):
        return node
    if num_classes == 0:
        return None
    head = list(splice(as_seq(target.body).items))
    index = classifier_index(head)
    if index is None:
        return node
    head[index] = replace(head[index], out=num_classes)
    resized = replace(target, body=Seq(tuple(head)))
    if isinstance(node, Block):
        return _remade(node, num_classes) or replace(node, body=resized)
    return resized


def _remade(block: Block, num_classes: int) -> Block | None:
    """A block that takes ``num_classes`` (INCEPTION_AUX) made again with it, so its printed arguments
    stay true: ``parse(to_pattern(spec)) == spec`` after a resize. None for a block without that argument."""
    from convarch.blocks.registry import BLOCKS, make_block  # blocks build on the spec: import when needed

    definition = BLOCKS.get(block.name)
    if definition is None or "num_classes" not in definition.signature.parameters:
        return None
    bound = definition.signature.bind_partial(*block.args, **dict(block.kwargs))
    bound.arguments["num_classes"] = num_classes
    return replace(make_block(block.name, *bound.args, **bound.kwargs), label=block.label)


def has_aux(spec: NetSpec) -> bool:
    return any(isinstance(n.body if isinstance(n, Block) else n, Aux) for n in spec.layers.items)
