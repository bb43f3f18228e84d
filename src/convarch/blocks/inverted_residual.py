"""MobileNetV2's inverted residual with a linear bottleneck: ``INVRES`` (Sandler et al. 2018, arXiv
1801.04381, §3.3, Table 1 and Fig. 4).

A 1x1 conv expands the input's C channels t-fold, a 3x3 depthwise conv filters each of them (stride s),
and a 1x1 conv projects to ``out`` channels with *no* activation after it: the linear bottleneck, because
a ReLU in the narrow space destroys information (§3.2). Each conv is followed by BN, the first two by
ReLU6 (§3.4). With t = 1 there is nothing to expand and the block starts at the depthwise conv (the first
bottleneck of Table 2). The input is added exactly when the volumes agree (stride 1 and ``out`` = C, Fig. 4);
otherwise the block is its body alone: ``Residual(skip_optional=True)`` decides this from the volumes, so a
family never does.

The expansion width is relative to the input (t x C) unless ``hidden`` gives it: a family applying a width
multiplier rounds its widths itself and passes them explicitly.

Module paths follow torchvision's ``InvertedResidual`` with ``body`` for its ``conv``: with t > 1,
``body.0.0`` expand conv, ``body.0.1`` BN, ``body.1.0`` depthwise conv, ``body.1.1`` BN, ``body.2`` projection,
``body.3`` BN; with t = 1, ``body.0.0`` depthwise conv, ``body.0.1`` BN, ``body.1`` projection, ``body.2`` BN.
"""

from __future__ import annotations

from convarch.blocks.registry import block
from convarch.errors import ConfigError
from convarch.spec.layers import BN, Conv, DWConv, Relu6
from convarch.spec.nodes import Node, Residual, Seq


def _whole(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"INVRES: {name} must be a whole number of at least {minimum}, got {value!r}")


@block("INVRES")
def inverted_residual(out: int, t: int = 6, s: int = 1, hidden: int = 0, eps: float = 1e-5) -> Residual:
    """MobileNetV2's bottleneck: 1x1 expand t-fold, 3x3 depthwise (stride s), 1x1 linear projection to ``out``."""
    _whole("out", out, 1)
    _whole("t", t, 1)
    _whole("s", s, 1)
    _whole("hidden", hidden, 0)
    if t == 1 and hidden:
        raise ConfigError("INVRES: t=1 has no expansion, so it takes no hidden width")
    stages: list[Node] = []
    if t > 1:
        expand = Conv(hidden, 1, bias=False, label="0") if hidden else Conv(f=1, ratio=float(t), bias=False, label="0")
        stages.append(Seq((expand, BN(eps=eps, label="1"), Relu6(label="2")), label="0"))
    depthwise = DWConv(f=3, s=s, bias=False, label="0")
    stages.append(Seq((depthwise, BN(eps=eps, label="1"), Relu6(label="2")), label=str(len(stages))))
    n = len(stages)
    stages += [Conv(out, 1, bias=False, label=str(n)), BN(eps=eps, label=str(n + 1))]
    return Residual(Seq(tuple(stages)), skip_optional=True)
