"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov & Chen 2018): inverted residuals and linear bottlenecks.

The building block (Table 1) expands a thin input t times with a 1x1 conv, filters it with a 3x3 depthwise
conv (one filter per channel; with the 1x1 convs, 8 to 9 times cheaper than full 3x3 convs, §3.1), and
projects it back to a thin output with a linear 1x1 conv: no ReLU after the projection, because a ReLU on a
low-dimensional manifold destroys information (§3.2). The shortcut joins the thin bottlenecks, not the wide expansions
(§3.3), and applies only where a block keeps the volume (stride 1, same width; Fig. 4d). ReLU6 throughout,
"because of its robustness when used with low-precision computation" (§4).

Table 2 is the network: a 3x3/2 conv with 32 filters, 17 bottleneck blocks in 7 rows (t, c, n, s), a 1x1
conv to 1280, global average pooling and a linear classifier. The width multiplier scales every layer but the
last conv (§4: for multipliers below one the last conv stays at 1280, which helps the smaller models).

``mobilenet_v2``  torchvision's layout, whose structure is the paper's Table 2 (see the notes for what differs,
                  and why there is no ``_paper`` variant). ``width_mult=`` gives the other widths.
"""

from __future__ import annotations

from convarch.blocks.inverted_residual import inverted_residual
from convarch.errors import ConfigError
from convarch.nn.init import He
from convarch.spec.layers import BN, FC, GAP, Conv, Dropout, Relu6
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume
from convarch.weights.catalog import Torchvision
from convarch.zoo.info import Figure, Paper, torchvision_figures
from convarch.zoo.keymaps import fc_chain, in_order
from convarch.zoo.registry import Family

PAPER = Paper(
    "Sandler, Howard, Zhu, Zhmoginov & Chen",
    2018,
    "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    arxiv="1801.04381",
    venue="CVPR 2018",
)
TABLE4 = "Sandler et al. 2018, Table 4 (ImageNet, 1.0 width at 224x224)"

# Table 2: expansion factor t, output channels c, repeats n, first stride s of each row of bottlenecks.
ROWS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip
STEM, LAST = 32, 1280


def multiple_of_8(width: float) -> int:
    """A scaled width rounded to the nearest multiple of 8, never more than 10% below the unrounded one.

    Not in the paper; the reference implementations (TF-slim's and torchvision's) round this way, so that a
    width multiplier gives the channel counts their weights have.
    """
    rounded = max(8, int(width + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * width else rounded


def torchvision_keys(spec: NetSpec) -> dict[str, str]:
    """torchvision numbers the stem, the 17 blocks and the last conv ``features.0`` ... ``features.18``; a
    block's convs are ``conv.0``, ``conv.1`` (units of conv, BN, ReLU6: ``.0``, ``.1``) and the projection
    ``conv.2``/``conv.3`` (``conv.1``/``conv.2`` without expansion); the classifier is ``classifier.1``."""
    names = ["features.0.0", "features.0.1"]
    expansions = [t for t, _, n, _ in ROWS for _ in range(n)]
    for index, t in enumerate(expansions, 1):
        units = ["conv.0.0", "conv.0.1", "conv.1.0", "conv.1.1"] if t != 1 else ["conv.0.0", "conv.0.1"]
        projection = len(units) // 2
        names += [f"features.{index}.{unit}" for unit in (*units, f"conv.{projection}", f"conv.{projection + 1}")]
    last = len(expansions) + 1
    names += [f"features.{last}.0", f"features.{last}.1", *(["classifier.1"] if fc_chain(spec) else [])]
    return in_order(spec, names)


MOBILENET = Family("mobilenet_v2", PAPER, init=He(fc_std=0.01), key_maps={"torchvision": torchvision_keys})


@MOBILENET.model(
    **torchvision_figures(3_504_872, 0.301, 71.878, 90.286),
    notes=(
        "torchvision's layout is the paper's Table 2 in every layer: the 32-filter 3x3/2 stem, the 17 "
        "bottlenecks of its rows (t, c, n, s), the 1x1 conv to 1280, average pooling and a linear classifier "
        "(Table 2's final 1x1 conv on the pooled 1x1 map is the same map). So there is no separate "
        "mobilenet_v2_paper. Dropout 0.2 before the classifier is the reference implementations' (TF-slim, "
        "torchvision); the paper does not mention it.",
        "Table 4 gives 3.4M parameters and 300M multiply-adds: the counts cut to their last digit, 3.47M "
        "weights and biases (without batch norm's 34K scales and shifts; 3.50M with them) and 300.8M.",
        "Widths are rounded to multiples of 8 as the reference implementations do (TF-slim, torchvision), "
        "which changes nothing at width 1.0.",
    ),
    figures={
        "table4_params": Figure(3_400_000, TABLE4, 100_000),
        "table4_macs": Figure(300_000_000, TABLE4, 1_000_000, "MACs"),
    },
    weights=Torchvision(
        "mobilenetv2",
        "MobileNet_V2_Weights",
        "mobilenet_v2-b0353104.pth",
        ("mobilenet_v2-7ebf99e0.pth", 72.154, 90.822),
    ),
)
def mobilenet_v2(width_mult: float = 1.0, dropout: float = 0.2, num_classes: int = 1000) -> NetSpec:
    """Table 2 at ``width_mult`` (§4: every layer is scaled but the last conv, which only grows)."""
    if not isinstance(width_mult, int | float) or isinstance(width_mult, bool) or width_mult <= 0:
        raise ConfigError(f"width_mult must be a positive number, got {width_mult!r}")
    items: list[Node] = [Conv(multiple_of_8(STEM * width_mult), 3, s=2, bias=False), BN(), Relu6()]
    for t, c, n, s in ROWS:
        items += [inverted_residual(multiple_of_8(c * width_mult), t, s=s if i == 0 else 1) for i in range(n)]
    last = multiple_of_8(LAST * max(1.0, width_mult))
    items += [Conv(last, 1, bias=False), BN(), Relu6(), GAP(), Dropout(dropout), FC(num_classes)]
    return NetSpec(Seq(tuple(items)), Volume(3, 224, 224))
