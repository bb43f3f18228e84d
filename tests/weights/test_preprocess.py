"""transforms_for gives the same tensors as the publishing library's own evaluation transform."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import convarch as ca
from convarch.weights.sources import WeightSource, models_with_sources, sources_for

ALL_SOURCES = [source for model in models_with_sources() for source in sources_for(model)]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(300, 260, 3), dtype=np.uint8), "RGB")


@pytest.fixture(scope="module")
def model_shell() -> ca.ConvNet:
    """A 3-channel model whose pretrained_cfg each test overwrites (meta: no weights needed)."""
    with torch.device("meta"):
        return ca.create_model("alexnet")


def reference_transform(source: WeightSource) -> object:
    if source.layout == "timm":
        from timm.data import create_transform, resolve_data_config
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(f"{source.upstream}.{source.tag.removeprefix('timm.')}").to_dict()
        return create_transform(**resolve_data_config(pretrained_cfg=cfg))
    from torchvision.transforms._presets import ImageClassification

    weights = torchvision.models.get_model_weights(source.upstream)[f"IMAGENET1K_{source.tag[-2:].upper()}"]
    if source.model == "googlenet":  # the preset's ImageNet statistics, then transform_input: i.e. 0.5/0.5
        return ImageClassification(crop_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return weights.transforms()


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: f"{s.model}-{s.tag}")
def test_same_tensor_as_the_publishers_transform(
    source: WeightSource, photo: Image.Image, model_shell: ca.ConvNet
) -> None:
    model_shell.pretrained_cfg = source.to_cfg()
    expected = reference_transform(source)(photo)
    for version in (2, 1):
        ours = ca.transforms_for(model_shell, version=version)(photo)
        assert ours.shape == expected.shape == (3, source.preprocess.crop, source.preprocess.crop)
        assert (ours - expected).abs().max().item() <= 1e-5


def test_grey_and_rgb_follow_in_chans(photo: Image.Image) -> None:
    with torch.device("meta"):
        grey_model = ca.create_model("alexnet", in_chans=1)
    grey = ca.transforms_for(grey_model)(photo)
    assert grey.shape == (1, 224, 224)
    rgb = ca.transforms_for("alexnet")(photo.convert("L"))
    assert rgb.shape == (3, 224, 224) and torch.allclose(rgb[0] * 0.229 + 0.485, rgb[1] * 0.224 + 0.456, atol=1e-5)


def test_a_model_without_weights_gets_imagenet_statistics_at_its_input_size(photo: Image.Image) -> None:
    out = ca.transforms_for(ca.create_model("lenet5"))(photo)
    assert out.shape == (1, 32, 32)
    assert ca.weights.preprocess.preprocess_of("lenet5")["resize"] == 36  # floor(32 / 0.875)


def test_transforms_pickle_for_dataloader_workers() -> None:
    for version in (1, 2):
        pickle.dumps(ca.transforms_for("alexnet", version=version))
    with pytest.raises(ca.ConfigError, match="version must be 1 or 2"):
        ca.transforms_for("alexnet", version=3)
