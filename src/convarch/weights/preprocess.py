"""The preprocessing that matches a model's weights, as a torchvision transform.

``transforms_for(model)`` reads ``model.pretrained_cfg`` (filled in when weights are loaded) and returns the
evaluation transform: convert to grey or RGB to match ``in_chans``, resize the shorter side, center-crop,
convert to a float tensor in [0, 1] and normalise with the weights' mean and std. A model without weights
gets the ImageNet convention at its own input size (crop = input, resize = input / 0.875).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from convarch.errors import ConfigError
from convarch.nn.model import ConvNet
from convarch.weights.sources import IMAGENET_MEAN, IMAGENET_STD, find_source, sources_for

DEFAULT_CROP_PCT = 0.875  # the 224/256 ratio of the AlexNet/VGG/ResNet evaluation recipe
PREPROCESS_KEYS = ("resize", "crop", "mean", "std", "interpolation")


def default_cfg(input_size: tuple[int, int, int]) -> dict[str, Any]:
    """ImageNet statistics at a network's own input size: what a model without weights gets."""
    _, h, w = input_size
    return {
        "resize": math.floor(min(h, w) / DEFAULT_CROP_PCT),
        "crop": h if h == w else [h, w],
        "crop_pct": DEFAULT_CROP_PCT,
        "interpolation": "bilinear",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "preprocess_source": "default: ImageNet statistics at the model's input size",
    }


def channel_stats(values: list[float] | tuple[float, ...], in_chans: int) -> list[float]:
    """Per-channel mean or std for ``in_chans`` channels from the weights' own (RGB) values.

    One channel takes the average, matching the summed first-conv filters; more channels repeat the
    values in order, matching the repeated filters.
    """
    values = list(values)
    if len(values) == in_chans:
        return values
    if in_chans == 1:
        return [sum(values) / len(values)]
    return [values[i % len(values)] for i in range(in_chans)]


def preprocess_of(model: ConvNet | str) -> dict[str, Any]:
    """The preprocessing keys of a model (from its weights) or of a zoo name (its default weights)."""
    if isinstance(model, str):
        from convarch.zoo.registry import get_entry

        entry = get_entry(model)
        if sources_for(entry.name):
            return {**find_source(entry.name).preprocess.to_cfg(), "in_chans": 3}
        return {**default_cfg(entry.info.input_size), "in_chans": entry.info.input_size[0]}
    if not isinstance(model, ConvNet):
        raise ConfigError(f"transforms_for takes a convarch model or a zoo name, got {type(model).__name__}")
    cfg = model.pretrained_cfg
    if not all(key in cfg for key in PREPROCESS_KEYS):
        spec_input = model.spec.input
        size = (model.in_chans, spec_input.h, spec_input.w) if spec_input else (model.in_chans, 224, 224)
        cfg = default_cfg(size)
    return {**cfg, "in_chans": model.in_chans}


def transforms_for(model: ConvNet | str, *, version: int = 2) -> Any:
    """The evaluation transform matching ``model``'s weights (torchvision transforms ``v2``, or ``v1``)."""
    cfg = preprocess_of(model)
    in_chans = cfg["in_chans"]
    mean, std = channel_stats(cfg["mean"], in_chans), channel_stats(cfg["std"], in_chans)
    from torchvision.transforms import InterpolationMode

    mode = InterpolationMode(cfg["interpolation"])
    crop = cfg["crop"]
    if version == 2:
        from torchvision.transforms import v2

        colour = [v2.Grayscale(1)] if in_chans == 1 else [v2.RGB()] if in_chans == 3 else []
        return v2.Compose([
            *colour,
            v2.Resize(cfg["resize"], interpolation=mode, antialias=True),
            v2.CenterCrop(crop),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ])  # fmt: skip
    if version == 1:
        from torchvision import transforms

        colour = [ConvertChannels(in_chans)] if in_chans in (1, 3) else []
        return transforms.Compose([
            *colour,
            transforms.Resize(cfg["resize"], interpolation=mode, antialias=True),
            transforms.CenterCrop(crop),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ])  # fmt: skip
    raise ConfigError(f"version must be 1 or 2 (torchvision.transforms or transforms.v2), got {version!r}")


class ConvertChannels:
    """Grey <-> RGB for PIL images and CHW tensors (a class, not a lambda, so DataLoader workers can pickle it)."""

    def __init__(self, channels: int) -> None:
        self.channels = channels

    def __call__(self, image: Any) -> Any:
        if isinstance(image, torch.Tensor):
            if image.shape[-3] == self.channels:
                return image
            if self.channels == 3 and image.shape[-3] == 1:
                return image.expand(*image.shape[:-3], 3, *image.shape[-2:])
            from torchvision.transforms.functional import rgb_to_grayscale

            return rgb_to_grayscale(image, 1)
        mode = "L" if self.channels == 1 else "RGB"
        return image if image.mode == mode else image.convert(mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.channels})"
