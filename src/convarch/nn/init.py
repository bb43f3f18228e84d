"""Weight initialisation schemes, so a zoo model starts training where its reference implementation does.

``torch``          PyTorch's defaults (torchvision's AlexNet, timm's Inception-v4, pattern networks).
``he``             He et al. 2015 ("Delving Deep into Rectifiers", §2.2): convs ~ N(0, 2/fan_out), BN
                   scale 1 and shift 0, conv biases 0; FC layers keep PyTorch's default (torchvision ResNet,
                   DenseNet).
``he_fan_in``      as ``he`` with N(0, 2/fan_in), and zero FC biases (torchvision DenseNet).
``he_fc0.01``      as ``he``, with FC weights ~ N(0, 0.01²) and zero biases (torchvision VGG).
``truncnormal0.01`` convs and FC ~ N(0, 0.01²) truncated at ±2 (not ±2σ), BN 1/0 (torchvision GoogLeNet).

LeNet-5's own layers (trainable subsampling, the C3 table) keep the paper's fan-in init in any scheme:
they are not ``nn.Conv2d``/``nn.Linear``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from convarch.errors import ConfigError

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _he_convs(model: nn.Module, mode: str = "fan_out") -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _NORMS):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def _zero_fc_bias(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def _small_fc(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _truncated(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):  # biases keep PyTorch's default
            nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
        elif isinstance(module, _NORMS):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


SCHEMES: dict[str, Callable[[nn.Module], None]] = {
    "torch": lambda model: None,
    "he": _he_convs,
    "he_fan_in": lambda model: (_he_convs(model, "fan_in"), _zero_fc_bias(model)),
    "he_fc0.01": lambda model: (_he_convs(model), _small_fc(model)),
    "truncnormal0.01": _truncated,
}


def initialize(model: nn.Module, scheme: str = "torch") -> nn.Module:
    """Initialise ``model``'s weights in place with a named scheme and return it."""
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    SCHEMES[scheme](model)
    return model
