"""Small, fast training setups (a tiny pattern network on the UCI digits at 16x16) and image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

# BN, dropout and pad-crop augmentation: every random stream a resume must reproduce is exercised.
TINY = (
    "INPUT(16x16x1) -> CONV3-8 -> BN -> RELU -> POOL2 -> CONV3-16 -> RELU -> POOL2 -> FC32 -> RELU "
    "-> DROPOUT(0.2) -> FC10"
)
FAST = {"epochs": 2, "batch_size": 64, "threads": 1}


def weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def write_image(path: Path, mode: str = "L", size: tuple[int, int] = (20, 24), seed: int = 0) -> Path:
    """A small random image file in the given PIL mode (L, RGB, RGBA, P, I;16)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16))
    else:
        rgba = rng.integers(0, 255, (h, w, 4), dtype=np.uint8)
        image = Image.fromarray(rgba, "RGBA")
        image = image.convert(mode) if mode != "P" else image.convert("RGB").convert("P")
    image.save(path)
    return path


def write_class_folder(root: Path, classes: dict[str, int], mode: str = "L", size: tuple[int, int] = (20, 24)) -> Path:
    """``root/<class>/<i>.png`` with ``classes[name]`` images each."""
    for c, (name, count) in enumerate(classes.items()):
        for i in range(count):
            write_image(root / name / f"{i}.png", mode, size, seed=100 * c + i)
    return root
