"""Squeeze-and-excitation: ``SE(r)`` (Hu et al. 2017, arXiv 1709.01507, §3 and Fig. 3).

The block recalibrates channels: it *squeezes* each channel to one number by global average pooling
(§3.1, eq. 2), *excites* through a bottleneck of two fully connected layers, C -> C/r -> C, with a ReLU
between and a sigmoid after (§3.2, eq. 3), and *scales* the input by the result, one factor per channel
(eq. 4). The fully connected layers act on a 1x1 map, so they are 1x1 convs with biases, as timm writes
them (``fc1``, ``fc2``); their multiply-adds count as CONV multiply-adds.

The squeeze keeps a 1x1 map (``POOL(out=1, type=avg)``, an ``nn.AdaptiveAvgPool2d(1)``) so the convs apply.
The second conv must give back the block's *input* width C, which a spec never knows: its width is
relative to its input (``ratio=r`` of C/r), and the gate refuses a C that r does not divide, showing the
division, so the excitation always returns exactly C. The paper uses r = 16 throughout (§6.1, Table 10).
"""

from __future__ import annotations

from convarch.blocks.registry import block
from convarch.errors import ConfigError
from convarch.spec.layers import Conv, Pool, Relu, Sigmoid
from convarch.spec.nodes import Gate, Seq

REDUCTION = 16  # Hu et al. 2017 §6.1: "r = 16 ... a good balance between accuracy and complexity"


@block("SE")
def squeeze_excite(r: int = REDUCTION) -> Gate:
    """Squeeze-and-excitation: GAP, 1x1 conv to C/r, ReLU, 1x1 conv back to C, sigmoid, times the input."""
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise ConfigError(f"SE: the reduction ratio r must be a whole number of at least 1, got {r!r}")
    excite = Seq((
        Pool(out=1, type="avg"),
        Conv(f=1, ratio=1 / r, label="fc1"),
        Relu(),
        Conv(f=1, ratio=float(r), label="fc2"),
        Sigmoid(),
    ))  # fmt: skip
    return Gate(excite, reduction=r)
