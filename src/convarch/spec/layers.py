"""The primitives: the only nodes that carry formulas.

Each primitive knows four things for a given input volume: its output volume, its parameter count (and
weights, i.e. parameters without biases), its multiply-adds, and how to build its torch module. It also
prints itself in pattern notation (``CONV3-64``, ``POOL3(s=2)``). Field names are the pattern's argument
names, which are the seed's letters: ``f`` filter size F, ``s`` stride S, ``p`` padding P.

MACs follow torchvision's ``_ops`` convention: only the weighted layers (CONV, FC, and LeNet-5's
trainable subsampling and RBF output) count; BN, pooling and activations report 0.

Every primitive defined here or in ``spec.elementwise`` registers itself in ``PRIMITIVES`` by its pattern
token (``spec.layer_base``). A new primitive is one class in one of these files, plus its test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from torch import nn

from convarch.errors import ConfigError, SizingError
from convarch.nn import layers as L
from convarch.spec.elementwise import BN, LRN, Dropout, Flatten, Relu, Relu6, Sigmoid, Softmax, Tanh
from convarch.spec.layer_base import (
    PRIMITIVES,
    Layer,
    Pair,
    format_value,
    need_spatial,
    pair,
    positive_int,
    window_sizes,
)
from convarch.spec.volume import Volume, WindowSize, window_output

# LeNet-5 C3 (LeCun et al. 1998, Table I): the S2 maps (0-5) each C3 map (0-15) is connected to.
LENET5_C3 = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip
CONNECTION_TABLES: dict[str, tuple[tuple[int, ...], ...]] = {"lenet5_c3": LENET5_C3}


# ---- weighted layers --------------------------------------------------------------------------------


DEPTHWISE = "depthwise"


@dataclass(frozen=True)
class Conv(Layer):
    """CONV: ``out`` filters of size ``f`` (F), stride ``s`` (S), zero padding ``p`` (P, default (F-1)/2).

    ``groups`` splits the input and output channels into that many independent convolutions (AlexNet's
    two GPUs, ResNeXt's cardinality). ``groups=depthwise`` gives each input channel its own filter:
    groups = width = the input channels (MobileNets; Sandler et al. 2018 §3.1), a width no spec needs to
    know; ``DWCONV`` is its token.
    """

    kind: ClassVar[str] = "CONV"
    linear: ClassVar[bool] = True
    shorthand: ClassVar[tuple[str, ...]] = ("f", "out")
    positional: ClassVar[tuple[str, ...]] = ("out",)
    overwritable: ClassVar[bool] = True
    torch_types: ClassVar[tuple[type, ...]] = (nn.Conv2d, L.TableConv2d)
    out: int | None = None  # None: a template width, filled in by ``bind``
    f: Pair = (3, 3)
    s: Pair = (1, 1)
    p: Pair | None = None
    groups: int | str = 1  # a count, or "depthwise"
    bias: bool = True
    table: str | None = None  # a named connection table (LeNet-5 C3) instead of full connection
    # A width relative to the input: floor(ratio x input channels) filters instead of ``out``. DenseNet's
    # transition layers compress the m maps of a dense block to floor(theta m) (Huang et al. 2017 §3).
    ratio: float | None = None

    def __post_init__(self) -> None:
        f = pair(self.f, "CONV filter size F")
        object.__setattr__(self, "f", f)
        object.__setattr__(self, "s", pair(self.s, "CONV stride S"))
        p = ((f[0] - 1) // 2, (f[1] - 1) // 2) if self.p is None else pair(self.p, "CONV padding P", 0)
        object.__setattr__(self, "p", p)
        if self.out is not None and (not isinstance(self.out, int) or self.out < 1):
            raise ConfigError(f"CONV needs a positive number of filters, got {self.out!r}")
        if self.groups != DEPTHWISE and (not isinstance(self.groups, int) or isinstance(self.groups, bool)
                                         or self.groups < 1):  # fmt: skip
            raise ConfigError(f"CONV groups must be a positive integer or depthwise, got {self.groups!r}")
        if self.groups == DEPTHWISE and (self.ratio is not None or self.table is not None):
            raise ConfigError("a depthwise CONV takes its width from the input: no ratio or table")
        if self.ratio is not None:
            if isinstance(self.ratio, bool) or not isinstance(self.ratio, int | float) or not self.ratio > 0:
                raise ConfigError(f"CONV ratio must be a positive number, got {self.ratio!r}")
            if self.out is not None or self.table is not None:
                raise ConfigError("CONV takes a filter count or a ratio of the input channels, not both")
        if self.table is not None:
            if self.table not in CONNECTION_TABLES:
                known = ", ".join(sorted(CONNECTION_TABLES))
                raise ConfigError(f"unknown connection table {self.table!r}; known tables: {known}")
            if self.out not in (None, len(CONNECTION_TABLES[self.table])):
                raise ConfigError(
                    f"table {self.table} has {len(CONNECTION_TABLES[self.table])} output maps, "
                    f"but CONV asks for {self.out}"
                )

    def defaults(self) -> dict[str, Any]:
        return {**super().defaults(), "p": ((self.f[0] - 1) // 2, (self.f[1] - 1) // 2)}

    @property
    def connections(self) -> tuple[tuple[int, ...], ...] | None:
        return CONNECTION_TABLES[self.table] if self.table else None

    def unbound(self) -> bool:
        return self.out is None and self.ratio is None and self.groups != DEPTHWISE

    def resolved(self, v: Volume) -> Layer:
        if self.ratio is None and self.groups != DEPTHWISE and type(self) is Conv:
            return self
        values = {f.name: getattr(self, f.name) for f in fields(Conv)}
        return Conv(**{**values, "out": self.width(v), "ratio": None, "groups": self.group_count(v)})

    def width(self, v: Volume) -> int:
        """The number of filters on input ``v``: ``out``, ``floor(ratio x C)`` (at least 1), or C (depthwise)."""
        if self.ratio is not None:
            # The tolerance keeps an exact product exact: 1/16 x 256 must be 16, not 15.999... floored.
            return max(1, math.floor(self.ratio * v.c + 1e-9))
        return v.c if self.out is None else self.out

    def group_count(self, v: Volume) -> int:
        return v.c if self.groups == DEPTHWISE else self.groups  # type: ignore[return-value]

    def _fan_in_sum(self, v: Volume) -> int:
        """Sum over output maps of the input maps each one sees."""
        if self.connections:
            return sum(len(inputs) for inputs in self.connections)
        return self.width(v) * (v.c // self.group_count(v))

    def output(self, v: Volume) -> Volume:
        need_spatial(self, v)
        if self.unbound():
            raise SizingError("the filter count is a template width; bind the pattern first", layer="CONV")
        out = self.width(v)
        if self.connections and v.c != 1 + max(max(t) for t in self.connections):
            raise SizingError(
                f"connection table {self.table} expects {1 + max(max(t) for t in self.connections)} "
                f"input maps, but the input {v} has {v.c}",
                layer=self.text(),
                rule="channel-mismatch",
            )
        groups = self.group_count(v)
        if v.c % groups or out % groups:
            raise SizingError(
                f"groups={groups} must divide both the input channels ({v.c}) and the filters ({out}), but "
                f"{' and '.join(f'{n} / {groups} = {n / groups:g}' for n in (v.c, out) if n % groups)}; "
                "change groups or the channel counts",
                layer=self.text(),
                rule="channel-mismatch",
            )
        h, w = window_sizes(self, v)
        return Volume(out, h, w)

    def windows(self, v: Volume) -> tuple[WindowSize, ...]:
        return tuple(window_output(n, self.f[i], self.s[i], self.p[i]) for i, n in enumerate((v.h, v.w)))

    def params(self, v: Volume) -> int:
        return self.weights(v) + (self.width(v) if self.bias else 0)

    def weights(self, v: Volume) -> int:
        return self._fan_in_sum(v) * self.f[0] * self.f[1]

    def macs(self, v: Volume) -> int:
        o = self.output(v)
        return o.h * o.w * self.weights(v)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        if self.connections:
            return L.TableConv2d(v.c, self.connections, self.f, bias=self.bias)
        return nn.Conv2d(v.c, self.width(v), self.f, self.s, self.p, groups=self.group_count(v), bias=self.bias)

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        bias = module.bias is not None
        if isinstance(module, L.TableConv2d):
            # The table is found by its shape: the index buffer holds no values on the meta device.
            kh, kw = module.kernel_size
            for name, table in CONNECTION_TABLES.items():
                if len(table) == module.out_channels and sum(map(len, table)) * kh * kw == module.weight.numel():
                    return cls(module.out_channels, module.kernel_size, p=0, bias=bias, table=name)
            raise ConfigError("a connection table convarch does not know")
        if module.dilation != (1, 1) or isinstance(module.padding, str) or module.padding_mode != "zeros":
            raise ConfigError("dilated, 'same'-padded or non-zero-padded convolutions have no pattern notation")
        return cls(module.out_channels, module.kernel_size, s=module.stride, p=module.padding,
                   groups=module.groups, bias=bias)  # fmt: skip

    @classmethod
    def module_macs(cls, module: nn.Module, x: Any, out: Any) -> int:
        return out.numel() // module.out_channels * module.weight.numel()


@dataclass(frozen=True)
class DWConv(Conv):
    """DWCONV: a depthwise convolution, ``CONV(groups=depthwise)`` written short (``DWCONV3(s=2)``).

    It prints and parses as DWCONV, and is a CONV everywhere else (rows, module names, the checker)."""

    token: ClassVar[str] = "DWCONV"
    shorthand: ClassVar[tuple[str, ...]] = ("f",)
    positional: ClassVar[tuple[str, ...]] = ()
    torch_types: ClassVar[tuple[type, ...]] = ()  # an nn.Conv2d is recognised as a CONV
    groups: int | str = DEPTHWISE


@dataclass(frozen=True)
class Units(Layer):
    """The base of FC and RBF: ``out`` units, each seeing the whole input volume; a vector out."""

    shorthand: ClassVar[tuple[str, ...]] = ("out",)
    positional: ClassVar[tuple[str, ...]] = ("out",)
    classifier: ClassVar[bool] = True
    out: int | None = None  # None: a template width (hidden width, or the classes for the last layer)

    def __post_init__(self) -> None:
        if self.out is not None:
            positive_int(self.out, f"{self.kind} unit count")

    def starts_head(self) -> bool:
        return True

    def output(self, v: Volume) -> Volume:
        if self.out is None:
            raise SizingError("the unit count is a template width; bind the pattern first", layer=self.kind)
        return Volume(self.out, 1, 1, flat=True)


@dataclass(frozen=True)
class FC(Units):
    """FC: fully connected to the whole input volume, ``out`` units. FC4096 or FC-4096."""

    kind: ClassVar[str] = "FC"
    linear: ClassVar[bool] = True
    overwritable: ClassVar[bool] = True
    torch_types: ClassVar[tuple[type, ...]] = (nn.Linear,)  # FlattenLinear too
    bias: bool = True

    def unbound(self) -> bool:
        return self.out is None

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        return cls(module.out_features, bias=module.bias is not None)

    @classmethod
    def module_macs(cls, module: nn.Module, x: Any, out: Any) -> int:
        return out.numel() * module.in_features

    def params(self, v: Volume) -> int:
        return self.weights(v) + (self.out if self.bias else 0)

    def weights(self, v: Volume) -> int:
        return v.numel * self.out

    def macs(self, v: Volume) -> int:
        return self.weights(v)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return L.FlattenLinear(v.numel, self.out, bias=self.bias)


@dataclass(frozen=True)
class Subsample(Layer):
    """LeNet-5's trainable subsampling (S2, S4): window sum x coefficient + bias, 2 parameters per map."""

    kind: ClassVar[str] = "SUBSAMPLE"
    affine: ClassVar[bool] = True  # a scaled window sum plus a bias
    shorthand: ClassVar[tuple[str, ...]] = ("f",)
    torch_types: ClassVar[tuple[type, ...]] = (L.TrainableSubsample,)
    f: int = 2

    def __post_init__(self) -> None:
        positive_int(self.f, "SUBSAMPLE window F")

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        return cls(module.f)

    @classmethod
    def module_macs(cls, module: nn.Module, x: Any, out: Any) -> int:
        return out.numel() * module.f * module.f

    def output(self, v: Volume) -> Volume:
        need_spatial(self, v)
        h, w = window_sizes(self, v)
        return Volume(v.c, h, w)

    def windows(self, v: Volume) -> tuple[WindowSize, ...]:
        return (window_output(v.h, self.f, self.f), window_output(v.w, self.f, self.f))

    def params(self, v: Volume) -> int:
        return 2 * v.c

    def weights(self, v: Volume) -> int:
        return v.c

    def macs(self, v: Volume) -> int:
        # Costed like the f x f depthwise conv it is, with one tied weight: f*f multiply-adds per unit.
        return self.output(v).numel * self.f * self.f

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return L.TrainableSubsample(v.c, self.f)


@dataclass(frozen=True)
class RBF(Units):
    """LeNet-5's output layer: ``out`` Euclidean RBF units with fixed (non-trainable) prototypes."""

    kind: ClassVar[str] = "RBF"
    torch_types: ClassVar[tuple[type, ...]] = (L.RBFOutput,)

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        return cls(module.out_features)

    @classmethod
    def module_macs(cls, module: nn.Module, x: Any, out: Any) -> int:
        return module.in_features * module.out_features

    def macs(self, v: Volume) -> int:
        return v.numel * self.out  # one squared difference accumulated per input, per unit

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return L.RBFOutput(v.numel, self.out)


# ---- pooling ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool(Layer):
    """POOL: max (default) or avg over ``f`` x ``f`` windows with stride ``s`` (default F).

    ``ceil=true`` rounds the output size up, as Caffe did (torchvision's GoogLeNet keeps it).
    ``out=HxW`` makes it adaptive: a fixed output size whatever the input (torchvision's AlexNet/VGG).
    """

    kind: ClassVar[str] = "POOL"
    shorthand: ClassVar[tuple[str, ...]] = ("f",)
    overwritable: ClassVar[bool] = True
    torch_types: ClassVar[tuple[type, ...]] = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    f: Pair = (2, 2)
    s: Pair | None = None
    p: Pair = (0, 0)
    type: str = "max"
    ceil: bool = False
    count_pad: bool = True  # avg only: whether zero padding counts in the average
    out: Pair | None = None

    def __post_init__(self) -> None:
        f = pair(self.f, "POOL window F")
        object.__setattr__(self, "f", f)
        object.__setattr__(self, "s", f if self.s is None else pair(self.s, "POOL stride S"))
        object.__setattr__(self, "p", pair(self.p, "POOL padding P", 0))
        if self.out is not None:
            object.__setattr__(self, "out", pair(self.out, "POOL output size"))
        if self.type not in ("max", "avg"):
            raise ConfigError(f"POOL type must be max or avg, got {self.type!r}")

    @property
    def adaptive(self) -> bool:
        return self.out is not None

    def starts_head(self) -> bool:
        return self.adaptive  # torchvision's AlexNet and VGG pool to a fixed size before the classifier

    def is_affine(self) -> bool:
        return self.type == "avg"  # a scaled window sum; a max is not linear

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        kind = "avg" if isinstance(module, nn.AvgPool2d | nn.AdaptiveAvgPool2d) else "max"
        if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
            return cls(out=module.output_size, type=kind)
        if kind == "max" and module.dilation not in (1, (1, 1)):
            raise ConfigError("dilated pooling has no pattern notation")
        extra = {"count_pad": module.count_include_pad} if kind == "avg" else {}
        stride = module.stride if module.stride else module.kernel_size
        return cls(module.kernel_size, s=stride, p=module.padding, type=kind, ceil=module.ceil_mode, **extra)

    def defaults(self) -> dict[str, Any]:
        return {**super().defaults(), "s": self.f}

    def text(self) -> str:
        if not self.adaptive:
            return super().text()
        extra = [f"out={format_value(self.out)}"] + (["type=avg"] if self.type == "avg" else [])
        return f"POOL({', '.join(extra)})"

    def output(self, v: Volume) -> Volume:
        need_spatial(self, v)
        if self.adaptive:
            return Volume(v.c, *self.out)
        if 2 * self.p[0] > self.f[0] or 2 * self.p[1] > self.f[1]:
            raise SizingError(
                f"padding {format_value(self.p)} is more than half the window {format_value(self.f)}; "
                "PyTorch refuses that. Use p <= F/2.",
                layer=self.text(),
            )
        h, w = window_sizes(self, v)
        return Volume(v.c, h, w)

    def exact(self, v: Volume) -> bool:
        # ceil=true is an explicit choice (Caffe's rounding), not a floor that silently drops pixels.
        return self.ceil or super().exact(v)

    def windows(self, v: Volume) -> tuple[WindowSize, ...]:
        if self.adaptive:
            return ()
        return tuple(
            window_output(n, self.f[i], self.s[i], self.p[i], ceil=self.ceil) for i, n in enumerate((v.h, v.w))
        )

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        if self.adaptive:
            return nn.AdaptiveAvgPool2d(self.out) if self.type == "avg" else nn.AdaptiveMaxPool2d(self.out)
        if self.type == "max":
            return nn.MaxPool2d(self.f, self.s, self.p, ceil_mode=self.ceil)
        return nn.AvgPool2d(self.f, self.s, self.p, ceil_mode=self.ceil, count_include_pad=self.count_pad)


@dataclass(frozen=True)
class GAP(Layer):
    """Global average pooling to a vector of C (Lin et al. 2013; GoogLeNet §5; ResNet §3.4)."""

    kind: ClassVar[str] = "GAP"
    affine: ClassVar[bool] = True
    torch_types: ClassVar[tuple[type, ...]] = (L.GlobalAvgPool,)

    def starts_head(self) -> bool:
        return True

    def output(self, v: Volume) -> Volume:
        need_spatial(self, v)
        return Volume(v.c, 1, 1, flat=True)

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return L.GlobalAvgPool()


@dataclass(frozen=True)
class ZeroPad(Layer):
    """Option-A shortcut (He et al. 2015 §4.2): subsample by ``s``, zero-pad channels up to ``out``."""

    kind: ClassVar[str] = "ZEROPAD"
    affine: ClassVar[bool] = True
    torch_types: ClassVar[tuple[type, ...]] = (L.ZeroPadShortcut,)
    shorthand: ClassVar[tuple[str, ...]] = ("out",)
    positional: ClassVar[tuple[str, ...]] = ("out",)
    out: int = 1
    s: int = 1

    def __post_init__(self) -> None:
        positive_int(self.out, "ZEROPAD channel count")
        positive_int(self.s, "ZEROPAD stride")

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        return cls(v.c + module.extra, s=module.stride)

    def output(self, v: Volume) -> Volume:
        need_spatial(self, v)
        if self.out < v.c:
            raise SizingError(
                f"cannot zero-pad {v.c} channels down to {self.out}; a zero-padded identity only adds "
                "channels. Use a projection shortcut instead.",
                layer=self.text(),
                rule="channel-mismatch",
            )
        return Volume(self.out, -(-v.h // self.s), -(-v.w // self.s))

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        return L.ZeroPadShortcut(v.c, self.out, self.s)


__all__ = [
    "BN", "CONNECTION_TABLES", "DEPTHWISE", "FC", "GAP", "LENET5_C3", "LRN", "PRIMITIVES", "RBF", "Conv", "DWConv",
    "Dropout", "Flatten", "Layer", "Pair", "Pool", "Relu", "Relu6", "Sigmoid", "Softmax", "Subsample", "Tanh",
    "ZeroPad", "format_value", "need_spatial", "pair", "positive_int", "window_sizes",
]  # fmt: skip
