"""Inception-v4 and Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke & Alemi 2016), at 299x299.

``inception_v4``         Fig. 9: the stem (Fig. 3), 4 x Inception-A, Reduction-A, 7 x Inception-B,
                         Reduction-B, 3 x Inception-C, average pooling, dropout, softmax.
``inception_resnet_v2``  Fig. 15 as released in TF-slim: a stem, 10 x Inception-ResNet-A, Reduction-A,
                         20 x Inception-ResNet-B, Reduction-B, 10 x Inception-ResNet-C (the last one without
                         ReLU), a 1x1 conv to 1536 maps, average pooling.

Both follow the TF-slim networks that timm ports, in timm's state-dict layout: the published weights are
for these, and where they differ from the paper's figures the metadata lists it.
"""

from __future__ import annotations

from dataclasses import replace

from convarch.blocks.inception_v4 import (
    inception_a,
    inception_b,
    inception_c,
    inception_resnet_a,
    inception_resnet_b,
    inception_resnet_c,
    reduction_a,
    reduction_b,
    reduction_resnet_b,
    resnet_v2_stem_items,
    v4_stem_items,
)
from convarch.spec.layers import BN, FC, GAP, Conv, Dropout, Relu
from convarch.spec.nodes import Block, NetSpec, Node, Repeat, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import split, trace
from convarch.weights.catalog import Timm
from convarch.weights.sources import INCEPTION_MEAN, INCEPTION_STD
from convarch.zoo.info import TIMM, TIMM_RESULTS, Figure, Paper
from convarch.zoo.registry import Family
from convarch.zoo.unit_keys import conv_units, unit_table

PAPER = Paper(
    "Szegedy, Ioffe, Vanhoucke & Alemi",
    2016,
    "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    arxiv="1602.07261",
    venue="AAAI 2017",
)
# Table 1: the widths k, l, m, n of Reduction-A in each network.
REDUCTION_A_V4 = (192, 224, 256, 384)
REDUCTION_A_IRV2 = (256, 256, 384, 384)


def _head(dropout: float, num_classes: int) -> tuple[Node, ...]:
    return (GAP(), *((Dropout(dropout),) if dropout else ()), FC(num_classes))


# ---- timm's state-dict layout ----------------------------------------------------------------------------
# Each block's conv units in our order (the order of the trace), by their timm names. A unit "name" has
# "name.conv" and "name.bn"; a bare conv (the residuals' linear 1x1) is "name" itself.
TIMM_UNITS: dict[str, tuple[str, ...]] = {
    "mixed_3a": ("conv",),
    "mixed_4a": ("branch0.0", "branch0.1", "branch1.0", "branch1.1", "branch1.2", "branch1.3"),
    "mixed_5a": ("conv",),
    "mixed_5b": ("branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2", "branch3.1"),
    "INCEPTION_A": ("branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2", "branch3.1"),
    "REDUCTION_A": ("branch0", "branch1.0", "branch1.1", "branch1.2"),
    "INCEPTION_B": ("branch0", "branch1.0", "branch1.1", "branch1.2",
                    "branch2.0", "branch2.1", "branch2.2", "branch2.3", "branch2.4", "branch3.1"),
    "REDUCTION_B": ("branch0.0", "branch0.1", "branch1.0", "branch1.1", "branch1.2", "branch1.3"),
    "INCEPTION_C": ("branch0", "branch1_0", "branch1_1a", "branch1_1b",
                    "branch2_0", "branch2_1", "branch2_2", "branch2_3a", "branch2_3b", "branch3.1"),
    "INCEPTION_RESNET_A": ("branch0", "branch1.0", "branch1.1", "branch2.0", "branch2.1", "branch2.2", "conv2d"),
    "INCEPTION_RESNET_B": ("branch0", "branch1.0", "branch1.1", "branch1.2", "conv2d"),
    "REDUCTION_RESNET_B": ("branch0.0", "branch0.1", "branch1.0", "branch1.1",
                           "branch2.0", "branch2.1", "branch2.2"),
    "INCEPTION_RESNET_C": ("branch0", "branch1.0", "branch1.1", "branch1.2", "conv2d"),
}  # fmt: skip


def _unit_names(node: Node, name: str) -> tuple[str, ...]:
    return TIMM_UNITS[node.name if isinstance(node, Block) else name]


def _copies(node: Node) -> list[Node]:
    """The blocks a labelled group holds, in order (a repeat gives its copies)."""
    if isinstance(node, Repeat):
        return [node.body] * int(node.times)
    if isinstance(node, Seq):
        return [copy for item in node.items for copy in _copies(item)]
    return [node]


def _timm_table(spec: NetSpec, top_units: list[str], groups: dict[str, list[str]], classifier: str) -> dict:
    """``top_units``: timm names of the top-level conv units in order; ``groups``: our label -> timm prefixes."""
    steps = trace(spec)
    table: dict[str, str | None] = unit_table(top_units, conv_units(steps, "features", top_level=True))
    for label, node in split(spec).features:
        if label not in groups:
            continue
        for prefix, (i, block) in zip(groups[label], enumerate(_copies(node)), strict=True):
            ours = f"features.{label}.{i}" if isinstance(node, Repeat | Seq) else f"features.{label}"
            names = [f"{prefix}.{unit}" for unit in _unit_names(block, label)]
            table.update(unit_table(names, conv_units(steps, ours)))
    table[classifier] = "classifier"
    return table


def timm_v4_keys(spec: NetSpec) -> dict[str, str | None]:
    """timm ``inception_v4``: ``features.0`` ... ``features.21`` and ``last_linear``."""
    counts = {"mixed_3a": 1, "mixed_4a": 1, "mixed_5a": 1, "inception_a": 4, "reduction_a": 1,
              "inception_b": 7, "reduction_b": 1, "inception_c": 3}  # fmt: skip
    groups, index = {}, 3  # features.0-2 are the stem's three conv units
    for label, count in counts.items():
        groups[label] = [f"features.{index + i}" for i in range(count)]
        index += count
    return _timm_table(spec, [f"features.{i}" for i in range(3)], groups, "last_linear")


def timm_irv2_keys(spec: NetSpec) -> dict[str, str | None]:
    """timm ``inception_resnet_v2``: ``conv2d_1a`` ..., ``repeat``, ``mixed_6a``, ..., ``block8``, ``classif``."""
    groups = {
        "mixed_5b": ["mixed_5b"],
        "inception_resnet_a": [f"repeat.{i}" for i in range(10)],
        "reduction_a": ["mixed_6a"],
        "inception_resnet_b": [f"repeat_1.{i}" for i in range(20)],
        "reduction_b": ["mixed_7a"],
        "inception_resnet_c": [*(f"repeat_2.{i}" for i in range(9)), "block8"],
    }
    top = ["conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a", "conv2d_7b"]
    return _timm_table(spec, top, groups, "classif")


COMMON_DEVIATIONS = (
    "Layout of the released TF-slim network as timm ports it: the order of each factorised pair (1xn, nx1) "
    "and of the concatenated branches is the release's, which its weights need; the paper's figures draw "
    "some of them in another order.",
    "Every conv is followed by batch norm (eps 0.001) and has no bias; the paper's figures show the convs only.",
)

INCEPTION = Family("inception_v4", PAPER, deviations=COMMON_DEVIATIONS, input_size=(3, 299, 299))


def card(name: str, params: float, gmacs: float, top1: float, top5: float) -> dict[str, Figure]:
    """timm's model card ``name`` (params, GMACs to one decimal) and results-imagenet.csv's top-1 and top-5
    of the TF-slim weights."""
    model_card, results = f"{TIMM}, {name} model card", f"{TIMM_RESULTS}, {name.split('.')[0]}.tf_in1k"
    return {
        "params": Figure(params, model_card, 1e5),
        "gmacs": Figure(gmacs, model_card, 0.1, "GMACs"),
        "top1": Figure(top1, results, 0.001, "%"),
        "top5": Figure(top5, results, 0.001, "%"),
    }


def tf_port(repo: str, crop_pct: float) -> Timm:
    """timm's port of the TF-slim checkpoint; timm's cfg uses the Inception mean/std (0.5) and bicubic."""
    note = "Ported by timm from the TF-slim checkpoint."
    return Timm(f"{repo}.tf_in1k", 299, crop_pct, "bicubic", INCEPTION_MEAN, INCEPTION_STD, note)


@INCEPTION.model(
    **card("inception_v4.tf_in1k", 42.7e6, 12.3, 80.156, 94.968),
    deviations=("No dropout before the classifier by default (timm's default); the paper keeps 0.8 (dropout=0.2).",),
    notes=("Reduction-A uses Table 1's Inception-v4 widths: k = 192, l = 224, m = 256, n = 384.",),
    key_maps={"timm": timm_v4_keys},
    weights=tf_port("inception_v4", 0.875),
)
def inception_v4(dropout: float = 0.0, num_classes: int = 1000) -> NetSpec:
    """Fig. 9. ``dropout`` before the classifier: 0.2 in the paper (keep 0.8), 0 in timm's default."""
    body = (
        Repeat(inception_a(), 4, label="inception_a"),
        replace(reduction_a(*REDUCTION_A_V4), label="reduction_a"),
        Repeat(inception_b(), 7, label="inception_b"),
        replace(reduction_b(), label="reduction_b"),
        Repeat(inception_c(), 3, label="inception_c"),
    )
    return NetSpec(Seq((*v4_stem_items(), *body, *_head(dropout, num_classes))), Volume(3, 299, 299))


@INCEPTION.model(
    **card("inception_resnet_v2", 55.8e6, 13.2, 80.462, 95.308),
    deviations=(
        "The released stem is not Fig. 3: 3x3 convs, a max pool, a 1x1 (80) and a 3x3 (192) conv, a max "
        "pool and a module of four branches (Mixed_5b) give 35x35x320 instead of 35x35x384.",
        "10, 20 and 10 Inception-ResNet blocks instead of Fig. 15's 5, 10 and 5; the last C block has no "
        "ReLU and no scaling, and a 1x1 conv to 1536 maps follows it.",
        "Block widths of the release: the A blocks project back to 320 maps (Fig. 16: 384), B to 1088 "
        "(Fig. 17: 1154), C to 2080 (Fig. 19: 2048); residuals are scaled by 0.17, 0.10 and 0.20 (§3.3 gives "
        "only a range, 0.1 to 0.3; these values are the authors' TF-slim release, which timm ports).",
    ),
    notes=("Reduction-A uses Table 1's Inception-ResNet-v2 widths: k = 256, l = 256, m = 384, n = 384.",),
    key_maps={"timm": timm_irv2_keys},
    weights=tf_port("inception_resnet_v2", 0.8975),
)
def inception_resnet_v2(dropout: float = 0.0, num_classes: int = 1000) -> NetSpec:
    """The released Inception-ResNet-v2; ``dropout`` before the classifier (timm's default 0)."""
    last_c = inception_resnet_c(scale=1.0, relu=False)
    body = (
        Repeat(inception_resnet_a(), 10, label="inception_resnet_a"),
        replace(reduction_a(*REDUCTION_A_IRV2), label="reduction_a"),
        Repeat(inception_resnet_b(), 20, label="inception_resnet_b"),
        replace(reduction_resnet_b(), label="reduction_b"),
        Seq((Repeat(inception_resnet_c(), 9), last_c), label="inception_resnet_c"),
        Conv(1536, 1, bias=False),
        BN(eps=1e-3),
        Relu(),
    )
    return NetSpec(Seq((*resnet_v2_stem_items(), *body, *_head(dropout, num_classes))), Volume(3, 299, 299))
