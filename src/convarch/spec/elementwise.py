"""Elementwise and shape primitives: RELU, TANH, BN, LRN, DROPOUT, FLATTEN, SOFTMAX.

None of them counts multiply-adds (torchvision's ``_ops`` convention); BN is the only one with parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from convarch.errors import ConfigError
from convarch.nn import layers as L
from convarch.spec.layer_base import Layer, need_spatial, positive_int
from convarch.spec.volume import Volume


@dataclass(frozen=True)
class Relu(Layer):
    kind: ClassVar[str] = "RELU"

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.ReLU(inplace=inplace)


@dataclass(frozen=True)
class Tanh(Layer):
    """``a * tanh(s * x)``; the defaults are LeNet-5's A = 1.7159, S = 2/3 (LeCun et al. 1998, App. A)."""

    kind: ClassVar[str] = "TANH"
    a: float = 1.7159
    s: float = 2 / 3

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return L.ScaledTanh(self.a, self.s)


@dataclass(frozen=True)
class BN(Layer):
    """Batch normalisation (Ioffe & Szegedy 2015): a scale and a shift per channel."""

    kind: ClassVar[str] = "BN"
    eps: float = 1e-5
    momentum: float = 0.1

    def params(self, v: Volume) -> int:
        return 2 * v.c

    def weights(self, v: Volume) -> int:
        return v.c  # the scale gamma; the shift beta is a bias

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        norm = nn.BatchNorm1d if v.flat else nn.BatchNorm2d
        return norm(v.c, eps=self.eps, momentum=self.momentum)


@dataclass(frozen=True)
class LRN(Layer):
    """Local response normalisation across ``size`` neighbouring channels.

    Arguments follow PyTorch and Caffe, where ``alpha`` is divided by ``size``. Krizhevsky et al. 2012
    §3.3 write the sum without that division (alpha = 1e-4), which is ``alpha=5e-4`` here.
    """

    kind: ClassVar[str] = "LRN"
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    def __post_init__(self) -> None:
        positive_int(self.size, "LRN size")

    def output(self, v: Volume) -> Volume:
        need_spatial(self, v)
        return v

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)


@dataclass(frozen=True)
class Dropout(Layer):
    kind: ClassVar[str] = "DROPOUT"
    positional: ClassVar[tuple[str, ...]] = ("p",)
    p: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.p) < 1.0:
            raise ConfigError(f"DROPOUT probability must be in [0, 1), got {self.p!r}")
        object.__setattr__(self, "p", float(self.p))

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.Dropout(self.p)


@dataclass(frozen=True)
class Flatten(Layer):
    kind: ClassVar[str] = "FLATTEN"

    def output(self, v: Volume) -> Volume:
        return Volume(v.numel, 1, 1, flat=True)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.Flatten(1)


@dataclass(frozen=True)
class Softmax(Layer):
    kind: ClassVar[str] = "SOFTMAX"

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.Softmax(dim=1)
