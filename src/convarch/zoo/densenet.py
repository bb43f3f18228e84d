"""DenseNet (Huang, Liu, van der Maaten & Weinberger 2016): every layer sees all earlier layers of its block.

Within a dense block, layer l receives the concatenation [x_0, ..., x_{l-1}] (eq. 2), a "gradient highway"
from the loss to every layer, and adds only k (the growth rate) new maps. The ImageNet nets are
DenseNet-BC (Table 1): a 7x7/2 conv with 2k filters and a 3x3/2 max pool, four dense blocks of
bottleneck layers joined by transition layers that halve the maps (θ = 0.5) and the size, a final
BN-ReLU, global average pooling and one FC layer.

The layout is torchvision's (``denseblock1`` ... ``transition3``), so its state dicts load.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TypedDict, Unpack

from convarch.blocks.dense import dense, transition
from convarch.errors import ConfigError
from convarch.nn.init import He
from convarch.spec.layers import BN, FC, GAP, Conv, Pool, Relu
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import trace
from convarch.weights.catalog import Torchvision
from convarch.zoo.info import Paper, torchvision_figures
from convarch.zoo.registry import Family

PAPER = Paper(
    "Huang, Liu, van der Maaten & Weinberger",
    2016,
    "Densely Connected Convolutional Networks",
    arxiv="1608.06993",
    venue="CVPR 2017",
)

# Table 1: layers in each of the four dense blocks (DenseNet-161 is Table 1's k = 48 net).
BLOCKS: dict[int, tuple[int, int, int, int]] = {
    121: (6, 12, 24, 16),
    161: (6, 12, 36, 24),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
}


def densenet(
    depth: int = 121, k: int = 32, theta: float = 0.5, bn_size: int = 4, dropout: float = 0.0, num_classes: int = 1000
) -> NetSpec:
    """DenseNet-BC-``depth`` with growth rate ``k`` and compression ``theta`` (Table 1 uses k = 32, θ = 0.5)."""
    if depth not in BLOCKS:
        raise ConfigError(f"DenseNet depth must be one of {', '.join(map(str, BLOCKS))}, got {depth!r}")
    items: list[Node] = [Conv(2 * k, 7, s=2, bias=False), BN(), Relu(), Pool(3, s=2, p=1)]
    counts = BLOCKS[depth]
    for i, layers in enumerate(counts, 1):
        items.append(replace(dense(layers, k=k, bn_size=bn_size, dropout=dropout), label=f"denseblock{i}"))
        if i < len(counts):
            items.append(replace(transition(theta), label=f"transition{i}"))
    items += [BN(), Relu(), GAP(), FC(num_classes)]
    return NetSpec(Seq(tuple(items)), Volume(3, 224, 224))


# Our names -> torchvision's: stem conv0/norm0, dense layers denselayerN.{norm1,conv1,norm2,conv2},
# transitions transitionN.{norm,conv}, the final BN norm5.
_RULES = (
    (r"^features\.conv1$", "features.conv0"),
    (r"^features\.bn1$", "features.norm0"),
    (r"^features\.bn2$", "features.norm5"),
    (r"^(features\.denseblock\d+)\.layer(\d+)\.bn(\d)$", r"\1.denselayer\2.norm\3"),
    (r"^(features\.denseblock\d+)\.layer(\d+)\.conv(\d)$", r"\1.denselayer\2.conv\3"),
    (r"^(features\.transition\d+)\.bn1$", r"\1.norm"),
    (r"^(features\.transition\d+)\.conv1$", r"\1.conv"),
    (r"^classifier$", "classifier"),
)


def torchvision_keys(spec: NetSpec) -> dict[str, str]:
    table: dict[str, str] = {}
    for step in trace(spec):
        if not step.layer.params(step.input):
            continue
        for pattern, source in _RULES:
            if re.match(pattern, step.path):
                table[re.sub(pattern, source, step.path)] = step.path
                break
        else:
            raise ConfigError(f"no torchvision name for {step.path}; the DenseNet key map needs a rule for it")
    return table


class DenseNetOptions(TypedDict, total=False):
    theta: float
    bn_size: int
    dropout: float
    num_classes: int


def table1(depth: int, k: int) -> tuple[str]:
    blocks = ", ".join(map(str, BLOCKS[depth]))
    return (f"DenseNet-BC-{depth} of Table 1: dense blocks of {blocks} bottleneck layers, growth rate k = {k}, "
            "compression θ = 0.5.",)  # fmt: skip


DENSENET = Family("densenet", PAPER, init=He("fan_in", zero_fc_bias=True), key_maps={"torchvision": torchvision_keys})


# torchvision's layout; figures: torchvision's (params, GMACs, top-1, top-5) of IMAGENET1K_V1.
@DENSENET.model(**torchvision_figures(7_978_856, 2.834, 74.434, 91.972), notes=table1(121, 32),
                weights=Torchvision("densenet", "DenseNet121_Weights", "densenet121-a639ec97.pth"))  # fmt: skip
def densenet121(**options: Unpack[DenseNetOptions]) -> NetSpec:
    return densenet(121, k=32, **options)


@DENSENET.model(**torchvision_figures(28_681_000, 7.728, 77.138, 93.560), notes=table1(161, 48),
                weights=Torchvision("densenet", "DenseNet161_Weights", "densenet161-8d451a50.pth"))  # fmt: skip
def densenet161(**options: Unpack[DenseNetOptions]) -> NetSpec:
    return densenet(161, k=48, **options)


@DENSENET.model(**torchvision_figures(14_149_480, 3.36, 75.600, 92.806), notes=table1(169, 32),
                weights=Torchvision("densenet", "DenseNet169_Weights", "densenet169-b2777c0a.pth"))  # fmt: skip
def densenet169(**options: Unpack[DenseNetOptions]) -> NetSpec:
    return densenet(169, k=32, **options)


@DENSENET.model(**torchvision_figures(20_013_928, 4.291, 76.896, 93.370), notes=table1(201, 32),
                weights=Torchvision("densenet", "DenseNet201_Weights", "densenet201-c1103571.pth"))  # fmt: skip
def densenet201(**options: Unpack[DenseNetOptions]) -> NetSpec:
    return densenet(201, k=32, **options)
