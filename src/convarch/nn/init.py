"""Weight initialisation schemes, so a zoo model starts training where its reference implementation does.

A scheme is an object a family declares once (``Family(init=HE)``), with its parameters in its fields:

``TORCH``           PyTorch's defaults (torchvision's AlexNet, timm's Inception-v4, pattern networks).
``He()``            He et al. 2015 ("Delving Deep into Rectifiers", §2.2): convs ~ N(0, 2/fan_out), BN
                    scale 1 and shift 0, conv biases 0; FC layers keep PyTorch's default (torchvision ResNet).
``He("fan_in", zero_fc_bias=True)``  N(0, 2/fan_in) and zero FC biases (torchvision DenseNet).
``He(fc_std=0.01)`` FC weights ~ N(0, 0.01²) and zero biases (torchvision VGG).
``TruncNormal(0.01)`` convs and FC ~ N(0, 0.01²) truncated at ±2 (not ±2σ), BN 1/0 (torchvision GoogLeNet).

Each has a short ``name`` (``"he"``, ``"he_fc0.01"``, ...) for listings and for ``initialize(model, name)``.
LeNet-5's own layers (trainable subsampling, the C3 table) keep the paper's fan-in init in any scheme:
they are not ``nn.Conv2d``/``nn.Linear``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from convarch.errors import ConfigError

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _unit_norms(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, _NORMS):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


@dataclass(frozen=True)
class InitScheme:
    """PyTorch's own initialisation: nothing to change."""

    @property
    def name(self) -> str:
        return "torch"

    def __call__(self, model: nn.Module) -> None:
        return None


@dataclass(frozen=True)
class He(InitScheme):
    """Convs ~ N(0, 2/fan) with zero biases and BN 1/0; FC layers per ``fc_std`` and ``zero_fc_bias``."""

    mode: Literal["fan_out", "fan_in"] = "fan_out"
    fc_std: float | None = None  # None: PyTorch's default FC init
    zero_fc_bias: bool = False

    @property
    def name(self) -> str:
        suffix = "_fan_in" if self.mode == "fan_in" else ""
        return f"he{suffix}" + (f"_fc{self.fc_std:g}" if self.fc_std is not None else "")

    def __call__(self, model: nn.Module) -> None:
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode=self.mode, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        _unit_norms(model)
        for module in model.modules():  # a second pass: FC draws follow all conv draws, as the references do
            if not isinstance(module, nn.Linear):
                continue
            if self.fc_std is not None:
                nn.init.normal_(module.weight, 0.0, self.fc_std)
            if module.bias is not None and (self.zero_fc_bias or self.fc_std is not None):
                nn.init.zeros_(module.bias)


@dataclass(frozen=True)
class TruncNormal(InitScheme):
    """Convs and FCs ~ N(0, std²) truncated at ±2 (absolute, as torchvision's GoogLeNet); biases keep PyTorch's."""

    std: float = 0.01

    @property
    def name(self) -> str:
        return f"truncnormal{self.std:g}"

    def __call__(self, model: nn.Module) -> None:
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.trunc_normal_(module.weight, mean=0.0, std=self.std, a=-2, b=2)
        _unit_norms(model)


TORCH = InitScheme()
HE = He()

# The schemes the zoo uses, by name (``initialize(model, "he")``).
SCHEMES: dict[str, InitScheme] = {
    scheme.name: scheme for scheme in (TORCH, HE, He("fan_in", zero_fc_bias=True), He(fc_std=0.01), TruncNormal(0.01))
}


def initialize(model: nn.Module, scheme: InitScheme | str = TORCH) -> nn.Module:
    """Initialise ``model``'s weights in place with a scheme (or its name) and return it."""
    if isinstance(scheme, str):
        if scheme not in SCHEMES:
            raise ConfigError(f"unknown init scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
        scheme = SCHEMES[scheme]
    scheme(model)
    return model
