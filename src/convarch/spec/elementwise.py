"""Elementwise and shape primitives: RELU, RELU6, SIGMOID, TANH, BN, LRN, DROPOUT, FLATTEN, SOFTMAX.

None of them counts multiply-adds (torchvision's ``_ops`` convention); BN is the only one with parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from convarch.errors import ConfigError
from convarch.nn import layers as L
from convarch.spec.layer_base import Layer, need_spatial, positive_int
from convarch.spec.volume import Volume


@dataclass(frozen=True)
class Relu(Layer):
    kind: ClassVar[str] = "RELU"
    allocates: ClassVar[bool] = False  # built in place wherever it owns its input
    on_scores: ClassVar[str] = "clips every negative class score to 0, so a class scored at or below 0 gets no gradient"
    torch_types: ClassVar[tuple[type, ...]] = (nn.ReLU,)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.ReLU(inplace=inplace)


@dataclass(frozen=True)
class Relu6(Layer):
    """``min(max(x, 0), 6)``: MobileNetV2's activation, "robust when used with low-precision computation"
    (Sandler et al. 2018 §3.4)."""

    kind: ClassVar[str] = "RELU6"
    allocates: ClassVar[bool] = False
    on_scores: ClassVar[str] = (
        "clips every class score to [0, 6], so a class scored outside that range gets no gradient and no class "
        "can lead another by more than 6"
    )
    torch_types: ClassVar[tuple[type, ...]] = (nn.ReLU6,)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.ReLU6(inplace=inplace)


@dataclass(frozen=True)
class Sigmoid(Layer):
    """The logistic function; the gate of squeeze-and-excitation (Hu et al. 2017 eq. 3)."""

    kind: ClassVar[str] = "SIGMOID"
    on_scores: ClassVar[str] = (
        "squashes every class score into (0, 1), so the softmax over them can never be confident (a multi-label "
        "head applies the sigmoid in its loss instead)"
    )
    torch_types: ClassVar[tuple[type, ...]] = (nn.Sigmoid,)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.Sigmoid()


@dataclass(frozen=True)
class Tanh(Layer):
    """``a * tanh(s * x)``; the defaults are LeNet-5's A = 1.7159, S = 2/3 (LeCun et al. 1998, App. A)."""

    kind: ClassVar[str] = "TANH"
    on_scores: ClassVar[str] = "bounds every class score to ±a, so the softmax over them can never be confident"
    torch_types: ClassVar[tuple[type, ...]] = (L.ScaledTanh, nn.Tanh)
    a: float = 1.7159
    s: float = 2 / 3

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        return cls(module.a, module.s) if isinstance(module, L.ScaledTanh) else cls(1.0, 1.0)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return L.ScaledTanh(self.a, self.s)


@dataclass(frozen=True)
class BN(Layer):
    """Batch normalisation (Ioffe & Szegedy 2015): a scale and a shift per channel."""

    kind: ClassVar[str] = "BN"
    affine: ClassVar[bool] = True  # a scale and a shift per channel (in eval)
    overwritable: ClassVar[bool] = True  # its backward uses its input and saved statistics
    torch_types: ClassVar[tuple[type, ...]] = (nn.BatchNorm1d, nn.BatchNorm2d)
    eps: float = 1e-5
    momentum: float = 0.1

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        return cls(eps=module.eps, momentum=module.momentum)

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
    torch_types: ClassVar[tuple[type, ...]] = (nn.LocalResponseNorm,)
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    def __post_init__(self) -> None:
        positive_int(self.size, "LRN size")

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        return cls(module.size, module.alpha, module.beta, module.k)

    def output(self, v: Volume) -> Volume:
        need_spatial(self, v)
        return v

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)


@dataclass(frozen=True)
class Dropout(Layer):
    kind: ClassVar[str] = "DROPOUT"
    affine: ClassVar[bool] = True  # a scale
    positional: ClassVar[tuple[str, ...]] = ("p",)
    allocates: ClassVar[bool] = False  # the identity in eval mode
    hands_on_input: ClassVar[bool] = True
    torch_types: ClassVar[tuple[type, ...]] = (nn.modules.dropout._DropoutNd,)
    p: float = 0.5

    @classmethod
    def from_module(cls, module: Any, v: Volume) -> Layer:
        return cls(module.p)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.p) < 1.0:
            raise ConfigError(f"DROPOUT probability must be in [0, 1), got {self.p!r}")
        object.__setattr__(self, "p", float(self.p))

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.Dropout(self.p)


@dataclass(frozen=True)
class Flatten(Layer):
    kind: ClassVar[str] = "FLATTEN"
    affine: ClassVar[bool] = True
    allocates: ClassVar[bool] = False  # a view
    hands_on_input: ClassVar[bool] = True
    torch_types: ClassVar[tuple[type, ...]] = (nn.Flatten,)

    def starts_head(self) -> bool:
        return True

    def output(self, v: Volume) -> Volume:
        return Volume(v.numel, 1, 1, flat=True)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.Flatten(1)


@dataclass(frozen=True)
class Softmax(Layer):
    kind: ClassVar[str] = "SOFTMAX"
    torch_types: ClassVar[tuple[type, ...]] = (nn.Softmax,)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return nn.Softmax(dim=1)
