"""Hypothesis strategies: random valid specs built from the primitives and combinators.

The specs are in the form the parser produces (the canonical form), so ``parse(to_pattern(s)) == s`` must
hold for every one of them. Two rules of that form matter here: a parallel branch is an element or an
unlabelled chain of at least two elements (a one-element chain prints as its element), and the top
level is an unlabelled chain.

Test blocks (``TEST_TWIN``, ``TEST_STEM``) are registered by ``registered_test_blocks`` for the duration
of a test and removed afterwards, so they never leak into the block catalogue other tests read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields

from hypothesis import strategies as st

from convarch.blocks import BLOCKS, block, make_block
from convarch.spec.layers import (
    BN,
    FC,
    GAP,
    LRN,
    RBF,
    Conv,
    Dropout,
    DWConv,
    Flatten,
    Pool,
    Relu,
    Relu6,
    Sigmoid,
    Softmax,
    Subsample,
    Tanh,
    ZeroPad,
)
from convarch.spec.nodes import Block, NetSpec, Node, Opt, Parallel, Repeat, Seq
from convarch.spec.volume import Volume

TEST_BLOCKS = ("TEST_TWIN", "TEST_STEM")


def _twin(width: int, s: int = 1, kind: str = "max", scale: float = 1.0, bias: bool = True) -> Node:
    """Two 3x3 convs, the first strided, then a 2x2 pool of ``kind`` (a block with every value type)."""
    return Seq((Conv(width, 3, s=s, bias=bias), Relu(), Conv(width, 3), Pool(2, type=kind)))


def _stem(f: tuple[int, int] | int = 7) -> Node:
    """A block whose only argument is optional, so it prints as its bare name."""
    return Seq((Conv(64, f, s=2), Relu()))


@contextmanager
def registered_test_blocks() -> Iterator[None]:
    for name in TEST_BLOCKS:
        BLOCKS.pop(name, None)
    block("TEST_TWIN")(_twin)
    block("TEST_STEM")(_stem)
    try:
        yield
    finally:
        for name in TEST_BLOCKS:
            BLOCKS.pop(name, None)


# ---- values -------------------------------------------------------------------------------------------

sizes = st.integers(1, 11)
pairs = st.one_of(sizes, st.tuples(sizes, sizes))
paddings = st.one_of(st.integers(0, 5), st.tuples(st.integers(0, 5), st.integers(0, 5)))
widths = st.integers(1, 4096)
# Non-negative finite floats (the language has no minus sign); repr() of each must read back exactly.
floats = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)
labels = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True)
variables = st.sampled_from(["N", "M", "K", "DEPTH", "X1"])


# A width relative to the input channels (DenseNet's transitions), where the CONV has one.
RATIO = "ratio" in {f.name for f in fields(Conv)}


@st.composite
def convs(draw: st.DrawFn) -> Conv:
    if draw(st.booleans()) and draw(st.booleans()):
        return Conv(draw(st.sampled_from([None, 16])), 5, p=0, table="lenet5_c3")
    if RATIO and draw(st.integers(0, 5)) == 0:
        return Conv(None, draw(pairs), ratio=draw(st.floats(min_value=0.01, max_value=4.0)))
    if draw(st.integers(0, 5)) == 0:  # depthwise: DWCONV3(s=2)
        return DWConv(draw(st.none() | widths), draw(pairs), s=draw(pairs), p=draw(st.none() | paddings),
                      bias=draw(st.booleans()))  # fmt: skip
    return Conv(
        draw(st.none() | widths),
        draw(pairs),
        s=draw(pairs),
        p=draw(st.none() | paddings),
        groups=draw(st.integers(1, 4) | st.just("depthwise")),
        bias=draw(st.booleans()),
    )


@st.composite
def pools(draw: st.DrawFn) -> Pool:
    kind = draw(st.sampled_from(["max", "avg"]))
    if draw(st.integers(0, 4)) == 0:
        return Pool(out=draw(pairs), type=kind)
    return Pool(
        draw(pairs), s=draw(st.none() | pairs), p=draw(paddings), type=kind, ceil=draw(st.booleans()),
        count_pad=draw(st.booleans()),
    )  # fmt: skip


primitives = st.one_of(
    convs(),
    pools(),
    st.builds(FC, st.none() | st.integers(1, 65536), bias=st.booleans()),
    st.builds(Subsample, st.integers(1, 5)),
    st.builds(RBF, st.none() | st.integers(1, 100)),
    st.builds(Tanh, a=floats, s=floats),
    st.builds(BN, eps=floats, momentum=floats),
    st.builds(LRN, size=st.integers(1, 9), alpha=floats, beta=floats, k=floats),
    st.builds(Dropout, st.floats(min_value=0.0, max_value=0.99)),
    st.builds(ZeroPad, st.integers(1, 512), s=st.integers(1, 3)),
    st.sampled_from([GAP(), Relu(), Relu6(), Sigmoid(), Flatten(), Softmax()]),
)


@st.composite
def test_blocks(draw: st.DrawFn) -> Block:
    if draw(st.booleans()):
        # A block keeps its arguments as given, and (3, 3) prints as 3: draw square sizes as one int.
        f = st.one_of(sizes, st.tuples(sizes, sizes).filter(lambda hw: hw[0] != hw[1]))
        return make_block("TEST_STEM", *([draw(f)] if draw(st.booleans()) else []))
    return make_block(
        "TEST_TWIN", draw(widths), s=draw(st.integers(1, 3)), kind=draw(st.sampled_from(["max", "avg"])),
        scale=draw(floats), bias=draw(st.booleans()),
    )  # fmt: skip


def _labelled(node: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    """Sometimes give the node a label (``name: element``)."""
    return st.tuples(node, st.none() | labels).map(lambda pair: _with_label(*pair))


def _with_label(node: Node, label: str | None) -> Node:
    from dataclasses import replace

    return node if label is None else replace(node, label=label)


def _branch(element: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return element | st.lists(element, min_size=2, max_size=3).map(lambda items: Seq(tuple(items)))


def elements(with_blocks: bool = False) -> st.SearchStrategy[Node]:
    """Any element of a chain: a primitive or block, or a group, repeat, optional or branches of them."""
    leaves = primitives | test_blocks() if with_blocks else primitives

    def extend(element: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        return _labelled(
            st.one_of(
                st.lists(element, min_size=1, max_size=3).map(lambda items: Seq(tuple(items))),
                st.builds(Repeat, element, st.integers(0, 4) | variables),
                st.builds(Opt, element),
                st.lists(_branch(element), min_size=2, max_size=3).map(lambda b: Parallel(tuple(b))),
            )
        )

    return st.recursive(_labelled(leaves), extend, max_leaves=12)


def networks(with_blocks: bool = False) -> st.SearchStrategy[NetSpec]:
    volumes = st.builds(Volume, st.integers(1, 512), st.integers(1, 4096), st.integers(1, 4096)).filter(
        lambda v: v.order_mistake("", text=True) is None  # the parser refuses a square image in C x H x W order
    )
    chains = st.lists(elements(with_blocks), min_size=1, max_size=4).map(lambda items: Seq(tuple(items)))
    return st.builds(NetSpec, chains, st.none() | volumes)
