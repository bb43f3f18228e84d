"""ZFNet (Zeiler & Fergus 2013): AlexNet re-tuned by looking at what its layers learn.

The visualisations showed AlexNet's 11x11/4 first layer aliasing and leaving dead filters, so ZFNet uses
a 7x7/2 first layer (§4.1), a stride-2 second conv (Fig. 3), and wider middle layers: 384, 384, 256 filters
(Fig. 3). Each of the first two layers is followed by ReLU, 3x3/2 max pooling and contrast normalisation
across feature maps (§2, §3).
"""

from __future__ import annotations

from convarch.spec.layers import FC, Conv, Dropout, Pool, Relu
from convarch.spec.nodes import NetSpec, Seq
from convarch.spec.volume import Volume
from convarch.zoo.alexnet import PAPER_LRN
from convarch.zoo.info import Paper
from convarch.zoo.registry import Family

PAPER = Paper(
    "Zeiler & Fergus",
    2013,
    "Visualizing and Understanding Convolutional Networks",
    arxiv="1311.2901",
    venue="ECCV 2014",
)


ILSVRC = (
    "ILSVRC 2013 winner (CS231n): the winning entry, Clarifai, was Zeiler's, at 11.7% top-5 error; the paper's "
    "own best, an ensemble of 6 convnets, has 14.8% test top-5 (Table 2)"
)
ZFNET = Family("zfnet", PAPER, ilsvrc=ILSVRC, input_size=(3, 225, 225))


@ZFNET.model(
    notes=(
        "Fig. 3 shows a 224x224 input and a 110x110 conv1 volume, but no padding makes a 7x7 "
        "stride-2 conv do that: (224 - 7 + 2P)/2 + 1 is never a whole number. A 225x225 input "
        "with no padding gives exactly 110, and every later volume of Fig. 3 (55, 26, 13, 13, "
        "13, 6) follows, so that is what we build.",
        "The paper does not give LRN constants; we use AlexNet's (§3.3 of Krizhevsky et al. 2012).",
    ),
)
def zfnet(num_classes: int = 1000, dropout: float = 0.5) -> NetSpec:
    # Fig. 3's pools take 110 -> 55 and 26 -> 13, which needs Caffe's round-up: ceil=True, as intended.
    return NetSpec(
        Seq((
            Conv(96, 7, s=2, p=0), Relu(), Pool(3, s=2, ceil=True), PAPER_LRN,
            Conv(256, 5, s=2, p=0), Relu(), Pool(3, s=2, ceil=True), PAPER_LRN,
            Conv(384, 3), Relu(), Conv(384, 3), Relu(), Conv(256, 3), Relu(), Pool(3, s=2),
            FC(4096), Relu(), Dropout(dropout), FC(4096), Relu(), Dropout(dropout), FC(num_classes),
        )),
        Volume(3, 225, 225),
    )  # fmt: skip
