"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998), as the paper built it and as it is read today.

``lenet5``        the modern reading: ReLU, 2x2 max-pool, a plain 10-way FC output. 61,706 parameters.
``lenet5_paper``  the paper's network (§II.B): scaled-tanh squashing, trainable subsampling (S2, S4),
                  the C3 connection table (Table I), C5 as a 5x5 convolution, F6 of 84 units, and an
                  Euclidean RBF output whose prototypes are fixed. 60,000 trainable parameters.

Both take a 32x32 image: the paper pads the 28x28 MNIST digits "so that potential distinctive features
such as stroke end-points or corner can appear in the center of the receptive field" (§II.B).
"""

from __future__ import annotations

from convarch.spec.layers import FC, RBF, Conv, Pool, Relu, Subsample, Tanh
from convarch.spec.nodes import NetSpec, Seq
from convarch.spec.volume import Volume
from convarch.zoo.info import Figure, Paper
from convarch.zoo.registry import Family

PAPER = Paper(
    "LeCun, Bottou, Bengio & Haffner",
    1998,
    "Gradient-Based Learning Applied to Document Recognition",
    venue="Proceedings of the IEEE 86(11)",
)
SECTION = "LeCun et al. 1998 §II.B"


LENET = Family("lenet", PAPER, input_size=(1, 32, 32), num_classes=10)


@LENET.model(
    deviations=(
        "ReLU instead of the scaled tanh, 2x2 max-pooling instead of trainable subsampling.",
        "C3 is fully connected to S2 (no connection table); C5 is written as FC120, which is the "
        "same layer on a 5x5 input.",
        "A 10-way linear output trained with cross-entropy instead of the RBF units.",
    ),
)
def lenet5(num_classes: int = 10) -> NetSpec:
    return NetSpec(
        Seq((
            Conv(6, 5, p=0), Relu(), Pool(2),
            Conv(16, 5, p=0), Relu(), Pool(2),
            FC(120), Relu(), FC(84), Relu(), FC(num_classes),
        )),
        Volume(1, 32, 32),
    )  # fmt: skip


@LENET.model(
    params=Figure(60_000, f"{SECTION}: '60,000 trainable free parameters'"),
    deviations=(
        "The RBF prototypes are fixed +-1 codes from a seeded generator: the paper's hand-drawn "
        "7x12 bitmaps (Fig. 3) are not published as data. They stay non-trainable, as in the paper.",
        "The RBF outputs are returned negated, as logits: cross-entropy on them is the paper's "
        "loss (eq. 9) without its constant 'rubbish class' term.",
    ),
    notes=(
        "MACs count the paper's connections: C3's table gives 150,000 multiply-adds, and each "
        "subsampling output 4. PyTorch runs C3 as a dense 5x5 conv with zeros where the table has no "
        "connection, so counters that trace operators (fvcore) report 240,000 for C3 and nothing for "
        "the subsampling and RBF layers: 415,680 in all against our 332,824.",
    ),
    figures={
        # §II.B, layer by layer: trainable parameters and connections. The total connection
        # count, 340,908, includes the 840 of the RBF layer.
        "layers": {
            "C1": {"params": 156, "connections": 122_304},
            "S2": {"params": 12, "connections": 5_880},
            "C3": {"params": 1_516, "connections": 151_600},
            "S4": {"params": 32, "connections": 2_000},
            "C5": {"params": 48_120, "connections": 48_120},
            "F6": {"params": 10_164, "connections": 10_164},
        },
        "connections": Figure(340_908, f"{SECTION}: '340,908 connections'"),
    },
)
def lenet5_paper(num_classes: int = 10) -> NetSpec:
    # C5 is a convolution: "Each unit is connected to a 5x5 neighborhood on all 16 of S4's feature maps.
    # Here, because the size of S4 is also 5x5, the size of C5's feature maps is 1x1" (§II.B).
    return NetSpec(
        Seq((
            Conv(6, 5, p=0), Tanh(), Subsample(2), Tanh(),                 # C1, S2
            Conv(16, 5, p=0, table="lenet5_c3"), Tanh(), Subsample(2), Tanh(),  # C3, S4
            Conv(120, 5, p=0), Tanh(),                                     # C5
            FC(84), Tanh(),                                                # F6
            RBF(num_classes),                                              # output
        )),
        Volume(1, 32, 32),
    )  # fmt: skip
