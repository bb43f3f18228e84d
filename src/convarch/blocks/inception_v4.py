"""Inception-v4 and Inception-ResNet-v2 blocks (Szegedy, Ioffe, Vanhoucke & Alemi 2016, arXiv 1602.07261).

Every conv is the TF-slim unit CONV (no bias) -> BN (eps 0.001) -> RELU; "V" in the paper's figures marks
a conv without padding (``p=0``), everything else keeps its size. Widths, branch order and the order of
the 1xn/nx1 factorised convs follow the released TF-slim networks that timm ports (its state-dict layout is
what published weights use); the family's metadata lists where the released networks differ from the paper.

Inception-v4 (§3.1): the stem (Fig. 3), Inception-A/B/C (Figs. 4-6), Reduction-A (Fig. 7, with the k, l,
m, n widths of Table 1) and Reduction-B (Fig. 8).

Inception-ResNet-v2 (§3.2): each Inception-ResNet block is a residual whose branch ends in a linear 1x1
conv back to the input width; its output is scaled before the addition (§3.3: "scaling down the residuals
before adding them to the previous layer activation seemed to stabilize the training"). The defaults are
the released network's widths and scales (A: 320 maps, 0.17; B: 1088, 0.10; C: 2080, 0.20).
"""

from __future__ import annotations

from convarch.blocks.inception import branch, conv_unit
from convarch.blocks.registry import block
from convarch.spec.layers import Conv, Pool, Relu
from convarch.spec.nodes import Node, Parallel, Residual, Seq


def _u(out: int, f: int | tuple[int, int], s: int = 1, p: int | None = None) -> tuple[Node, ...]:
    return conv_unit(out, f, s=s, p=p, bn=True, eps=1e-3)


def _avg_pool() -> Pool:
    # 3x3/1 average pool that divides by the number of real pixels at the border (TF's SAME pooling).
    return Pool(3, s=1, p=1, type="avg", count_pad=False)


def _max_pool() -> Pool:
    return Pool(3, s=2)  # 3x3/2 "V": no padding


# ---- Inception-v4 ----------------------------------------------------------------------------------------


def v4_stem_items() -> tuple[Node, ...]:
    """Fig. 3 as a flat chain: three conv units, then three concatenations down to 35x35x384."""
    return (
        *_u(32, 3, s=2, p=0), *_u(32, 3, p=0), *_u(64, 3),
        Parallel((_max_pool(), branch(*_u(96, 3, s=2, p=0))), label="mixed_3a"),
        Parallel((
            branch(*_u(64, 1), *_u(96, 3, p=0)),
            branch(*_u(64, 1), *_u(64, (1, 7)), *_u(64, (7, 1)), *_u(96, 3, p=0)),
        ), label="mixed_4a"),
        Parallel((branch(*_u(192, 3, s=2, p=0)), _max_pool()), label="mixed_5a"),
    )  # fmt: skip


@block("INCEPTION_V4_STEM")
def inception_v4_stem() -> Seq:
    """The Inception-v4 stem (Fig. 3): 299x299x3 -> 35x35x384."""
    return Seq(v4_stem_items())


@block("INCEPTION_A")
def inception_a() -> Parallel:
    """Inception-A (Fig. 4), the 35x35 grid: 96 + 96 + 96 + 96 = 384 maps."""
    return Parallel((
        branch(*_u(96, 1)),
        branch(*_u(64, 1), *_u(96, 3)),
        branch(*_u(64, 1), *_u(96, 3), *_u(96, 3)),
        branch(_avg_pool(), *_u(96, 1)),
    ))  # fmt: skip


@block("REDUCTION_A")
def reduction_a(k: int, l: int, m: int, n: int) -> Parallel:
    """Reduction-A (Fig. 7), 35x35 -> 17x17, with Table 1's widths: (192, 224, 256, 384) in Inception-v4."""
    return Parallel((
        branch(*_u(n, 3, s=2, p=0)),
        branch(*_u(k, 1), *_u(l, 3), *_u(m, 3, s=2, p=0)),
        _max_pool(),
    ))  # fmt: skip


@block("INCEPTION_B")
def inception_b() -> Parallel:
    """Inception-B (Fig. 5), the 17x17 grid with 7x7 convs factorised into 1x7 and 7x1: 1024 maps."""
    return Parallel((
        branch(*_u(384, 1)),
        branch(*_u(192, 1), *_u(224, (1, 7)), *_u(256, (7, 1))),
        branch(*_u(192, 1), *_u(192, (7, 1)), *_u(224, (1, 7)), *_u(224, (7, 1)), *_u(256, (1, 7))),
        branch(_avg_pool(), *_u(128, 1)),
    ))  # fmt: skip


@block("REDUCTION_B")
def reduction_b() -> Parallel:
    """Reduction-B (Fig. 8), 17x17 -> 8x8: 192 + 320 + 1024 = 1536 maps."""
    return Parallel((
        branch(*_u(192, 1), *_u(192, 3, s=2, p=0)),
        branch(*_u(256, 1), *_u(256, (1, 7)), *_u(320, (7, 1)), *_u(320, 3, s=2, p=0)),
        _max_pool(),
    ))  # fmt: skip


def _split(width: int) -> Parallel:
    """The 1x3 and 3x1 convs side by side that end two branches of Inception-C."""
    return Parallel((branch(*_u(width, (1, 3))), branch(*_u(width, (3, 1)))))


@block("INCEPTION_C")
def inception_c() -> Parallel:
    """Inception-C (Fig. 6), the 8x8 grid: 256 + 512 + 512 + 256 = 1536 maps."""
    return Parallel((
        branch(*_u(256, 1)),
        branch(*_u(384, 1), _split(256)),
        branch(*_u(384, 1), *_u(448, (3, 1)), *_u(512, (1, 3)), _split(256)),
        branch(_avg_pool(), *_u(256, 1)),
    ))  # fmt: skip


# ---- Inception-ResNet-v2 -----------------------------------------------------------------------------------


def mixed_5b() -> Parallel:
    """The released network's last stem module (TF-slim ``Mixed_5b``): 96 + 64 + 96 + 64 = 320 maps."""
    return Parallel((
        branch(*_u(96, 1)),
        branch(*_u(48, 1), *_u(64, 5)),
        branch(*_u(64, 1), *_u(96, 3), *_u(96, 3)),
        branch(_avg_pool(), *_u(64, 1)),
    ))  # fmt: skip


def resnet_v2_stem_items() -> tuple[Node, ...]:
    """The released Inception-ResNet-v2 stem: 299x299x3 -> 35x35x320 (the paper's Fig. 3 gives 384)."""
    return (
        *_u(32, 3, s=2, p=0), *_u(32, 3, p=0), *_u(64, 3), _max_pool(),
        *_u(80, 1), *_u(192, 3, p=0), _max_pool(),
        Parallel(mixed_5b().branches, label="mixed_5b"),
    )  # fmt: skip


@block("INCEPTION_RESNET_V2_STEM")
def inception_resnet_v2_stem() -> Seq:
    """The stem of the released Inception-ResNet-v2 (TF-slim), 299x299x3 -> 35x35x320."""
    return Seq(resnet_v2_stem_items())


def _scaled_residual(branches: tuple[Node, ...], out: int, scale: float, relu: bool) -> Residual:
    """Concatenate the branches, project linearly to ``out`` maps (a 1x1 conv with bias), scale, add."""
    body = Seq((Parallel(branches), Conv(out, 1)))
    return Residual(body, scale=scale, post=Relu() if relu else None)


@block("INCEPTION_RESNET_A")
def inception_resnet_a(scale: float = 0.17, out: int = 320) -> Residual:
    """Inception-ResNet-A (Fig. 16), the 35x35 grid."""
    return _scaled_residual((
        branch(*_u(32, 1)),
        branch(*_u(32, 1), *_u(32, 3)),
        branch(*_u(32, 1), *_u(48, 3), *_u(64, 3)),
    ), out, scale, True)  # fmt: skip


@block("INCEPTION_RESNET_B")
def inception_resnet_b(scale: float = 0.10, out: int = 1088) -> Residual:
    """Inception-ResNet-B (Fig. 17), the 17x17 grid."""
    return _scaled_residual((
        branch(*_u(192, 1)),
        branch(*_u(128, 1), *_u(160, (1, 7)), *_u(192, (7, 1))),
    ), out, scale, True)  # fmt: skip


@block("REDUCTION_RESNET_B")
def reduction_resnet_b() -> Parallel:
    """Inception-ResNet-v2's Reduction-B (Fig. 18), 17x17 -> 8x8: 384 + 288 + 320 maps plus the pooled input."""
    return Parallel((
        branch(*_u(256, 1), *_u(384, 3, s=2, p=0)),
        branch(*_u(256, 1), *_u(288, 3, s=2, p=0)),
        branch(*_u(256, 1), *_u(288, 3), *_u(320, 3, s=2, p=0)),
        _max_pool(),
    ))  # fmt: skip


@block("INCEPTION_RESNET_C")
def inception_resnet_c(scale: float = 0.20, out: int = 2080, relu: bool = True) -> Residual:
    """Inception-ResNet-C (Fig. 19), the 8x8 grid; the released net's last one has no ReLU and scale 1."""
    return _scaled_residual((
        branch(*_u(192, 1)),
        branch(*_u(192, 1), *_u(224, (1, 3)), *_u(256, (3, 1))),
    ), out, scale, relu)  # fmt: skip
