"""Hand-built specs that use every combinator, so the analysers are tested on all of them.

The deep families (ResNet, GoogLeNet, DenseNet, Inception-v4) use these combinators too, and the
registry-generated tests cover them as they land; these specs cover the combinators before that.
"""

from __future__ import annotations

from convarch.spec.layers import BN, FC, GAP, LRN, Conv, Dropout, Pool, Relu, Softmax, ZeroPad
from convarch.spec.nodes import Aux, Dense, NetSpec, Parallel, Repeat, Residual, Seq
from convarch.spec.volume import Volume


def bottleneck(width: int, stride: int) -> Residual:
    """He et al. 2015 Fig. 5 (right): 1x1 reduce, 3x3, 1x1 expand; a projection when the volume changes."""
    out = 4 * width
    body = Seq((Conv(width, 1, bias=False), BN(), Relu(), Conv(width, 3, s=stride, bias=False), BN(), Relu(),
                Conv(out, 1, bias=False), BN()))  # fmt: skip
    return Residual(body, shortcut=Seq((Conv(out, 1, s=stride, bias=False), BN())), post=Relu())


def resnet_like(blocks: tuple[int, ...] = (3, 8, 36, 3), size: int = 224) -> NetSpec:
    """ResNet-152's shape (He et al. 2015 Table 1), for work that needs a deep net before the family lands."""
    items: list = [Conv(64, 7, s=2, p=3, bias=False), BN(), Relu(), Pool(3, s=2, p=1)]
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        units = [bottleneck(width, 1 if stage == 0 else 2)] + [bottleneck(width, 1) for _ in range(count - 1)]
        items.append(Seq(tuple(units), label=f"layer{stage + 1}"))
    return NetSpec(Seq((*items, GAP(), FC(1000))), Volume(3, size, size))


def every_combinator(size: int = 64) -> NetSpec:
    """A small network with repeats, branches, every residual form, dense growth and an auxiliary head."""
    inception = Parallel((
        Seq((Conv(16, 1), Relu())),
        Seq((Conv(8, 1), Relu(), Conv(16, 3), Relu())),
        Seq((Pool(3, s=1, p=1), Conv(8, 1), Relu())),
    ))  # fmt: skip
    pre_activation = Residual(Seq((Conv(40, 3), BN(), Relu(), Conv(40, 3))), pre=Seq((BN(), Relu())), scale=0.2)
    option_a = Residual(Seq((Conv(48, 3, s=2), BN(), Relu(), Conv(48, 3), BN())), shortcut=ZeroPad(48, s=2),
                        post=Relu())  # fmt: skip
    aux = Aux(Seq((Pool(out=2, type="avg"), Conv(16, 1), Relu(), FC(32), Relu(), Dropout(0.7), FC(10))))
    features = (
        Conv(24, 5, s=2, p=2), Relu(), LRN(size=5), Pool(3, s=2, ceil=True),
        Repeat(Seq((Conv(24, 3), BN(), Relu())), 2, label="stack"),
        inception, aux, Residual(Seq((Conv(40, 3), BN(), Relu()))), pre_activation,
        Dense(Seq((BN(), Relu(), Conv(8, 3))), 3), Conv(40, 1), option_a,
    )  # fmt: skip
    head = (GAP(), Dropout(0.2), FC(10), Softmax())
    return NetSpec(Seq((*features, *head)), Volume(3, size, size))
