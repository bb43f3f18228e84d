"""The preprocessing a model expects, applied to batches of image tensors.

A model records its preprocessing in ``pretrained_cfg`` with the keys the weights module uses (``resize``:
the shorter side, ``crop``, ``mean``, ``std``, ``interpolation``), so a checkpoint we train is read back by
``ca.transforms_for`` exactly as we wrote it. This module applies the same dictionary to whole batches of
tensors: the built-in datasets live in memory as one tensor, and a per-image PIL pipeline would cost more
than LeNet's forward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from convarch.errors import ConfigError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
# ITU-R 601-2 luma, the weights PIL's convert("L") uses, so grey tensors match grey PIL images.
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to ``resize``, centre-crop to ``crop`` (H, W), match ``in_chans``, normalise."""

    in_chans: int
    resize: int
    crop: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ConfigError(
                f"mean and std need {self.in_chans} values (one per channel), got {self.mean}, {self.std}"
            )
        if min(self.std) <= 0:
            raise ConfigError(f"std must be positive, got {self.std}")

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (self.in_chans, *self.crop)

    def to_cfg(self) -> dict[str, Any]:
        """The ``pretrained_cfg`` keys (the weights module's names), JSON-friendly."""
        h, w = self.crop
        return {
            "resize": self.resize,
            "crop": h if h == w else [h, w],
            "crop_pct": round(min(h, w) / self.resize, 4),
            "mean": [float(m) for m in self.mean],
            "std": [float(s) for s in self.std],
            "interpolation": self.interpolation,
            "input_size": [self.in_chans, h, w],
        }

    @classmethod
    def from_cfg(cls, cfg: dict[str, Any], in_chans: int) -> Preprocessing:
        crop = cfg["crop"]
        crop_hw = (int(crop), int(crop)) if isinstance(crop, int | float) else (int(crop[0]), int(crop[1]))
        return cls(
            in_chans=in_chans,
            resize=int(cfg["resize"]),
            crop=crop_hw,
            mean=tuple(channel_values(cfg["mean"], in_chans)),
            std=tuple(channel_values(cfg["std"], in_chans)),
            interpolation=str(cfg.get("interpolation", "bilinear")),
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """A batch ``(N, C, H, W)`` of images in [0, 1] (or uint8) -> normalised float model input."""
        return self.normalise(self.geometry(images))

    def geometry(self, images: torch.Tensor) -> torch.Tensor:
        """Channels, resize and centre crop, still in [0, 1]: what gets cached before augmentation."""
        images = to_unit_float(images)
        images = match_channels(images, self.in_chans)
        images = resize_shorter(images, self.resize, self.interpolation)
        return center_crop(images, self.crop)

    def fit_uint8(self, images: torch.Tensor) -> torch.Tensor:
        """``geometry`` for images stored as uint8 (the cache, the workers' batches): uint8 in and out.

        Bilinear resizing runs on the uint8 pixels themselves (torch's AVX2 kernel for channels-last uint8, the
        one torchvision's v2 Resize uses): 2-3x faster than converting to float first, which is what lets
        CPU decoding keep up with a GPU. The result is within one grey level of the float path's.
        """
        fast = images.dtype == torch.uint8 and self.interpolation == "bilinear" and images.device.type == "cpu"
        if not fast or (images.shape[-3] != self.in_chans and self.in_chans == 1):  # luma needs float
            return self.geometry(images).mul_(255).round_().to(torch.uint8)
        images = match_channels(images, self.in_chans)
        return center_crop(resize_shorter(images, self.resize, "bilinear"), self.crop)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        mean = channel_tensor(self.mean, images.dtype, images.device)
        std = channel_tensor(self.std, images.dtype, images.device)
        return (images - mean) / std


@functools.lru_cache(maxsize=64)
def channel_tensor(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``values`` as a ``(1, C, 1, 1)`` tensor on ``device``, made once: on a GPU, building it for every batch
    was two host-to-device copies per training step. Made outside inference mode, so that autograd may use it
    later whatever the first caller's mode was."""
    with torch.inference_mode(False):
        return torch.tensor(values, dtype=dtype, device=device).reshape(1, -1, 1, 1)


def channel_values(values: Sequence[float] | float, in_chans: int) -> list[float]:
    """Per-channel statistics for ``in_chans``: one value is repeated, RGB values average to one for grey."""
    values = [float(values)] if isinstance(values, int | float) else [float(v) for v in values]
    if len(values) == in_chans:
        return values
    if len(values) == 1:
        return values * in_chans
    if in_chans == 1:
        return [sum(values) / len(values)]
    return [values[i % len(values)] for i in range(in_chans)]


def default_preprocessing(
    input_size: tuple[int, int, int], mean: Sequence[float] | float, std: Sequence[float] | float
) -> Preprocessing:
    """Resize straight to the input (no crop margin) with the given statistics: the recipe for training
    from scratch, where the statistics are the training set's own (``dataset_stats``)."""
    c, h, w = input_size
    return Preprocessing(c, min(h, w), (h, w), tuple(channel_values(mean, c)), tuple(channel_values(std, c)))


def model_preprocessing(model: Any) -> Preprocessing | None:
    """The preprocessing a model's weights were trained with, or None for a model with no record of it."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if all(key in cfg for key in ("resize", "crop", "mean", "std")):
        return Preprocessing.from_cfg(cfg, model.in_chans)
    return None


def dataset_stats(images: torch.Tensor, in_chans: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of images in [0, 1], after matching ``in_chans`` (a sample of 2,048 suffices)."""
    sample = match_channels(to_unit_float(images[:2048]), in_chans)
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


def match_channels(images: torch.Tensor, in_chans: int) -> torch.Tensor:
    """Grey -> RGB by repetition, RGB -> grey by luma; any other count must already match."""
    c = images.shape[-3]
    if c == in_chans:
        return images
    if c == 1:
        return images.expand(*images.shape[:-3], in_chans, *images.shape[-2:]).contiguous()
    if c == 3 and in_chans == 1:
        weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
        return (images * weights).sum(dim=-3, keepdim=True)
    raise ConfigError(f"cannot convert {c}-channel images to the model's {in_chans} channels; give 1 or 3")


def resize_shorter(images: torch.Tensor, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    h, w = images.shape[-2:]
    if min(h, w) == size:
        return images
    # torchvision's rule (and so the weights module's): the shorter side becomes ``size``, the longer one
    # ``int(size * long / short)``, truncated.
    target = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    scale = size / min(h, w)
    if interpolation == "nearest":
        return F.interpolate(images, size=target, mode="nearest")
    # Antialias only when shrinking: that is where it matters (aliasing), and it is what PIL does.
    out = F.interpolate(images, size=target, mode=interpolation, align_corners=False, antialias=scale < 1)
    return out.clamp_(0.0, 1.0) if interpolation == "bicubic" else out


def center_crop(images: torch.Tensor, crop: tuple[int, int]) -> torch.Tensor:
    h, w = images.shape[-2:]
    ch, cw = crop
    if (h, w) == (ch, cw):
        return images
    if ch > h or cw > w:  # a crop larger than the image pads it with zeros, as torchvision's CenterCrop does
        pad_h, pad_w = max(0, ch - h), max(0, cw - w)
        images = F.pad(images, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        h, w = images.shape[-2:]
    top, left = round((h - ch) / 2), round((w - cw) / 2)  # torchvision's CenterCrop offsets
    return images[..., top : top + ch, left : left + cw]
