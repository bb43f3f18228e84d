"""Residual blocks: ``RES`` (the basic block) and ``BOTTLENECK`` (He et al. 2015, arXiv 1512.03385, Fig. 5).

Each block is a ``Residual`` node written with primitives. It always carries a shortcut spec, and the walk
uses it only where the body changes the volume (a stride or a new width, §3.3), so a block never needs to
know its input channels: ``BOTTLENECK(64)`` opens ResNet-50's first stage with a projection and continues
it with identities.

Options (keywords, so the plain names stay the common layouts):

* ``s``: the block's stride; the first block of a stage downsamples with ``s=2``.
* ``stride_in``: the conv that carries the stride. The paper puts it in the first conv of the block,
  the 1x1 of a bottleneck (``stride_in=conv1``, ResNet v1). torchvision's ResNet "v1.5" moves it to the
  3x3 (``conv2``, the BOTTLENECK default), which then sees every pixel instead of one in four.
* ``preact``: full pre-activation (He et al. 2016, arXiv 1603.05027, Fig. 4e): BN-ReLU before every
  conv and nothing after the addition. The first BN-ReLU is the residual's ``pre``: it feeds the
  projection but not the identity, which carries the raw input (§3, Fig. 5; timm's resnetv2 does the same).
* ``shortcut``: ``projection`` (option B, §3.3: a 1x1 conv with the block's stride, plus BN when the
  block is post-activated) or ``zeropad`` (option A: subsample and zero-pad new channels, no parameters;
  the CIFAR nets of §4.2).
* ``eps``: the batch-norm epsilon.
* ``RES(dropout=)``: dropout between the two 3x3 convs (Wide ResNets, Zagoruyko & Komodakis 2016 §2.4).
* ``BOTTLENECK(widen=)``: the inner width is ``width x widen`` and the output stays ``4 x width``
  (torchvision's wide_resnet50_2 and wide_resnet101_2 use ``widen=2``).
* ``BOTTLENECK(groups=)``: the 3x3 conv is grouped, ResNeXt's cardinality (Xie et al. 2017 §3.3, Fig. 3c):
  ResNeXt-50 (32x4d) is ``BOTTLENECK(width, widen=2, groups=32)``, 32 groups of 4 channels in its first stage.
* ``se``: a squeeze-and-excitation gate with reduction ratio ``se`` (``BOTTLENECK(64, se=16)``) at the end
  of the residual branch, before the addition (Hu et al. 2017 Fig. 3); its modules are ``body.se.fc1`` and
  ``body.se.fc2``. 0, the default, leaves it out.
"""

from __future__ import annotations

from dataclasses import replace

from convarch.blocks.registry import block
from convarch.blocks.squeeze_excite import squeeze_excite
from convarch.errors import ConfigError
from convarch.spec.layers import BN, Conv, Dropout, Relu, ZeroPad
from convarch.spec.nodes import Node, Residual, Seq

EXPANSION = 4  # a bottleneck's output is four times its width (§4.1, Table 1)
STRIDE_PLACES = ("conv1", "conv2")
SHORTCUTS = ("projection", "zeropad")


def _choice(block_name: str, option: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{block_name}: {option} must be one of {', '.join(allowed)}, got {value!r}")


def _strides(block_name: str, s: int, stride_in: str) -> tuple[int, int]:
    """The strides of the block's first and second conv."""
    _choice(block_name, "stride_in", stride_in, STRIDE_PLACES)
    return (s, 1) if stride_in == "conv1" else (1, s)


def _body(convs: list[Conv], preact: bool, eps: float, dropout: float = 0.0, se: int = 0) -> Seq:
    """The convs joined by BN-ReLU; a post-activated body also ends in BN (its ReLU comes after the add).

    ``se``: a squeeze-and-excitation gate closes the branch, before the addition (Hu et al. 2017 Fig. 3).
    """
    items: list[Node] = [convs[0]]
    for i, conv in enumerate(convs[1:], 2):
        items += [BN(eps=eps), Relu()]
        if dropout and i == len(convs):
            items.append(Dropout(dropout))
        items.append(conv)
    if not preact:
        items.append(BN(eps=eps))
    if not isinstance(se, int) or isinstance(se, bool) or se < 0:
        raise ConfigError(f"se must be a reduction ratio (a whole number, 0 for none), got {se!r}")
    if se:
        items.append(replace(squeeze_excite(se), label="se"))
    return Seq(tuple(items))


def _residual(block_name: str, body: Seq, out: int, s: int, preact: bool, shortcut: str, eps: float) -> Residual:
    _choice(block_name, "shortcut", shortcut, SHORTCUTS)
    if shortcut == "zeropad":
        skip: Node = ZeroPad(out, s=s)
    else:
        projection = Conv(out, 1, s=s, bias=False)
        skip = projection if preact else Seq((projection, BN(eps=eps)))
    if preact:
        return Residual(body, shortcut=skip, pre=Seq((BN(eps=eps), Relu())))
    return Residual(body, shortcut=skip, post=Relu())


@block("RES")
def res(
    width: int,
    s: int = 1,
    stride_in: str = "conv1",
    preact: bool = False,
    shortcut: str = "projection",
    dropout: float = 0.0,
    eps: float = 1e-5,
    se: int = 0,
) -> Residual:
    """The basic block: two 3x3 convs of ``width`` filters (ResNet-18/34, the CIFAR nets, Wide ResNets)."""
    s1, s2 = _strides("RES", s, stride_in)
    convs = [Conv(width, 3, s=s1, bias=False), Conv(width, 3, s=s2, bias=False)]
    return _residual("RES", _body(convs, preact, eps, dropout, se), width, s, preact, shortcut, eps)


@block("BOTTLENECK")
def bottleneck(
    width: int,
    s: int = 1,
    stride_in: str = "conv2",
    widen: int = 1,
    preact: bool = False,
    shortcut: str = "projection",
    eps: float = 1e-5,
    se: int = 0,
    groups: int = 1,
) -> Residual:
    """1x1 reduce to ``width``, 3x3, 1x1 expand to ``4 x width`` (ResNet-50/101/152, §4.1 "Deeper Bottleneck")."""
    for name, value in (("widen", widen), ("groups", groups)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"BOTTLENECK: {name} must be a positive integer, got {value!r}")
    s1, s2 = _strides("BOTTLENECK", s, stride_in)
    inner, out = width * widen, EXPANSION * width
    middle = Conv(inner, 3, s=s2, groups=groups, bias=False)
    convs = [Conv(inner, 1, s=s1, bias=False), middle, Conv(out, 1, bias=False)]
    return _residual("BOTTLENECK", _body(convs, preact, eps, se=se), out, s, preact, shortcut, eps)
