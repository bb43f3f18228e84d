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

import re

from convarch.blocks.residual import STRIDE_PLACES, bottleneck, res
from convarch.errors import ConfigError
from convarch.spec.layers import BN, FC, GAP, Conv, Pool, Relu
from convarch.spec.nodes import Block, NetSpec, Node, Repeat, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import trace
from convarch.zoo.info import Figure, ModelInfo, Paper, torchvision_figures
from convarch.zoo.registry import ModelEntry, register

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


# name: (depth, widen, torchvision (params, GMACs, top-1, top-5) of IMAGENET1K_V1)
TORCHVISION_VARIANTS: dict[str, tuple[int, int, tuple[int, float, float, float]]] = {
    "resnet18": (18, 1, (11_689_512, 1.814, 69.758, 89.078)),
    "resnet34": (34, 1, (21_797_672, 3.664, 73.314, 91.420)),
    "resnet50": (50, 1, (25_557_032, 4.089, 76.130, 92.862)),
    "resnet101": (101, 1, (44_549_160, 7.801, 77.374, 93.546)),
    "resnet152": (152, 1, (60_192_808, 11.514, 78.312, 94.046)),
    "wide_resnet50_2": (50, 2, (68_883_240, 11.398, 78.468, 94.086)),
    "wide_resnet101_2": (101, 2, (126_886_696, 22.753, 78.848, 94.284)),
}
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


def _table1(depth: int) -> dict[str, Figure]:
    return {"table1_gmacs": Figure(TABLE1_GMACS[depth], TABLE1, 0.2, "GMACs")}


def _register_torchvision(name: str, depth: int, widen: int, tv: tuple[int, float, float, float]) -> None:
    wide = widen > 1
    deviations = (V15,) if DEPTHS[depth][0] == "BOTTLENECK" else ()
    notes: tuple[str, ...] = (TABLE1_NOTE,) if DEPTHS[depth][0] == "RES" else ()
    if wide:
        notes = (
            f"WRN-{depth}-{widen}-bottleneck of the Wide ResNet paper's ImageNet experiments: ResNet-{depth} with "
            f"each bottleneck's inner 1x1 and 3x3 convs {widen}x wider and the same output widths.",
        )
    register(
        ModelEntry(
            name,
            resnet,
            ModelInfo(
                name=name,
                family="resnet",
                paper=WIDE_PAPER if wide else PAPER,
                ilsvrc=None if wide else ILSVRC,
                **torchvision_figures(*tv),
                deviations=deviations,
                notes=notes,
                figures=_table1(depth) if DEPTHS[depth][0] == "RES" else {},
            ),
            options={"depth": depth, "widen": widen},
            key_maps={"torchvision": torchvision_keys},
            init="he",
        )
    )


def _register_paper(depth: int) -> None:
    name = f"resnet{depth}_paper"
    register(
        ModelEntry(
            name,
            resnet,
            ModelInfo(
                name=name,
                family="resnet",
                paper=PAPER,
                ilsvrc=ILSVRC,
                gmacs=_table1(depth)["table1_gmacs"],
                notes=(
                    "ResNet v1 as in the paper: a downsampling bottleneck strides in its first 1x1 conv. §3.3 says "
                    "only that downsampling is done by stride-2 convolutions and Table 1 that conv3_1, conv4_1 "
                    "and conv5_1 downsample; the first 1x1 is where the authors' released models put the "
                    "stride. Projection shortcuts (option B) where the volume changes, identities elsewhere.",
                    TABLE1_NOTE,
                ),
                figures=_table1(depth),
            ),
            options={"depth": depth, "stride_in": "conv1", "widen": 1},
            init="he",
        )
    )


for _name, (_depth, _widen, _tv) in TORCHVISION_VARIANTS.items():
    _register_torchvision(_name, _depth, _widen, _tv)
for _depth in (50, 101, 152):
    _register_paper(_depth)
