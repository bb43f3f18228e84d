"""GoogLeNet's Inception module and auxiliary classifier (Szegedy et al. 2014, arXiv 1409.4842).

``INCEPTION(#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)`` takes Table 1's columns in Table 1's
order, so a row of the table reads as a block: ``INCEPTION(64, 96, 128, 16, 32, 32)`` is inception (3a).
Four branches see the same input and are concatenated along channels (Fig. 2b): a 1x1 conv; a 1x1
"reduce" then a 3x3; a 1x1 reduce then a 5x5; a 3x3/1 max pool then a 1x1 "pool proj". Every conv is
followed by a ReLU (§5: "All the convolutions, including those inside the Inception modules, use
rectified linear activation").

The defaults are the paper's module. torchvision's GoogLeNet differs in two ways that its weights depend
on, both available as options: ``bn=true`` puts batch norm (eps 0.001) after each conv and drops the conv
biases, and ``f5=3`` makes the "5x5" branch a 3x3 (a known bug kept for its weights, pytorch/vision#906).
"""

from __future__ import annotations

from convarch.blocks.registry import block
from convarch.spec.layers import BN, FC, Conv, Dropout, Pool, Relu
from convarch.spec.nodes import Aux, Node, Parallel, Seq

INCEPTION_BN_EPS = 1e-3  # torchvision's BasicConv2d and the TF-slim Inception nets


def conv_unit(
    out: int, f: int | tuple[int, int], s: int = 1, p: int | None = None, bn: bool = True, eps: float = 1e-3
) -> tuple[Node, ...]:
    """CONV -> (BN) -> RELU, the unit every Inception net is made of. A conv followed by BN has no bias."""
    conv = Conv(out, f, s=s, p=p, bias=not bn)
    return (conv, BN(eps=eps), Relu()) if bn else (conv, Relu())


def branch(*items: Node) -> Node:
    """One branch of a ``Parallel``: a single node as itself, several as a sequence (as the parser reads them)."""
    return items[0] if len(items) == 1 else Seq(items)


@block("INCEPTION")
def inception(
    n1x1: int,
    n3x3_reduce: int,
    n3x3: int,
    n5x5_reduce: int,
    n5x5: int,
    pool_proj: int,
    bn: bool = False,
    f5: int = 5,
    eps: float = INCEPTION_BN_EPS,
) -> Parallel:
    """GoogLeNet's Inception module, arguments in Table 1's column order."""

    def unit(out: int, f: int) -> tuple[Node, ...]:
        return conv_unit(out, f, bn=bn, eps=eps)

    return Parallel((
        branch(*unit(n1x1, 1)),
        branch(*unit(n3x3_reduce, 1), *unit(n3x3, 3)),
        branch(*unit(n5x5_reduce, 1), *unit(n5x5, f5)),
        branch(Pool(3, s=1, p=1), *unit(pool_proj, 1)),
    ))  # fmt: skip


@block("INCEPTION_AUX")
def inception_aux(
    num_classes: int = 1000,
    bn: bool = False,
    adaptive: bool = False,
    dropout: float = 0.7,
    weight: float = 0.3,
    eps: float = INCEPTION_BN_EPS,
) -> Aux:
    """An auxiliary classifier (§5): 5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 0.7, linear.

    Used only in training, where its loss is added with ``weight`` (0.3 in the paper). torchvision's
    layout is ``bn=true, adaptive=true``: BN after the 1x1 conv and an adaptive 4x4 average pool (the same
    4x4 as the 5x5/3 pool on the 14x14 maps of a 224 input, but at any input size).
    """
    pool = Pool(out=4, type="avg") if adaptive else Pool(5, s=3, type="avg")
    head = (pool, *conv_unit(128, 1, bn=bn, eps=eps), FC(1024), Relu(), Dropout(dropout), FC(num_classes))
    return Aux(Seq(head), weight=weight)
