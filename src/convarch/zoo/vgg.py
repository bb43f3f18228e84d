"""VGG (Simonyan & Zisserman 2014): depth from stacks of 3x3 convs, the ILSVRC 2014 runner-up.

Configurations A-E of Table 1. A stack of three 3x3 convs sees 7x7 but has 27C^2 weights instead of
49C^2 and three non-linearities instead of one (§2.3). C adds 1x1 convs to B-depth stacks; D is VGG-16
and E VGG-19. ``*_bn`` adds batch norm after each conv (torchvision; not in the paper).

The plain names (``vgg11`` ... ``vgg19``, ``*_bn``) are torchvision's layout, which adds an adaptive 7x7
average pool before FC6 (the identity at 224x224). ``vgg11_lrn`` and ``vgg16_c`` exist only in the paper
and are built exactly as Table 1 has them.
"""

from __future__ import annotations

import dataclasses
from typing import TypedDict, Unpack

from convarch.nn.init import He
from convarch.spec.layers import BN, FC, Conv, Dropout, Pool, Relu
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume
from convarch.weights.catalog import Torchvision
from convarch.zoo.alexnet import PAPER_LRN
from convarch.zoo.info import CS231N, Figure, Paper, torchvision_figures
from convarch.zoo.keymaps import fc_chain, feature_names, sequential
from convarch.zoo.registry import Family

PAPER = Paper(
    "Simonyan & Zisserman",
    2014,
    "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    arxiv="1409.1556",
    venue="ICLR 2015",
)
TABLE2 = "Simonyan & Zisserman 2014, Table 2 (millions)"
ILSVRC = "ILSVRC 2014 runner-up in classification (CS231n)"

# Table 1, column by column: a number is a 3x3 conv of that width, "1x1-N" a 1x1 conv, "M" a 2x2 max
# pool and "LRN" local response normalisation.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1x1-256", "M", 512, 512, "1x1-512", "M",
          512, 512, "1x1-512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}  # fmt: skip


def _features(config: list[int | str], batch_norm: bool) -> list[Node]:
    layers: list[Node] = []
    for item in config:
        if item == "M":
            layers.append(Pool(2))
        elif item == "LRN":
            layers.append(PAPER_LRN)
        else:
            width, f = (int(item.split("-")[1]), 1) if isinstance(item, str) else (item, 3)
            layers += [Conv(width, f), BN(), Relu()] if batch_norm else [Conv(width, f), Relu()]
    return layers


def vgg(
    config: str, batch_norm: bool = False, adaptive: bool = True, num_classes: int = 1000, dropout: float = 0.5
) -> NetSpec:
    # §3.1: "regularised by ... dropout regularisation for the first two fully-connected layers".
    head = [FC(4096), Relu(), Dropout(dropout), FC(4096), Relu(), Dropout(dropout), FC(num_classes)]
    pool = [Pool(out=7, type="avg")] if adaptive else []
    return NetSpec(Seq((*_features(CONFIGS[config], batch_norm), *pool, *head)), Volume(3, 224, 224))


def torchvision_keys(spec: NetSpec) -> dict[str, str]:
    """torchvision: ``features.i`` aligns with our features; the Linears are ``classifier.0/3/6``."""
    table = sequential("features", "features", feature_names(spec))
    table.update(zip(("classifier.0", "classifier.3", "classifier.6"), fc_chain(spec), strict=True))
    return table


# CS231n's VGG-16 walk-through, row by row: (layer, output volume, activations, weights). The values are
# the table's own products. Its TOTAL line says "24M" activations, but its rows sum to 15.2M; the
# parameter total, 138M, agrees with the rows plus biases.
CS231N_VGG16 = (
    ("INPUT", "224x224x3", 224 * 224 * 3, 0),
    ("CONV3-64", "224x224x64", 224 * 224 * 64, (3 * 3 * 3) * 64),
    ("CONV3-64", "224x224x64", 224 * 224 * 64, (3 * 3 * 64) * 64),
    ("POOL2", "112x112x64", 112 * 112 * 64, 0),
    ("CONV3-128", "112x112x128", 112 * 112 * 128, (3 * 3 * 64) * 128),
    ("CONV3-128", "112x112x128", 112 * 112 * 128, (3 * 3 * 128) * 128),
    ("POOL2", "56x56x128", 56 * 56 * 128, 0),
    ("CONV3-256", "56x56x256", 56 * 56 * 256, (3 * 3 * 128) * 256),
    ("CONV3-256", "56x56x256", 56 * 56 * 256, (3 * 3 * 256) * 256),
    ("CONV3-256", "56x56x256", 56 * 56 * 256, (3 * 3 * 256) * 256),
    ("POOL2", "28x28x256", 28 * 28 * 256, 0),
    ("CONV3-512", "28x28x512", 28 * 28 * 512, (3 * 3 * 256) * 512),
    ("CONV3-512", "28x28x512", 28 * 28 * 512, (3 * 3 * 512) * 512),
    ("CONV3-512", "28x28x512", 28 * 28 * 512, (3 * 3 * 512) * 512),
    ("POOL2", "14x14x512", 14 * 14 * 512, 0),
    ("CONV3-512", "14x14x512", 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("CONV3-512", "14x14x512", 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("CONV3-512", "14x14x512", 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("POOL2", "7x7x512", 7 * 7 * 512, 0),
    ("FC", "1x1x4096", 4096, 7 * 7 * 512 * 4096),
    ("FC", "1x1x4096", 4096, 4096 * 4096),
    ("FC", "1x1x1000", 1000, 4096 * 1000),
)


ADAPTIVE_POOL = (
    "torchvision adds an adaptive 7x7 average pool before FC6: the identity at 224x224, it lets other input "
    "sizes reach the classifier."
)
BATCH_NORM = "Batch norm after every conv (Ioffe & Szegedy 2015), which the paper predates."


class VGGOptions(TypedDict, total=False):
    num_classes: int
    dropout: float


def table(config: str, millions: int) -> dict:
    """The configuration's column of Table 1 and its parameters in Table 2."""
    return {
        "notes": (f"Configuration {config} of Table 1.",),
        "figures": {"table2_params": Figure(millions * 1_000_000, TABLE2, 1_000_000)},
    }


def tv(enum: str, sha256_prefix: str) -> Torchvision:
    """torchvision's ``<enum>_Weights.IMAGENET1K_V1``, whose file is ``<enum in lower case>-<hash prefix>.pth``."""
    return Torchvision("vgg", f"{enum}_Weights", f"{enum.lower()}-{sha256_prefix}.pth")


VGG = Family(
    "vgg",
    PAPER,
    ilsvrc=ILSVRC,
    init=He(fc_std=0.01),
    key_maps={"torchvision": torchvision_keys},
    deviations=(ADAPTIVE_POOL,),
)
VGG_BN = dataclasses.replace(VGG, deviations=(ADAPTIVE_POOL, BATCH_NORM))
PAPER_VGG = dataclasses.replace(VGG, key_maps={}, deviations=())  # the paper's nets no library publishes
TV = torchvision_figures  # torchvision's (params, GMACs, top-1, top-5) of IMAGENET1K_V1


@VGG.model(**TV(132_863_336, 7.609, 69.020, 88.628), **table("A", 133), weights=tv("VGG11", "8a719046"))
def vgg11(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("A", **options)


@VGG.model(**TV(133_047_848, 11.308, 69.928, 89.246), **table("B", 133), weights=tv("VGG13", "19584684"))
def vgg13(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("B", **options)


VGG16_FIGURES = {**table("D", 138)["figures"], "cs231n_layers": CS231N_VGG16, "cs231n_source": CS231N}


@VGG.model(
    **TV(138_357_544, 15.470, 71.592, 90.382),
    notes=(
        *table("D", 138)["notes"],
        "Activations: 15.2M a forward pass (58 MiB in float32), the sum of CS231n's VGG-16 walk-through rows; "
        "its TOTAL line's '24M' (~93MB) does not match its own rows. The parameters, 138M, agree.",
    ),
    figures=VGG16_FIGURES,
    weights=tv("VGG16", "397923af"),
)
def vgg16(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("D", **options)


@VGG.model(**TV(143_667_240, 19.632, 72.376, 90.876), **table("E", 144), weights=tv("VGG19", "dcbb9e9d"))
def vgg19(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("E", **options)


@VGG_BN.model(**TV(132_868_840, 7.609, 70.370, 89.810), **table("A", 133), weights=tv("VGG11_BN", "6002323d"))
def vgg11_bn(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("A", batch_norm=True, **options)


@VGG_BN.model(**TV(133_053_736, 11.308, 71.586, 90.374), **table("B", 133), weights=tv("VGG13_BN", "abd245e5"))
def vgg13_bn(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("B", batch_norm=True, **options)


@VGG_BN.model(**TV(138_365_992, 15.470, 73.360, 91.516), **table("D", 138), weights=tv("VGG16_BN", "6c64b313"))
def vgg16_bn(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("D", batch_norm=True, **options)


@VGG_BN.model(**TV(143_678_248, 19.632, 74.218, 91.842), **table("E", 144), weights=tv("VGG19_BN", "c79401a0"))
def vgg19_bn(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("E", batch_norm=True, **options)


# Only in the paper: Table 1 exactly, no adaptive pool; Table 2's parameter count is the published figure.
@PAPER_VGG.model(params=Figure(133_000_000, TABLE2, 1_000_000), **table("A-LRN", 133))
def vgg11_lrn(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("A-LRN", adaptive=False, **options)


@PAPER_VGG.model(params=Figure(134_000_000, TABLE2, 1_000_000), **table("C", 134))
def vgg16_c(**options: Unpack[VGGOptions]) -> NetSpec:
    return vgg("C", adaptive=False, **options)
