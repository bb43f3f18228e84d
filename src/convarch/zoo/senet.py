"""SENet (Hu, Shen, Albanie, Sun & Wu 2017): squeeze-and-excitation, the ILSVRC 2017 winner.

An SE block recalibrates a block's output channels (§3): it squeezes each channel to one number by global
average pooling, excites them through a bottleneck of two fully connected layers (C -> C/r -> C, ReLU between,
a sigmoid after) and scales each channel by its factor. In a residual network it sits on the residual branch,
before the addition (Fig. 3). r = 16 throughout (§6.1, Table 10), which adds about 10% parameters and 0.26%
multiply-adds to ResNet-50 (§4).

``se_resnet50``, ``se_resnet101``  the authors' released SE-ResNets in the layout of timm's ``legacy_seresnet*``
                                   (ported from the Caffe models): ResNet v1 with the stride in a downsampling
                                   bottleneck's first 1x1 conv, a 3x3/2 max pool that rounds up, SE modules named
                                   ``se_module.fc1/fc2`` (1x1 convs with biases).
``se_resnext50_32x4d``             SE-ResNeXt-50 (32x4d) in timm's ResNet layout (``seresnext50_32x4d``): the
                                   stride in the grouped 3x3 conv (cardinality 32, 4 channels per group in the
                                   first stage), SE modules ``se.fc1/fc2``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TypedDict, Unpack

from convarch.blocks.squeeze_excite import REDUCTION
from convarch.nn.init import HE
from convarch.spec.layers import BN, FC, GAP, Conv, Dropout, Pool, Relu
from convarch.spec.nodes import NetSpec, Node, Seq
from convarch.spec.volume import Volume
from convarch.weights.catalog import Timm
from convarch.weights.sources import IMAGENET_MEAN, IMAGENET_STD
from convarch.zoo.info import Figure, Paper
from convarch.zoo.registry import Family
from convarch.zoo.resnet import resnet_stages, torchvision_keys

PAPER = Paper(
    "Hu, Shen, Albanie, Sun & Wu", 2017, "Squeeze-and-Excitation Networks", arxiv="1709.01507", venue="CVPR 2018"
)
ILSVRC = "ILSVRC 2017 winner in classification: 2.251% top-5 error, about 25% below the 2016 winner (abstract)"
TABLE2 = "Hu et al. 2017, Table 2, SENet columns (single 224x224 crop)"


class SENetOptions(TypedDict, total=False):
    dropout: float
    num_classes: int


def se_resnet(
    depth: int = 50,
    legacy: bool = True,
    groups: int = 1,
    widen: int = 1,
    reduction: int = REDUCTION,
    dropout: float = 0.0,
    num_classes: int = 1000,
) -> NetSpec:
    """An SE-ResNet (``groups=1``) or SE-ResNeXt of ``depth``, each bottleneck with an SE block of ratio r.

    ``legacy``: the released Caffe models' ResNet v1 (stride in the first 1x1, a max pool that rounds up);
    otherwise timm's ResNet (stride in the 3x3, a padded max pool).
    """
    pool = Pool(3, s=2, ceil=True) if legacy else Pool(3, s=2, p=1)
    stem: tuple[Node, ...] = (Conv(64, 7, s=2, bias=False), BN(), Relu(), pool)
    stages = resnet_stages(depth, stride_in="conv1" if legacy else "conv2", widen=widen, groups=groups, se=reduction)
    head = (GAP(), *((Dropout(dropout),) if dropout else ()), FC(num_classes))
    return NetSpec(Seq((*stem, *stages, *head)), Volume(3, 224, 224))


def legacy_keys(spec: NetSpec) -> dict[str, str]:
    """timm's ``legacy_seresnet*``: torchvision's ResNet names, with the stem under ``layer0``, SE modules
    ``se_module`` and the classifier ``last_linear``."""
    renamed = {"conv1": "layer0.conv1", "bn1": "layer0.bn1", "fc": "last_linear"}
    return {
        renamed.get(source, re.sub(r"\.se\.", ".se_module.", source)): ours
        for source, ours in torchvision_keys(spec).items()
    }


COUNTING = (
    "Table 2 gives {paper} GFLOPs (multiply-adds); counting CONV and FC multiply-adds, as everywhere here, "
    "gives 0.25 to 0.4% less. The paper counts more than CONV and FC layers: its columns for the plain networks "
    "exceed such counts by about as much (ResNet-50 3.86 against 3.858, ResNet-101 7.58 against 7.570, ResNeXt-50 4.24 "
    "against 4.230), and §4 puts the SE blocks at 0.26% of ResNet-50's cost (about 10M multiply-adds) where "
    "their FC layers take 2.5M; the squeeze's pooling and the scaling (C x H x W each) make up the rest."
)
NO_DROPOUT = (
    "No dropout before the classifier, as in the released SE-ResNets and SE-ResNeXts; timm trains its "
    "legacy_seresnet* with dropout 0.2 (dropout=0.2 gives it)."
)
LEGACY = (
    "Layout of timm's legacy_seresnet* (the released Caffe nets as Cadene's pretrainedmodels ports them): "
    "ResNet v1, the stride of a downsampling bottleneck in its first 1x1 conv, and a 3x3/2 max pool without "
    "padding that rounds up (56x56 at 224x224, as a padded one gives)."
)
RESNEXT = (
    "ResNeXt-50 (32x4d) with SE blocks in timm's ResNet layout (seresnext50_32x4d): the stride of a "
    "downsampling bottleneck in its grouped 3x3 conv, 32 groups of 4 channels in the first stage (Xie et al. "
    "2017), a padded 3x3/2 max pool."
)

SENET = Family("senet", PAPER, ilsvrc=ILSVRC, init=HE, key_maps={"timm": legacy_keys}, deviations=(LEGACY, NO_DROPOUT))
SE_RESNEXT = dataclasses.replace(SENET, key_maps={"timm": torchvision_keys}, deviations=(RESNEXT, NO_DROPOUT))


def legacy_weights(depth: int, file: str) -> Timm:
    """The authors' Caffe weights, ported by Cadene's pretrainedmodels; timm serves them from a release."""
    url = f"https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/{file}"
    note = "The authors' released Caffe weights, as Cadene's pretrainedmodels ported them."
    return Timm(f"legacy_seresnet{depth}.in1k", 224, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD, note, url=url)


def table2(gflops: float, top1_error: float, top5_error: float, **figures: Figure) -> dict:
    """Table 2's SENet columns: single-crop errors (as accuracies) and GFLOPs, with the note on counting."""
    return {
        "top1": Figure(round(100 - top1_error, 2), f"{TABLE2}: top-1 error {top1_error}%", 0.01, "%"),
        "top5": Figure(round(100 - top5_error, 2), f"{TABLE2}: top-5 error {top5_error}%", 0.01, "%"),
        "notes": (COUNTING.format(paper=gflops),),
        "figures": {"table2_gflops": Figure(gflops, TABLE2, 0.01, "GMACs"), **figures},
    }


# §4: "SE-ResNet-50 introduces ~2.5 million additional parameters beyond the ~25 million parameters required
# by ResNet-50" (r = 16); with SE blocks on ResNet v1, the network it is compared with.
SE_PARAMS = Figure(2_500_000, "Hu et al. 2017 §4, parameters SE blocks add to ResNet-50", 100_000)


@SENET.model(
    **table2(3.87, 23.29, 6.62, se_params=SE_PARAMS),
    upstream={"timm": "legacy_seresnet50"},
    weights=legacy_weights(50, "se_resnet50-ce0d4300.pth"),
)
def se_resnet50(**options: Unpack[SENetOptions]) -> NetSpec:
    return se_resnet(50, **options)


@SENET.model(
    **table2(7.60, 22.38, 6.07),
    upstream={"timm": "legacy_seresnet101"},
    weights=legacy_weights(101, "se_resnet101-7e38fcc6.pth"),
)
def se_resnet101(**options: Unpack[SENetOptions]) -> NetSpec:
    return se_resnet(101, **options)


@SE_RESNEXT.model(
    **table2(4.25, 21.10, 5.49),
    upstream={"timm": "seresnext50_32x4d"},
    weights=Timm("seresnext50_32x4d.racm_in1k", 224, 0.875, "bicubic", IMAGENET_MEAN, IMAGENET_STD,
                 "timm's own training recipe ('racm')."),
)  # fmt: skip
def se_resnext50_32x4d(**options: Unpack[SENetOptions]) -> NetSpec:
    return se_resnet(50, legacy=False, groups=32, widen=2, **options)
