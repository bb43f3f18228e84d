"""ResNet (He, Zhang, Ren & Sun 2015): residual learning, the ILSVRC 2015 winner.

A stack of residual blocks learns F(x) = H(x) - x instead of H(x) (§3.1); identity shortcuts cost nothing,
and projections (1x1 convs, option B of §3.3) match the volumes where a stage halves the size and doubles
the width. Table 1 gives the ImageNet nets: a 7x7/2 conv and a 3x3/2 max pool, four stages (conv2_x ...
conv5_x, here ``layer1`` ... ``layer4``) of basic blocks (18, 34 layers) or bottlenecks (50, 101, 152),
global average pooling and one FC layer.

``resnet18`` ... ``resnet152``      torchvision's layout. Its bottleneck ("v1.5") strides in the 3x3 conv.
``resnet50_paper`` ... ``_paper``   the paper's v1: the stride sits in the bottleneck's first 1x1 conv,
                                    which gives Table 1's multiply-adds (its "FLOPs" column).
``wide_resnet50_2``, ``_101_2``     torchvision's wide bottlenecks: twice the inner width (Zagoruyko &
                                    Komodakis 2016 applied to the bottleneck), same output width.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TypedDict, Unpack

from convarch.blocks.residual import STRIDE_PLACES, bottleneck, res
from convarch.errors import ConfigError
from convarch.nn.init import HE
from convarch.spec.layers import BN, FC, GAP, Conv, Pool, Relu
from convarch.spec.nodes import Block, NetSpec, Node, Repeat, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import trace
from convarch.weights.catalog import Torchvision
from convarch.zoo.info import Figure, Paper, torchvision_figures
from convarch.zoo.registry import ClassOptions, Family

PAPER = Paper(
    "He, Zhang, Ren & Sun", 2015, "Deep Residual Learning for Image Recognition", arxiv="1512.03385", venue="CVPR 2016"
)
WIDE_PAPER = Paper("Zagoruyko & Komodakis", 2016, "Wide Residual Networks", arxiv="1605.07146", venue="BMVC 2016")
ILSVRC = "ILSVRC 2015 winner in classification: 3.57% top-5 error with an ensemble (He et al. 2015, Table 5)"
TABLE1 = "He et al. 2015, Table 1, FLOPs column (multiply-adds, x10^9)"

# Table 1: the block and the number of blocks in conv2_x ... conv5_x.
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("RES", (2, 2, 2, 2)),
    34: ("RES", (3, 4, 6, 3)),
    50: ("BOTTLENECK", (3, 4, 6, 3)),
    101: ("BOTTLENECK", (3, 4, 23, 3)),
    152: ("BOTTLENECK", (3, 8, 36, 3)),
}


def stage(first: Block, rest: Block, count: int, label: str) -> Node:
    """A stage: its first block (which may downsample), then ``count - 1`` copies of the plain block."""
    if count == 1 or first == rest:
        return Repeat(first, count, label=label) if count > 1 else Seq((first,), label=label)
    tail: tuple[Node, ...] = (Repeat(rest, count - 1),) if count > 2 else (rest,)
    return Seq((first, *tail), label=label)


def resnet_stages(depth: int, **options: object) -> list[Node]:
    """``layer1`` ... ``layer4`` of Table 1; ``options`` go to every block (``preact``, ``widen``, ...)."""
    if depth not in DEPTHS:
        raise ConfigError(f"ResNet depth must be one of {', '.join(map(str, DEPTHS))}, got {depth!r}")
    kind, counts = DEPTHS[depth]
    make = res if kind == "RES" else bottleneck
    if "stride_in" in options and options["stride_in"] not in STRIDE_PLACES:
        raise ConfigError(f"stride_in must be one of {', '.join(STRIDE_PLACES)}, got {options['stride_in']!r}")
    if kind == "RES":
        options = {k: v for k, v in options.items() if k not in ("stride_in", "widen")}
    return [
        stage(make(64 * 2**i, s=1 if i == 0 else 2, **options), make(64 * 2**i, **options), n, f"layer{i + 1}")
        for i, n in enumerate(counts)
    ]


def resnet(depth: int = 50, stride_in: str = "conv2", widen: int = 1, num_classes: int = 1000) -> NetSpec:
    """A ResNet of Table 1. ``stride_in`` places a bottleneck's stride (``conv2``: v1.5, ``conv1``: the paper)."""
    stem = (Conv(64, 7, s=2, bias=False), BN(), Relu(), Pool(3, s=2, p=1))
    stages = resnet_stages(depth, stride_in=stride_in, widen=widen)
    return NetSpec(Seq((*stem, *stages, GAP(), FC(num_classes))), Volume(3, 224, 224))


def torchvision_keys(spec: NetSpec) -> dict[str, str]:
    """torchvision names a block's convs directly (``layer1.0.conv1``) and its projection ``downsample.0/1``."""
    table: dict[str, str] = {}
    for step in trace(spec):
        if not step.layer.params(step.input):
            continue
        source = "fc" if step.path == "classifier" else step.path.removeprefix("features.")
        source = re.sub(r"\.shortcut\.(conv|bn)1$", lambda m: ".downsample." + ("0" if m[1] == "conv" else "1"), source)
        table[source.replace(".body.", ".")] = step.path
    return table


# Table 1's FLOPs (multiply-adds) in units of 10^9, given to one decimal.
TABLE1_GMACS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}

V15 = (
    "ResNet v1.5 (torchvision): a downsampling bottleneck strides in its 3x3 conv, not in the first 1x1 as in "
    "the paper (resnet*_paper), so no pixels are skipped before the 3x3; it costs more multiply-adds than "
    "Table 1 lists."
)
TABLE1_NOTE = (
    "Table 1 gives FLOPs (multiply-adds) to one decimal but does not round its rows alike: ResNet-34's "
    "3.66 x 10^9 and ResNet-50's 3.86 x 10^9 are printed truncated (3.6, 3.8), ResNet-101's 7.57 and "
    "ResNet-152's 11.28 rounded (7.6, 11.3). Every row is within 0.1 x 10^9 of the count, which is what "
    "the stored figure (precision 0.2) and its test check."
)
PAPER_V1 = (
    "ResNet v1 as in the paper: a downsampling bottleneck strides in its first 1x1 conv. §3.3 says only that "
    "downsampling is done by stride-2 convolutions and Table 1 that conv3_1, conv4_1 and conv5_1 downsample; "
    "the first 1x1 is where the authors' released models put the stride. Projection shortcuts (option B) "
    "where the volume changes, identities elsewhere."
)


def table1(depth: int) -> Figure:
    return Figure(TABLE1_GMACS[depth], TABLE1, 0.2, "GMACs")


def basic(depth: int) -> dict:
    """Table 1's multiply-adds of a basic-block net, a further figure beside torchvision's."""
    return {"notes": (TABLE1_NOTE,), "figures": {"table1_gmacs": table1(depth)}}


def wide(depth: int) -> dict:
    note = (
        f"WRN-{depth}-2-bottleneck of the Wide ResNet paper's ImageNet experiments: ResNet-{depth} with each "
        "bottleneck's inner 1x1 and 3x3 convs 2x wider and the same output widths."
    )
    return {"notes": (note,)}


def paper_v1(depth: int) -> dict:
    """The paper's v1 has Table 1's multiply-adds as its published figure."""
    return {"gmacs": table1(depth), "notes": (PAPER_V1, TABLE1_NOTE), "figures": {"table1_gmacs": table1(depth)}}


def tv(enum: str, v1: str, v2: tuple[str, float, float] | None = None) -> Torchvision:
    return Torchvision("resnet", f"{enum}_Weights", v1, v2)


class ResNetOptions(TypedDict, total=False):
    stride_in: str
    num_classes: int


RESNET = Family("resnet", PAPER, ilsvrc=ILSVRC, init=HE, key_maps={"torchvision": torchvision_keys})
RESNET_V15 = dataclasses.replace(RESNET, deviations=(V15,))  # torchvision's bottleneck nets
WIDE_RESNET = dataclasses.replace(RESNET_V15, paper=WIDE_PAPER, ilsvrc=None)
PAPER_RESNET = dataclasses.replace(RESNET, key_maps={})
TV = torchvision_figures  # torchvision's (params, GMACs, top-1, top-5) of IMAGENET1K_V1


@RESNET.model(**TV(11_689_512, 1.814, 69.758, 89.078), **basic(18), weights=tv("ResNet18", "resnet18-f37072fd.pth"))
def resnet18(**options: Unpack[ResNetOptions]) -> NetSpec:
    return resnet(18, **options)


@RESNET.model(**TV(21_797_672, 3.664, 73.314, 91.420), **basic(34), weights=tv("ResNet34", "resnet34-b627a593.pth"))
def resnet34(**options: Unpack[ResNetOptions]) -> NetSpec:
    return resnet(34, **options)


@RESNET_V15.model(
    **TV(25_557_032, 4.089, 76.130, 92.862),
    weights=tv("ResNet50", "resnet50-0676ba61.pth", ("resnet50-11ad3fa6.pth", 80.858, 95.434)),
)
def resnet50(**options: Unpack[ResNetOptions]) -> NetSpec:
    return resnet(50, **options)


@RESNET_V15.model(
    **TV(44_549_160, 7.801, 77.374, 93.546),
    weights=tv("ResNet101", "resnet101-63fe2227.pth", ("resnet101-cd907fc2.pth", 81.886, 95.780)),
)
def resnet101(**options: Unpack[ResNetOptions]) -> NetSpec:
    return resnet(101, **options)


@RESNET_V15.model(
    **TV(60_192_808, 11.514, 78.312, 94.046),
    weights=tv("ResNet152", "resnet152-394f9c45.pth", ("resnet152-f82ba261.pth", 82.284, 96.002)),
)
def resnet152(**options: Unpack[ResNetOptions]) -> NetSpec:
    return resnet(152, **options)


@WIDE_RESNET.model(
    **TV(68_883_240, 11.398, 78.468, 94.086),
    **wide(50),
    weights=tv("Wide_ResNet50_2", "wide_resnet50_2-95faca4d.pth", ("wide_resnet50_2-9ba9bcbe.pth", 81.602, 95.758)),
)
def wide_resnet50_2(**options: Unpack[ResNetOptions]) -> NetSpec:
    return resnet(50, widen=2, **options)


@WIDE_RESNET.model(
    **TV(126_886_696, 22.753, 78.848, 94.284),
    **wide(101),
    weights=tv("Wide_ResNet101_2", "wide_resnet101_2-32ee1156.pth", ("wide_resnet101_2-d733dc28.pth", 82.510, 96.020)),
)
def wide_resnet101_2(**options: Unpack[ResNetOptions]) -> NetSpec:
    return resnet(101, widen=2, **options)


@PAPER_RESNET.model(**paper_v1(50))
def resnet50_paper(**options: Unpack[ClassOptions]) -> NetSpec:
    return resnet(50, stride_in="conv1", **options)


@PAPER_RESNET.model(**paper_v1(101))
def resnet101_paper(**options: Unpack[ClassOptions]) -> NetSpec:
    return resnet(101, stride_in="conv1", **options)


@PAPER_RESNET.model(**paper_v1(152))
def resnet152_paper(**options: Unpack[ClassOptions]) -> NetSpec:
    return resnet(152, stride_in="conv1", **options)
