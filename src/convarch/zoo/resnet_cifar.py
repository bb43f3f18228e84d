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

from convarch.blocks.residual import res
from convarch.errors import ConfigError
from convarch.spec.layers import BN, FC, GAP, Conv, Relu
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume
from convarch.zoo.info import Figure, ModelInfo
from convarch.zoo.registry import ModelEntry, register
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


# name: (depth, Table 6 params, their precision)
CIFAR_VARIANTS = {
    "resnet20": (20, 0.27e6, 0.01e6),
    "resnet32": (32, 0.46e6, 0.01e6),
    "resnet44": (44, 0.66e6, 0.01e6),
    "resnet56": (56, 0.85e6, 0.01e6),
    "resnet110": (110, 1.7e6, 0.1e6),
}

for _name, (_depth, _params, _precision) in CIFAR_VARIANTS.items():
    register(
        ModelEntry(
            _name,
            cifar_resnet,
            ModelInfo(
                name=_name,
                family="resnet_cifar",
                paper=PAPER,
                input_size=(3, 32, 32),
                num_classes=10,
                params=Figure(_params, TABLE6, _precision),
                notes=(
                    f"{_depth} = 6n + 2 layers with n = {(_depth - 2) // 6} basic blocks per stage (§4.2).",
                    "Option-A shortcuts: where a stage halves the size and doubles the width, the identity "
                    "takes every second pixel and zero-pads the new channels, adding no parameters (§4.2).",
                ),
            ),
            options={"depth": _depth},
            init="he",
        )
    )

register(
    ModelEntry(
        "wrn28_10",
        wide_resnet,
        ModelInfo(
            name="wrn28_10",
            family="resnet_cifar",
            paper=WIDE_PAPER,
            input_size=(3, 32, 32),
            num_classes=10,
            params=Figure(36.5e6, "Zagoruyko & Komodakis 2016, CIFAR results: WRN-28-10, 36.5M parameters", 0.1e6),
            notes=(
                "WRN-28-10: 4 pre-activation basic blocks per stage, widths 160, 320 and 640. "
                "Dropout between the two convs of a block is the option dropout= (the paper also trains with 0.3).",
                "Projection shortcuts (a 1x1 conv on the pre-activated input) where a block changes the volume.",
            ),
        ),
        options={"depth": 28, "k": 10},
        init="he",
    )
)
