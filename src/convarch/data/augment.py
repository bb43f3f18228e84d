"""Light augmentation on whole batches of tensors: pad-crop, horizontal flip, random-resized crop.

Each works on a batch in [0, 1] with one random draw per image from an explicit generator, so a training
run's augmentation is a function of (seed, epoch, rank) and an interrupted run resumes it exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from convarch.errors import ConfigError

AUGMENTATIONS = ("padcrop", "flip", "rrc")
# Random-resized crop keeps 35%..100% of the area: a lighter version of Inception's 8%..100% (Szegedy et al.
# 2015 §6), since the crop is taken from an image already cropped to the model's input.
RRC_SCALE = (0.35, 1.0)
RRC_RATIO = (3 / 4, 4 / 3)


def parse_augment(text: str | None) -> tuple[str, ...]:
    """``"flip,padcrop"`` -> ``("flip", "padcrop")``; ``"none"`` or empty -> ``()``."""
    if text is None:
        return ()
    names = tuple(part.strip().lower() for part in text.replace("+", ",").split(",") if part.strip())
    if names in ((), ("none",)):
        return ()
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"unknown augmentation {', '.join(unknown)}; choose from none, {', '.join(AUGMENTATIONS)}")
    return names


def augment_batch(images: torch.Tensor, names: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    # The draws come from a CPU generator (reproducible on any device) and are copied with non_blocking=True:
    # a blocking copy to a GPU waits for every queued kernel, once per step, and leaves the GPU idle while
    # the next step is queued.
    for name in names:
        if name == "padcrop":
            images = pad_crop(images, pad_for(images.shape[-1]), generator)
        elif name == "flip":
            images = random_flip(images, generator)
        elif name == "rrc":
            images = random_resized_crop(images, generator)
    return images


def pad_for(size: int) -> int:
    """Shift by up to ~1/10 of the side: 3 pixels at 32 (CIFAR's recipe pads 4 at 32; digits need less)."""
    return max(1, round(size / 10))


def pad_crop(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by a random integer offset in [-pad, pad]^2, filling with zeros."""
    n, c, h, w = images.shape
    width = w + 2 * pad
    padded = F.pad(images, (pad, pad, pad, pad)).reshape(n, c, -1)
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(images.device, non_blocking=True)
    # One gather over the flattened padded image: the window's pixel (i, j) sits at (i + dy) * width + (j + dx).
    # (Advanced indexing over rows and columns does the same work several times slower.)
    window = (torch.arange(h, device=images.device)[:, None] * width + torch.arange(w, device=images.device)).flatten()
    index = (window + (offsets[0] * width + offsets[1])[:, None]).unsqueeze(1).expand(n, c, h * w)
    return padded.gather(2, index).reshape(n, c, h, w)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = (torch.rand(images.shape[0], generator=generator) < 0.5).to(images.device, non_blocking=True)
    flip = flip.reshape(-1, 1, 1, 1)
    return torch.where(flip, images.flip(-1), images)


def random_resized_crop(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zoom each image on a random box of random area and aspect ratio, resampled to the same size."""
    n = images.shape[0]
    area = torch.empty(n).uniform_(*RRC_SCALE, generator=generator)
    log_ratio = torch.empty(n).uniform_(math.log(RRC_RATIO[0]), math.log(RRC_RATIO[1]), generator=generator)
    ratio = log_ratio.exp()
    width = (area * ratio).sqrt().clamp(max=1.0)  # as fractions of the side
    height = (area / ratio).sqrt().clamp(max=1.0)
    centre_x = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    centre_y = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    theta = theta.to(images.device, images.dtype, non_blocking=True)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
