"""The weights catalog against the libraries that publish the files: URLs, hashes, accuracy, preprocessing."""

from __future__ import annotations

import dataclasses

import pytest
import torchvision
from torchvision.models import get_model_weights

import convarch as ca
from convarch.weights.catalog import published_hash_prefix
from convarch.weights.sources import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    WeightSource,
    models_with_sources,
    register_source,
    sources_for,
)
from convarch.zoo.registry import get_entry

ALL_SOURCES = [source for model in models_with_sources() for source in sources_for(model)]
TORCHVISION_SOURCES = [s for s in ALL_SOURCES if s.layout == "torchvision"]
TIMM_SOURCES = [s for s in ALL_SOURCES if s.layout == "timm"]


def torchvision_weights(source: WeightSource) -> tuple:
    enum = get_model_weights(source.upstream)
    return enum, enum[f"IMAGENET1K_{source.tag.split('.')[-1].upper()}"]


@pytest.mark.parametrize("source", TORCHVISION_SOURCES, ids=lambda s: f"{s.model}-{s.tag}")
def test_torchvision_facts_match_the_installed_torchvision(source: WeightSource) -> None:
    enum, weights = torchvision_weights(source)
    metrics = weights.meta["_metrics"]["ImageNet-1K"]
    assert source.url == weights.url
    assert source.top1.matches(metrics["acc@1"]) and source.top5.matches(metrics["acc@5"])
    assert source.sha256 == published_hash_prefix(weights.url.rsplit("/", 1)[-1])
    preset = weights.transforms()
    assert source.preprocess.crop == preset.crop_size[0] and source.preprocess.resize == preset.resize_size[0]
    assert source.preprocess.interpolation == preset.interpolation.value
    if source.model == "googlenet":  # transform_input=True: recorded as its equivalent normalisation
        assert source.preprocess.mean == INCEPTION_MEAN
    else:
        assert (source.preprocess.mean, source.preprocess.std) == (tuple(preset.mean), tuple(preset.std))
    is_default = sources_for(source.model)[0] is source
    assert is_default == (enum.DEFAULT is weights) == ("torchvision" in source.aliases)


@pytest.mark.parametrize("source", TIMM_SOURCES, ids=lambda s: s.model)
def test_timm_facts_match_the_installed_timm(source: WeightSource) -> None:
    from timm.models import get_pretrained_cfg

    repo = f"{source.upstream}.{source.tag.removeprefix('timm.')}"
    cfg = get_pretrained_cfg(repo)
    assert cfg is not None, f"timm has no pretrained config {repo}"
    if cfg.hf_hub_id:  # the hub's file, or the release URL where timm's config names no hub repo
        assert cfg.hf_hub_id == f"timm/{repo}" and source.url.endswith(f"{repo}/resolve/main/model.safetensors")
    else:
        assert source.url == cfg.url
    assert cfg.input_size[1] == source.preprocess.crop and cfg.num_classes == source.num_classes
    assert source.preprocess.resize == int(cfg.input_size[1] / cfg.crop_pct)
    assert cfg.interpolation == source.preprocess.interpolation
    assert (tuple(cfg.mean), tuple(cfg.std)) == (source.preprocess.mean, source.preprocess.std)
    assert source.sha256 is None  # nothing published to check against


def test_every_zoo_model_torchvision_publishes_weights_for_has_a_source() -> None:
    published = set(torchvision.models.list_models(module=torchvision.models))
    for name in ca.list_models():
        if "torchvision" in get_entry(name).key_maps and name in published and get_model_weights(name):
            assert sources_for(name), f"{name} has torchvision weights but no registered source"


def test_each_source_layout_has_a_key_map_for_registered_models() -> None:
    for source in ALL_SOURCES:
        if source.model in ca.list_models():
            assert source.layout in get_entry(source.model).key_maps, f"{source.model}: no {source.layout} key map"


def test_the_reference_weights_take_their_accuracy_from_the_zoo_metadata() -> None:
    """One place per figure: the weights the metadata cites carry the metadata's own Figure objects."""
    for source in ALL_SOURCES:
        if source.model not in ca.list_models() or ca.model_info(source.model).top1 is None:
            continue
        info = ca.model_info(source.model)
        version = source.tag.split(".")[-1].upper()
        weights = f"{source.upstream}.{source.tag.removeprefix('timm.')}"  # timm's name of the file
        cited = f"IMAGENET1K_{version}" in info.top1.source or (source.layout == "timm" and weights in info.top1.source)
        assert (source.top1 is info.top1 and source.top5 is info.top5) == cited, source.tag


def test_tags_aliases_and_errors() -> None:
    default = sources_for("alexnet")[0]
    assert ca.weights.find_source("alexnet") is default
    assert ca.weights.find_source("alexnet", "torchvision") is default
    assert ca.weights.find_source("alexnet", "torchvision.v1") is default
    with pytest.raises(ca.WeightsError, match="its tags are: imagenet, torchvision.v1, torchvision"):
        ca.weights.find_source("alexnet", "v3")
    with pytest.raises(ca.ConfigError, match="already taken"):
        register_source(dataclasses.replace(default, tag="torchvision.v9"))  # alias "torchvision" clashes
    with pytest.raises(ca.ConfigError, match="sha256 must be"):
        dataclasses.replace(default, sha256="XYZ")


def test_preprocess_describes_itself() -> None:
    default = sources_for("alexnet")[0].preprocess
    assert (default.mean, default.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert default.describe() == "resize 256 bilinear, crop 224, mean/std ImageNet"
    assert default.crop_pct == pytest.approx(0.875)
