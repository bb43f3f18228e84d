"""AlexNet (Krizhevsky, Sutskever & Hinton 2012): the ILSVRC 2012 winner that made ConvNets popular.

``alexnet``        torchvision's layout, which follows Krizhevsky's "One weird trick" (2014) single-tower
                   version: 64-192-384-256-256 filters, no LRN, an adaptive 6x6 average pool before FC6.
``alexnet_paper``  the 2012 network: 96-256-384-384-256 filters on two GPUs, written as grouped convs
                   (groups=2) exactly where the paper cuts the connections between the towers (§3.5,
                   Fig. 2), LRN after the first two conv layers (§3.3), overlapping 3x3/2 max pooling
                   (§3.4) and dropout in the first two FC layers (§4.2).
"""

from __future__ import annotations

from convarch.spec.layers import FC, LRN, Conv, Dropout, Pool, Relu
from convarch.spec.nodes import NetSpec, Seq
from convarch.spec.volume import Volume
from convarch.weights.catalog import Torchvision
from convarch.zoo.info import Figure, Paper, torchvision_figures
from convarch.zoo.keymaps import fc_chain, feature_names, sequential
from convarch.zoo.registry import Family

PAPER = Paper(
    "Krizhevsky, Sutskever & Hinton",
    2012,
    "ImageNet Classification with Deep Convolutional Neural Networks",
    venue="NIPS 2012 (Advances in Neural Information Processing Systems 25)",
)
# §3.3: k=2, n=5, alpha=1e-4, beta=0.75, with alpha multiplying the plain sum of squares. PyTorch's LRN
# divides alpha by n, so the paper's alpha is 5 x 1e-4 here.
PAPER_LRN = LRN(size=5, alpha=5e-4, beta=0.75, k=2.0)
ILSVRC = "ILSVRC 2012 winner: 15.3% top-5 test error against 26.2% for the second-best entry (abstract)"


def _head(dropout: float, num_classes: int) -> tuple:
    return (FC(4096), Relu(), Dropout(dropout), FC(4096), Relu(), Dropout(dropout), FC(num_classes))


def torchvision_keys(spec: NetSpec) -> dict[str, str]:
    """torchvision: ``features.i`` aligns with our features; the Linears are ``classifier.1/4/6``."""
    table = sequential("features", "features", feature_names(spec))
    table.update(zip(("classifier.1", "classifier.4", "classifier.6"), fc_chain(spec), strict=True))
    return table


ALEXNET = Family("alexnet", PAPER, ilsvrc=ILSVRC, key_maps={"torchvision": torchvision_keys})


@ALEXNET.model(
    **torchvision_figures(61_100_840, 0.714, 56.522, 79.066),
    deviations=(
        "torchvision's single-tower layout from Krizhevsky 2014 ('One weird trick'): 64, 192, 384, "
        "256, 256 filters instead of 96, 256, 384, 384, 256, and no grouped convolutions.",
        "No local response normalisation.",
        "conv1 uses padding 2 so that a 224x224 input works out: (224 - 11 + 4)/4 + 1 = 55.",
        "An adaptive 6x6 average pool before FC6 lets other input sizes reach the classifier.",
    ),
    weights=Torchvision("alexnet", "AlexNet_Weights", "alexnet-owt-7be5be79.pth"),
)
def alexnet(num_classes: int = 1000, dropout: float = 0.5) -> NetSpec:
    return NetSpec(
        Seq((
            Conv(64, 11, s=4, p=2), Relu(), Pool(3, s=2),
            Conv(192, 5), Relu(), Pool(3, s=2),
            Conv(384, 3), Relu(), Conv(256, 3), Relu(), Conv(256, 3), Relu(), Pool(3, s=2),
            Pool(out=6, type="avg"), Dropout(dropout),
            FC(4096), Relu(), Dropout(dropout), FC(4096), Relu(), FC(num_classes),
        )),
        Volume(3, 224, 224),
    )  # fmt: skip


@ALEXNET.model(
    key_maps={},
    input_size=(3, 227, 227),
    params=Figure(60_000_000, "Krizhevsky et al. 2012, abstract: '60 million parameters'", 2_000_000),
    notes=(
        "The paper says 224x224x3 inputs (§3.5), but an 11x11 stride-4 conv then gives "
        "(224 - 11)/4 + 1 = 54.25: the arithmetic only works out for 227x227, which gives the "
        "paper's 55x55x96 conv1 volume. We use 227, as Caffe's reference AlexNet does.",
        "The two GPU towers are grouped convolutions (groups=2) in conv2, conv4 and conv5; conv1 is "
        "ungrouped because both towers see the whole image, and conv3 and the FC layers cross towers.",
    ),
)
def alexnet_paper(num_classes: int = 1000, dropout: float = 0.5) -> NetSpec:
    lrn = PAPER_LRN
    return NetSpec(
        Seq((
            Conv(96, 11, s=4, p=0), Relu(), lrn, Pool(3, s=2),
            Conv(256, 5, groups=2), Relu(), lrn, Pool(3, s=2),
            Conv(384, 3), Relu(),  # §3.5: "kernels of the third layer take input from all kernel maps"
            Conv(384, 3, groups=2), Relu(),
            Conv(256, 3, groups=2), Relu(), Pool(3, s=2),
            *_head(dropout, num_classes),
        )),
        Volume(3, 227, 227),
    )  # fmt: skip
