"""Batch preprocessing (channels, resize, crop, normalise) and the batch augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.train.helpers import write_image

import convarch as ca
from convarch.data.augment import augment_batch, pad_crop, parse_augment, random_flip, random_resized_crop
from convarch.data.images import read_image
from convarch.data.preprocess import Preprocessing, channel_values, match_channels


def test_grey_and_rgb_conversions_match_pil(tmp_path: Path) -> None:
    from PIL import Image

    path = write_image(tmp_path / "c.png", "RGB")
    rgb = read_image(path)
    grey = match_channels(rgb.unsqueeze(0), 1)[0]
    pil_grey = torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.float32)).view(grey.shape) / 255
    assert (grey - pil_grey).abs().max() < 1.5 / 255  # PIL rounds to 8 bits
    back = match_channels(grey.unsqueeze(0), 3)[0]
    assert back.shape == (3, *grey.shape[1:]) and torch.equal(back[0], back[2])


def test_resize_crop_normalise_and_cfg_round_trip() -> None:
    prep = Preprocessing(3, 36, (32, 32), (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))
    images = torch.rand(4, 1, 40, 50)
    out = prep(images)
    assert out.shape == (4, 3, 32, 32)
    assert Preprocessing.from_cfg(prep.to_cfg(), 3) == prep
    # The cfg uses the weights module's keys, so a checkpoint's preprocessing reads back the same way.
    assert {"resize", "crop", "mean", "std", "interpolation"} <= set(prep.to_cfg())
    with pytest.raises(ca.ConfigError, match="one per channel"):
        Preprocessing(3, 32, (32, 32), (0.5,), (0.2, 0.2, 0.2))


def test_channel_statistics_follow_the_weights_convention() -> None:
    assert channel_values([0.485, 0.456, 0.406], 1) == pytest.approx([0.449])
    assert channel_values([0.5], 3) == [0.5, 0.5, 0.5]


def test_matches_the_weights_modules_transform(tmp_path: Path) -> None:
    transforms = pytest.importorskip("convarch.weights.preprocess")
    model = ca.create_model("lenet5")
    model.pretrained_cfg.update(Preprocessing(1, 36, (32, 32), (0.2,), (0.3,)).to_cfg())
    from PIL import Image

    for size in ((48, 40), (40, 48), (20, 20)):  # portrait, landscape, upscaled
        path = write_image(tmp_path / "x.png", "RGB", size=size)
        theirs = transforms.transforms_for(model)(Image.open(path))
        ours = Preprocessing.from_cfg(model.pretrained_cfg, 1)(read_image(path).unsqueeze(0))[0]
        assert theirs.shape == ours.shape
        assert (theirs - ours).abs().mean() < 0.01  # resampling differs in the last bits, not in geometry


def test_pad_crop_shifts_each_image_within_the_pad() -> None:
    images = torch.zeros(64, 1, 16, 16)
    images[:, :, 6:10, 6:10] = torch.arange(1, 65, dtype=torch.float32).view(64, 1, 1, 1)
    shifted = pad_crop(images, 3, torch.Generator().manual_seed(0))
    assert torch.allclose(shifted.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))  # nothing falls off
    rows = (shifted[:, 0] > 0).float().argmax(dim=1).amax(dim=1)  # any marker row index
    offsets = set()
    for i in range(64):
        ys, xs = (shifted[i, 0] > 0).nonzero(as_tuple=True)
        offsets.add((int(ys.min()) - 6, int(xs.min()) - 6))
        assert torch.all(shifted[i, 0][shifted[i, 0] > 0] == i + 1)  # each image keeps its own content
    assert all(abs(dy) <= 3 and abs(dx) <= 3 for dy, dx in offsets) and len(offsets) > 10
    assert rows.numel() == 64


def test_augmentations_are_reproducible_from_the_generator() -> None:
    images = torch.rand(8, 3, 24, 24)
    names = parse_augment("flip,padcrop,rrc")
    a = augment_batch(images, names, torch.Generator().manual_seed(5))
    b = augment_batch(images, names, torch.Generator().manual_seed(5))
    c = augment_batch(images, names, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == images.shape
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    assert all(torch.equal(f, i) or torch.equal(f, i.flip(-1)) for f, i in zip(flipped, images, strict=True))
    assert random_resized_crop(images, torch.Generator().manual_seed(0)).shape == images.shape
    assert parse_augment("none") == () and parse_augment(None) == ()
    with pytest.raises(ca.ConfigError, match="unknown augmentation cutout"):
        parse_augment("flip,cutout")
