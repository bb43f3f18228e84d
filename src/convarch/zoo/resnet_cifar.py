"""ResNets for CIFAR-10: the 6n+2 nets of He et al. 2015 §4.2 and Wide ResNet WRN-28-10.

``resnet20`` ... ``resnet110``  (He et al. 2015 §4.2) a 3x3 conv with 16 filters, then three stages of n
basic blocks on 32x32, 16x16 and 8x8 maps with 16, 32 and 64 filters, global average pooling and a 10-way
FC layer: 6n + 2 weighted layers. The shortcuts are identities, zero-padded where the width doubles
(option A), so these nets have exactly as many parameters as their plain counterparts. Table 6 lists
them:

    ======== === ==========
    name      n  Table 6
    ======== === ==========
    resnet20  3  0.27M
    resnet32  5  0.46M
    resnet44  7  0.66M
    resnet56  9  0.85M
    resnet110 18 1.7M
    ======== === ==========

``wrn28_10``  (Zagoruyko & Komodakis 2016) WRN-d-k: pre-activation basic blocks, (d - 4)/6 per stage, with
16k, 32k and 64k filters (Table 1 of the paper), projection shortcuts where the volume changes, BN-ReLU
before the pooling; d = 28 and k = 10 give the 36.5M parameters the paper reports with its CIFAR results.
"""

from __future__ import annotations

from typing import Unpack

from convarch.blocks.residual import res
from convarch.errors import ConfigError
from convarch.nn.init import HE
from convarch.spec.layers import BN, FC, GAP, Conv, Relu
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume
from convarch.zoo.info import Figure
from convarch.zoo.registry import ClassOptions, Family
from convarch.zoo.resnet import PAPER, WIDE_PAPER, stage

TABLE6 = "He et al. 2015, Table 6 (CIFAR-10), # params"
WIDTHS = (16, 32, 64)  # §4.2: "The numbers of filters are {16, 32, 64} respectively"


def _stages(n: int, widen: int = 1, **options: object) -> list[Node]:
    return [
        stage(res(w * widen, s=1 if i == 0 else 2, **options), res(w * widen, **options), n, f"layer{i + 1}")
        for i, w in enumerate(WIDTHS)
    ]


def cifar_resnet(depth: int = 20, num_classes: int = 10) -> NetSpec:
    """The 6n+2-layer CIFAR ResNet of §4.2 with option-A (zero-padded identity) shortcuts."""
    if depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, ...), got depth={depth!r}")
    layers = _stages((depth - 2) // 6, shortcut="zeropad")
    return NetSpec(Seq((Conv(16, 3, bias=False), BN(), Relu(), *layers, GAP(), FC(num_classes))), Volume(3, 32, 32))


def wide_resnet(depth: int = 28, k: int = 10, dropout: float = 0.0, num_classes: int = 10) -> NetSpec:
    """WRN-``depth``-``k``: pre-activation basic blocks, widths 16k, 32k, 64k (Zagoruyko & Komodakis, Table 1)."""
    if depth < 10 or (depth - 4) % 6:
        raise ConfigError(f"a Wide ResNet has 6n+4 layers (16, 22, 28, 40, ...), got depth={depth!r}")
    layers = _stages((depth - 4) // 6, widen=k, preact=True, dropout=dropout)
    return NetSpec(Seq((Conv(16, 3, bias=False), *layers, BN(), Relu(), GAP(), FC(num_classes))), Volume(3, 32, 32))


OPTION_A = (
    "Option-A shortcuts: where a stage halves the size and doubles the width, the identity takes every second "
    "pixel and zero-pads the new channels, adding no parameters (§4.2)."
)
CIFAR_RESNET = Family("resnet_cifar", PAPER, init=HE, input_size=(3, 32, 32), num_classes=10)


def table6(depth: int, millions: float, precision: float = 0.01) -> dict:
    """Table 6's parameter count, and the note on the depth."""
    blocks = f"{depth} = 6n + 2 layers with n = {(depth - 2) // 6} basic blocks per stage (§4.2)."
    return {"params": Figure(millions * 1e6, TABLE6, precision * 1e6), "notes": (blocks, OPTION_A)}


@CIFAR_RESNET.model(**table6(20, 0.27))
def resnet20(**options: Unpack[ClassOptions]) -> NetSpec:
    return cifar_resnet(20, **options)


@CIFAR_RESNET.model(**table6(32, 0.46))
def resnet32(**options: Unpack[ClassOptions]) -> NetSpec:
    return cifar_resnet(32, **options)


@CIFAR_RESNET.model(**table6(44, 0.66))
def resnet44(**options: Unpack[ClassOptions]) -> NetSpec:
    return cifar_resnet(44, **options)


@CIFAR_RESNET.model(**table6(56, 0.85))
def resnet56(**options: Unpack[ClassOptions]) -> NetSpec:
    return cifar_resnet(56, **options)


@CIFAR_RESNET.model(**table6(110, 1.7, 0.1))
def resnet110(**options: Unpack[ClassOptions]) -> NetSpec:
    return cifar_resnet(110, **options)


@CIFAR_RESNET.model(
    paper=WIDE_PAPER,
    params=Figure(36.5e6, "Zagoruyko & Komodakis 2016, CIFAR results: WRN-28-10, 36.5M parameters", 0.1e6),
    notes=(
        "WRN-28-10: 4 pre-activation basic blocks per stage, widths 160, 320 and 640. "
        "Dropout between the two convs of a block is the option dropout= (the paper also trains with 0.3).",
        "Projection shortcuts (a 1x1 conv on the pre-activated input) where a block changes the volume.",
    ),
)
def wrn28_10(dropout: float = 0.0, num_classes: int = 10) -> NetSpec:
    return wide_resnet(28, 10, dropout=dropout, num_classes=num_classes)
