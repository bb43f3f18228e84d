"""DenseNet blocks (Huang, Liu, van der Maaten & Weinberger 2017, arXiv 1608.06993).

``DENSE(layers, k=)``: a dense block of ``layers`` layers with growth rate ``k``; layer l sees the
concatenation of the block's input and the outputs of layers 1..l-1 (eq. 2), and adds k maps. Each layer
is the DenseNet-B bottleneck BN-ReLU-Conv(1x1, ``bn_size`` x k)-BN-ReLU-Conv(3x3, k) (§3, "Bottleneck
layers": 4k maps from the 1x1).

``TRANSITION(θ)``: between two dense blocks, BN-ReLU-Conv(1x1)-AvgPool(2x2/2). The 1x1 conv compresses the
m maps it receives to floor(θm) (§3, "Compression"; θ = 0.5 in DenseNet-BC), so the block states θ, not a
width, and works after any dense block.
"""

from __future__ import annotations

from convarch.blocks.registry import block
from convarch.errors import ConfigError
from convarch.spec.layers import BN, Conv, Dropout, Pool, Relu, positive_int
from convarch.spec.nodes import Dense, Node, Seq


@block("DENSE")
def dense(layers: int, k: int = 32, bn_size: int = 4, dropout: float = 0.0, eps: float = 1e-5) -> Dense:
    """A dense block: ``layers`` BN-ReLU-1x1-BN-ReLU-3x3 layers that each add ``k`` maps."""
    for name, value in (("layers", layers), ("k", k), ("bn_size", bn_size)):
        positive_int(value, f"DENSE {name}")
    items: list[Node] = [
        BN(eps=eps), Relu(), Conv(bn_size * k, 1, bias=False),
        BN(eps=eps), Relu(), Conv(k, 3, bias=False),
    ]  # fmt: skip
    if dropout:
        items.append(Dropout(dropout))  # after each 3x3 (§4.2 "we add a dropout layer after each convolutional layer")
    return Dense(Seq(tuple(items)), layers)


@block("TRANSITION")
def transition(theta: float, eps: float = 1e-5) -> Seq:
    """A transition layer: BN-ReLU, a 1x1 conv to floor(θ x input) maps, 2x2 average pooling."""
    if isinstance(theta, bool) or not isinstance(theta, int | float) or not 0 < theta <= 1:
        raise ConfigError(f"TRANSITION compression θ must be in (0, 1] (Huang et al. 2017 §3), got {theta!r}")
    return Seq((BN(eps=eps), Relu(), Conv(None, 1, bias=False, ratio=theta), Pool(2, type="avg")))
