"""GoogLeNet (Szegedy et al. 2014): Inception modules, the ILSVRC 2014 winner.

Nine Inception modules (Table 1) let the net grow deep and wide on a fixed budget: 1x1 convs reduce the
channels before the 3x3 and 5x5 convs (§4), and global average pooling replaces the big FC layers (§5),
so it has about 12x fewer parameters than AlexNet. Two auxiliary classifiers on inception (4a) and (4d)
add their losses with weight 0.3 during training (§5).

``googlenet``        torchvision's layout: BN after each conv, a 3x3 conv in the "5x5" branch, a 2x2 last
                     max pool, dropout 0.2. Auxiliary classifiers are off (``aux_logits=True`` adds them).
``googlenet_paper``  Table 1 and Fig. 3: LRN after the first pooling and after conv2, no BN, 5x5 convs,
                     dropout 0.4, auxiliary classifiers on.

With auxiliary classifiers, a model in training mode returns ``AuxOutputs(logits, aux, weights)``;
``convarch.nn.model.classification_loss`` computes ``loss(logits) + sum(weight * loss(aux))``, the paper's
training loss. In eval mode the heads are skipped and the model returns the logits.
"""

from __future__ import annotations

import re
from dataclasses import replace

from convarch.blocks.inception import inception, inception_aux
from convarch.errors import ConfigError
from convarch.nn.init import TruncNormal
from convarch.spec.layers import BN, FC, GAP, LRN, Conv, Dropout, Pool, Relu
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import trace
from convarch.weights.catalog import Torchvision
from convarch.weights.sources import INCEPTION_MEAN, INCEPTION_STD
from convarch.zoo.info import Paper, torchvision_figures
from convarch.zoo.registry import Family

PAPER = Paper(
    "Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke & Rabinovich",
    2014,
    "Going Deeper with Convolutions",
    arxiv="1409.4842",
    venue="CVPR 2015",
)
ILSVRC = "ILSVRC 2014 winner in classification: 6.67% top-5 error (Szegedy et al. 2014, Table 2)"
TABLE1 = "Szegedy et al. 2014, Table 1"

# Table 1's Inception rows: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj). "pool" marks
# the 3x3/2 max pools between the grids; "aux" the auxiliary classifiers, after (4a) and (4d) (§5).
MODULES: tuple[tuple[str, tuple[int, ...] | None], ...] = (
    ("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)), ("pool", None),
    ("4a", (192, 96, 208, 16, 48, 64)), ("aux1", None), ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)), ("4d", (112, 144, 288, 32, 64, 64)), ("aux2", None),
    ("4e", (256, 160, 320, 32, 128, 128)), ("pool", None),
    ("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128)),
)  # fmt: skip

# Caffe's reference GoogLeNet (BVLC models/bvlc_googlenet): the paper gives no LRN parameters.
CAFFE_LRN = LRN(size=5, alpha=1e-4, beta=0.75, k=1.0)


def _body(module_options: dict, aux: Node | None, last_pool: Pool) -> list[Node]:
    pools = iter((Pool(3, s=2, ceil=True), last_pool))
    items: list[Node] = []
    for name, widths in MODULES:
        if widths is not None:
            items.append(replace(inception(*widths, **module_options), label=f"inception{name}"))
        elif name == "pool":
            items.append(next(pools))
        elif aux is not None:
            items.append(replace(aux, label=name))
    return items


# torchvision: BasicConv2d units named conv1..conv3 at the top and branchN(.i) in a module, each with
# ``.conv`` and ``.bn``; branch4 starts with its pool (index 0). Auxiliary heads: ``auxN.conv``, fc1, fc2.
def _torchvision_name(path: str) -> str:
    if path == "classifier":
        return "fc"
    if match := re.fullmatch(r"features\.(conv|bn)([123])", path):
        return f"conv{match[2]}.{'conv' if match[1] == 'conv' else 'bn'}"
    if match := re.fullmatch(r"features\.(inception\w+)\.branch(\d)\.(conv|bn)(\d)", path):
        module, branch, kind, index = match[1], int(match[2]), match[3], int(match[4])
        inner = "" if branch == 1 else f".{index - 1 + (branch == 4)}"
        return f"{module}.branch{branch}{inner}.{kind}"
    if match := re.fullmatch(r"features\.(aux\d)\.head\.(conv1|bn1|fc1|fc2)", path):
        return f"{match[1]}.{ {'conv1': 'conv.conv', 'bn1': 'conv.bn'}.get(match[2], match[2]) }"
    raise ConfigError(f"no torchvision name for {path}: the GoogLeNet key map has no rule for it")


def torchvision_keys(spec: NetSpec) -> dict[str, str | None]:
    """torchvision's GoogLeNet names; its auxiliary heads are dropped when ours has none (``aux_logits=False``)."""
    table: dict[str, str | None] = {_torchvision_name(s.path): s.path for s in trace(spec) if s.layer.params(s.input)}
    if not any(path.startswith("features.aux") for path in table.values()):
        table.update({"aux1": None, "aux2": None})
    return table


# Table 1, per row: (params in K = 1024 weights, ops in M multiply-adds); the Inception rows by name.
TABLE1_ROWS: dict[str, tuple[float, int]] = {
    "conv1": (2.7, 34), "conv2": (112, 360),
    "3a": (159, 128), "3b": (380, 304), "4a": (364, 73), "4b": (437, 88), "4c": (463, 100), "4d": (580, 119),
    "4e": (840, 170), "5a": (1072, 54), "5b": (1388, 71), "linear": (1000, 1),
}  # fmt: skip
# Rows whose published numbers do not follow from their own widths (see the notes).
TABLE1_INCONSISTENT = {"conv1": ("params", "ops"), "4c": ("params",), "5a": ("params", "ops")}

PAPER_NOTES = (
    "Table 1 counts weights without biases, in K = 1024 (the 'linear' row: 1024 x 1000 = 1000K) and "
    "multiply-adds in M = 10^6, rounded loosely: the consistent rows agree with the computed counts "
    "within 2%.",
    "Table 1, convolution 7x7/2: '2.7K params, 34M ops', but 7 x 7 x 3 x 64 = 9,408 weights and "
    "112 x 112 x 9,408 = 118M multiply-adds. The two printed numbers agree with each other "
    "(2.7K x 112 x 112 = 34M), not with the layer.",
    "Table 1, inception (4c): '463K params', but its widths give 509,440 weights = 497.5K; its '100M ops' "
    "does follow from them (14 x 14 x 509,440 = 99.9M).",
    "Table 1, inception (5a): '1072K params, 54M ops', but its widths (those of 4e, on 832 inputs) give "
    "1,042,432 weights = 1018K and 7 x 7 x 1,042,432 = 51.1M multiply-adds.",
    "LRN parameters (size 5, alpha 1e-4, beta 0.75, k 1) are those of Caffe's reference GoogLeNet; the "
    "paper names LRN in Fig. 3 without them. Pools round up (Caffe), which gives Table 1's 56 and 28.",
    "§1 says GoogLeNet uses '12 times fewer parameters' than AlexNet (60M, so about 5M); this network has "
    "about 7M without its auxiliary heads, most of them in the inception modules of Table 1.",
)

# torchvision builds GoogLeNet with transform_input=True for its weights: its first step re-normalises an
# ImageNet-normalised image to (x - 0.5) / 0.5. Our GoogLeNet has no such layer, so the weights' true
# preprocessing is mean = std = 0.5 and ``transforms_for`` applies it directly.
WEIGHTS = Torchvision(
    "googlenet", "GoogLeNet_Weights", "googlenet-1378be20.pth", mean=INCEPTION_MEAN, std=INCEPTION_STD,
    notes=("torchvision runs these weights with transform_input=True, which turns ImageNet normalisation into "
           "(x - 0.5) / 0.5; we record that as the preprocessing instead of adding the layer.",),
)  # fmt: skip
GOOGLENET = Family(
    "googlenet", PAPER, ilsvrc=ILSVRC, init=TruncNormal(0.01), key_maps={"torchvision": torchvision_keys}
)


@GOOGLENET.model(
    **torchvision_figures(6_624_904, 1.498, 69.778, 89.530),
    deviations=(
        "The '5x5' branch of every Inception module uses a 3x3 conv: a known torchvision bug "
        "(pytorch/vision#906), kept because its published weights have that shape.",
        "Batch norm (eps 0.001) after every conv, whose biases are dropped; no LRN.",
        "The last max pool is 2x2/2 instead of 3x3/2 (both give 7x7 at 224x224); dropout 0.2, not 0.4.",
        "Auxiliary classifiers are off by default (aux_logits=True adds them, with BN and an "
        "adaptive 4x4 average pool instead of the 5x5/3 pool).",
    ),
    notes=(
        "torchvision runs its pretrained weights with transform_input=True, re-normalising an "
        "ImageNet-normalised image to (x - 0.5) / 0.5; the weights expect that input.",
    ),
    weights=WEIGHTS,
)
def googlenet(aux_logits: bool = False, dropout: float = 0.2, num_classes: int = 1000) -> NetSpec:
    """torchvision's GoogLeNet: Caffe's ceil-mode pooling, BN (eps 0.001), a 3x3 conv in the "5x5" branch."""

    def unit(out: int, f: int, **kw: int) -> tuple[Node, ...]:
        return (Conv(out, f, bias=False, **kw), BN(eps=1e-3), Relu())

    stem = (*unit(64, 7, s=2), Pool(3, s=2, ceil=True), *unit(64, 1), *unit(192, 3), Pool(3, s=2, ceil=True))
    aux = inception_aux(num_classes, bn=True, adaptive=True) if aux_logits else None
    body = _body({"bn": True, "f5": 3}, aux, Pool(2, ceil=True))
    head = (GAP(), Dropout(dropout), FC(num_classes))
    return NetSpec(Seq((*stem, *body, *head)), Volume(3, 224, 224))


@GOOGLENET.model(
    key_maps={},
    notes=PAPER_NOTES,
    figures={"table1": TABLE1_ROWS, "table1_inconsistent": TABLE1_INCONSISTENT, "table1_source": TABLE1},
)
def googlenet_paper(aux_logits: bool = True, dropout: float = 0.4, num_classes: int = 1000) -> NetSpec:
    """The network of Table 1 and Fig. 3 (Caffe rounds pooled sizes up, which gives Table 1's volumes)."""
    stem = (
        Conv(64, 7, s=2), Relu(), Pool(3, s=2, ceil=True), CAFFE_LRN,
        Conv(64, 1), Relu(), Conv(192, 3), Relu(), CAFFE_LRN, Pool(3, s=2, ceil=True),
    )  # fmt: skip
    aux = inception_aux(num_classes) if aux_logits else None
    body = _body({}, aux, Pool(3, s=2, ceil=True))
    return NetSpec(Seq((*stem, *body, GAP(), Dropout(dropout), FC(num_classes))), Volume(3, 224, 224))
