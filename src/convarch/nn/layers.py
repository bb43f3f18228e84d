"""Torch modules that PyTorch lacks: the few layers the classic papers need, and the combinator modules.

Each is ordinary eager PyTorch (no per-forward interpretation), uses ``flatten``/``reshape`` rather than
``view`` so ``channels_last`` inputs work, and traces under ``torch.compile`` and ONNX export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FlattenLinear(nn.Linear):
    """A Linear layer that flattens a spatial input first: CS231n's FC accepts any volume."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.flatten(1), self.weight, self.bias)


class HeadFlatten(nn.Flatten):
    """Flattens the pooled features when the head ends spatially; not a layer of the spec."""


class GlobalAvgPool(nn.Module):
    """Global average pooling to a ``C`` vector (GoogLeNet §5, ResNet §3.4)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class ScaledTanh(nn.Module):
    """``A tanh(S a)`` with A = 1.7159, S = 2/3: LeNet-5's squashing function (LeCun et al. 1998, App. A)."""

    def __init__(self, a: float = 1.7159, s: float = 2 / 3) -> None:
        super().__init__()
        self.a, self.s = a, s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * torch.tanh(self.s * x)

    def extra_repr(self) -> str:
        return f"a={self.a}, s={self.s}"


def _fan_in_uniform_(tensor: torch.Tensor, fan_in: int) -> None:
    """LeCun et al. 1998 App. C: weights uniform in ±2.4/F_i, F_i the fan-in of the unit."""
    bound = 2.4 / fan_in
    nn.init.uniform_(tensor, -bound, bound)


class TrainableSubsample(nn.Module):
    """LeNet-5's S2/S4: the sum of each f x f window times a per-map coefficient plus a per-map bias.

    LeCun et al. 1998 §II.B: "The four inputs to a unit in S2 are added, then multiplied by a trainable
    coefficient, and added to a trainable bias." Two parameters per feature map.
    """

    def __init__(self, channels: int, f: int = 2) -> None:
        super().__init__()
        self.f = f
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        _fan_in_uniform_(self.weight, f * f)
        _fan_in_uniform_(self.bias, f * f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = F.avg_pool2d(x, self.f, self.f) * (self.f * self.f)
        return summed * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)


class TableConv2d(nn.Module):
    """A convolution whose output maps see only some input maps, listed in a connection table.

    LeCun et al. 1998 Table I (C3): the table "keeps the number of connections within reasonable
    bounds" and "forces a break of symmetry". Only the connected filters are parameters, so the
    trainable count is exact; they are scattered into a dense zero kernel at each forward.
    """

    def __init__(
        self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel: tuple[int, int], bias: bool = True
    ) -> None:
        super().__init__()
        kh, kw = kernel
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(table), (kh, kw)
        positions = [
            (out_map * in_channels + in_map) * kh * kw + k
            for out_map, inputs in enumerate(table)
            for in_map in inputs
            for k in range(kh * kw)
        ]
        self.register_buffer("index", torch.tensor(positions, dtype=torch.long), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(positions)))
        self.bias = nn.Parameter(torch.empty(len(table))) if bias else None
        for out_map, inputs in enumerate(table):
            fan_in = len(inputs) * kh * kw
            start = sum(len(t) for t in table[:out_map]) * kh * kw
            _fan_in_uniform_(self.weight.data[start : start + fan_in], fan_in)
            if self.bias is not None:
                _fan_in_uniform_(self.bias.data[out_map : out_map + 1], fan_in)

    def dense_weight(self) -> torch.Tensor:
        kh, kw = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels * self.in_channels * kh * kw)
        return dense.index_copy(0, self.index, self.weight).reshape(self.out_channels, self.in_channels, kh, kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)


class RBFOutput(nn.Module):
    """LeNet-5's output layer: Euclidean RBF units with fixed prototypes (LeCun et al. 1998 §II.B eq. 7).

    ``y_i = sum_j (x_j - w_ij)^2`` is a penalty, so the module returns ``-y_i`` as logits: cross-entropy on
    these is the paper's loss (eq. 9) without its constant "rubbish class" term. The prototypes are fixed
    (a buffer, not a parameter). The paper drew them as 7x12 bitmaps of the characters; those bitmaps are
    not published as data, so we use fixed +-1 codes from a seeded generator, which have the same
    range and the same equal-norm property.
    """

    def __init__(self, in_features: int, out_features: int, seed: int = 1998) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (out_features, in_features), generator=generator).float() * 2 - 1
        self.register_buffer("prototypes", codes)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return -(x.unsqueeze(1) - self.prototypes.unsqueeze(0)).pow(2).sum(-1)


class ZeroPadShortcut(nn.Module):
    """Option A of He et al. 2015 §4.2: subsample by the stride and zero-pad the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        low = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, low, self.extra - low))


class Concat(nn.Module):
    """Parallel branches on one input, concatenated along channels (``branch1`` ... ``branchN``)."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        for i, branch in enumerate(branches, 1):
            self.add_module(f"branch{i}", branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], 1)


class ResidualUnit(nn.Module):
    """``post(scale * body(pre(x)) + shortcut(x'))``; see ``convarch.spec.nodes.Residual``."""

    def __init__(
        self,
        body: nn.Module,
        shortcut: nn.Module | None = None,
        pre: nn.Module | None = None,
        post: nn.Module | None = None,
        scale: float = 1.0,
        add_inplace: bool = True,
        skip: bool = True,
    ) -> None:
        super().__init__()
        self.pre, self.body, self.shortcut, self.post = pre, body, shortcut, post
        self.scale = scale
        self.add_inplace = add_inplace and scale == 1.0
        self.skip = skip  # False: the body alone (an inverted residual whose volume changes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = x if self.pre is None else self.pre(x)
        out = self.body(inner)
        if not self.skip:
            return out if self.post is None else self.post(out)
        skip = x if self.shortcut is None else self.shortcut(inner)
        if self.add_inplace:
            out += skip
        else:
            out = out * self.scale + skip
        return out if self.post is None else self.post(out)

    def extra_repr(self) -> str:
        text = "" if self.scale == 1.0 else f"scale={self.scale}"
        return text if self.skip else ", ".join(t for t in (text, "skip=False") if t)


class ChannelGate(nn.Sequential):
    """``x * gate(x)``: the gate's layers run in order and their 1x1xC (or HxWxC) result scales ``x``.

    Squeeze-and-excitation's scale step (Hu et al. 2017 eq. 4). The gate's layers are this module's own
    children, so their names are the ones timm gives an SE module (``fc1``, ``fc2``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * super().forward(x)


class DenseBlock(nn.Module):
    """Dense growth (Huang et al. 2017 eq. 2): layer l sees ``[x_0, x_1, ..., x_{l-1}]``."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        for i, layer in enumerate(layers, 1):
            self.add_module(f"layer{i}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.children():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class AuxTap(nn.Module):
    """An auxiliary classifier on the main path: the identity there; ``ConvNet`` runs ``head`` in training."""

    def __init__(self, head: nn.Module, weight: float) -> None:
        super().__init__()
        self.head, self.weight = head, weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
