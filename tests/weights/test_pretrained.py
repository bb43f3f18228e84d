"""The loading pipeline, end to end, on files the tests make: published layouts give the reference's outputs,
the cache is used, in_chans and num_classes adapt, and every mismatch is a clear WeightsError."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from tests.conftest import smallest_input
from tests.weights.helpers import Server, files_under, randomise_batch_norm, serve_locally
from torchvision.transforms import v2 as transforms_v2

import convarch as ca
from convarch.nn.model import ConvNet
from convarch.spec.layers import FC, GAP, Conv, Relu
from convarch.spec.nodes import Aux, NetSpec, Seq
from convarch.spec.volume import Volume
from convarch.weights.download import cache_dir
from convarch.weights.sources import WeightSource, sources_for
from convarch.zoo.keymaps import from_layout


def one_model_per_family() -> list[str]:
    """For each zoo family with registered weights, its smallest model (by parameters)."""
    families: dict[str, list[str]] = {}
    for name in ca.list_models():
        if sources_for(name):
            families.setdefault(ca.model_info(name).family, []).append(name)
    return sorted(min(names, key=lambda n: ca.analyze(n).params) for names in families.values())


def reference_model(source: WeightSource) -> torch.nn.Module:
    """The publishing library's own model, with random weights."""
    if source.layout == "timm":
        import timm

        return timm.create_model(source.upstream, pretrained=False)
    options = {"init_weights": True} if source.upstream == "googlenet" else {}
    return torchvision.models.get_model(source.upstream, weights=None, **options)


def save_as_published(model: torch.nn.Module, path: Path) -> None:
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(path)) if path.suffix == ".safetensors" else torch.save(state, path)


def max_diff(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    with torch.no_grad():
        return (a(x) - b(x if y is None else y)).abs().max().item()


@pytest.mark.parametrize("name", one_model_per_family())
def test_published_layout_through_its_tag_gives_the_reference_outputs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = sources_for(name)[0]
    reference = reference_model(source).eval()
    randomise_batch_norm(reference)
    path = tmp_path / Path(urlsplit(source.url).path).name  # the published file name and format
    save_as_published(reference, path)
    serve_locally(monkeypatch, name, path)  # the registered source, now a file:// URL with the file's hash prefix
    ours = ca.create_model(name, weights=source.tag).eval()
    assert ours.pretrained_cfg["layout"] == source.layout and ours.pretrained_cfg["tag"] == source.tag
    x = torch.randn(2, *smallest_input(ours.spec).input.chw)
    assert max_diff(ours, reference, x) <= 1e-5


def test_a_torchvision_file_loads_by_path_and_url(alexnet_reference, tmp_path: Path) -> None:
    reference, pth = alexnet_reference
    as_safetensors = tmp_path / "alexnet.safetensors"
    save_file(reference.state_dict(), str(as_safetensors))
    x = torch.randn(2, 3, 64, 64)
    for weights in (str(pth), pth, as_safetensors.as_uri()):
        ours = ca.create_model("alexnet", weights=weights).eval()
        assert max_diff(ours, reference, x) <= 1e-5
        assert ours.pretrained_cfg["layout"] == "torchvision"


def test_ddp_prefixed_keys_load(alexnet_reference, tmp_path: Path) -> None:
    reference, _ = alexnet_reference
    path = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, path)
    x = torch.randn(1, 3, 64, 64)
    assert max_diff(ca.create_model("alexnet", weights=str(path)).eval(), reference, x) <= 1e-5


def test_second_load_uses_the_cache_not_the_source(alexnet_reference, server: Server) -> None:
    reference, pth = alexnet_reference
    url = server.serve(pth)
    first = ca.create_model("alexnet", weights=url).eval()
    second = ca.create_model("alexnet", weights=url).eval()
    x = torch.randn(1, 3, 64, 64)
    assert max_diff(first, second, x) == 0.0 and max_diff(second, reference, x) <= 1e-5
    assert len(files_under(cache_dir())) == 1 and server.requests == [f"/{pth.name}"]


def test_a_file_url_is_read_in_place_like_a_path(tmp_path: Path) -> None:
    """A cached copy of a local file would go stale: after the file is rewritten, both spellings see the new one."""
    path = tmp_path / "lenet.safetensors"
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_file(ca.create_model("lenet5").state_dict(), str(path))
        by_url, by_path = (ca.create_model("lenet5", weights=w).eval() for w in (path.as_uri(), str(path)))
        x = torch.randn(2, 1, 32, 32)
        assert max_diff(by_url, by_path, x) == 0.0
    assert files_under(cache_dir()) == []


def test_hash_mismatch_is_refused_and_the_cache_stays_clean(alexnet_reference, monkeypatch, server: Server) -> None:
    _, pth = alexnet_reference
    serve_locally(monkeypatch, "alexnet", pth, sha256="0123abcd", server=server)
    with pytest.raises(ca.WeightsError, match="SHA-256 mismatch"):
        ca.create_model("alexnet", weights="torchvision")
    assert files_under(cache_dir()) == [] and server.requests == [f"/{pth.name}"]


def test_one_input_channel_sums_the_rgb_filters(alexnet_reference) -> None:
    _, pth = alexnet_reference
    grey_model = ca.create_model("alexnet", in_chans=1, weights=str(pth)).eval()
    rgb_model = ca.create_model("alexnet", weights=str(pth)).eval()
    grey = torch.rand(2, 1, 64, 64)
    assert grey_model.in_chans == 1
    assert max_diff(grey_model, rgb_model, grey, grey.repeat(1, 3, 1, 1)) <= 1e-5


def test_more_input_channels_repeat_and_rescale_the_filters(alexnet_reference) -> None:
    reference, pth = alexnet_reference
    model = ca.create_model("alexnet", in_chans=5, weights=str(pth))
    rgb = reference.features[0].weight.detach()
    expected = torch.cat([rgb, rgb[:, :2]], dim=1) * (3 / 5)
    assert torch.allclose(model.features.conv1.weight, expected)
    assert model(torch.randn(1, 5, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("in_chans", [1, 2, 4, 7])
def test_input_channel_adaptation_equals_timm_s(in_chans: int) -> None:
    from timm.models import adapt_input_conv

    from convarch.weights.adapt import adapt_filters

    rgb = torch.randn(8, 3, 5, 5)
    assert torch.equal(adapt_filters(rgb, in_chans), adapt_input_conv(in_chans, rgb.clone()))


def test_other_classes_replace_the_head_and_load_everything_else(
    alexnet_reference, caplog: pytest.LogCaptureFixture
) -> None:
    reference, pth = alexnet_reference
    with caplog.at_level(logging.WARNING, logger="convarch.weights"):
        model = ca.create_model("alexnet", num_classes=10, weights=str(pth))
    assert "1000-class classifier and the model 10 classes" in caplog.text
    assert model.classifier.weight.shape == (10, 4096) and not model.classifier.weight.is_meta
    assert model.classifier.weight.std() > 0  # freshly initialised, not zeros
    mapped = from_layout("alexnet", reference.state_dict(), "torchvision", model.spec)
    ours = model.state_dict()
    body = [key for key in mapped if not key.startswith("classifier.")]
    assert body and all(torch.equal(ours[key], mapped[key]) for key in body)
    model(torch.randn(1, 3, 64, 64)).sum().backward()  # trainable as built


def test_no_classes_returns_the_pretrained_pooled_features(alexnet_reference) -> None:
    reference, pth = alexnet_reference
    model = ca.create_model("alexnet", num_classes=0, weights=str(pth)).eval()
    x = torch.randn(2, 3, 64, 64)
    penultimate = torch.nn.Sequential(reference.features, reference.avgpool, torch.nn.Flatten(1),
                                      *list(reference.classifier)[:-1])  # fmt: skip
    assert max_diff(model, penultimate, x) <= 1e-5


def test_load_weights_into_an_existing_headless_model(alexnet_reference) -> None:
    reference, pth = alexnet_reference
    model = ca.create_model("alexnet", num_classes=0).eval()
    report = ca.load_weights(model, pth)
    assert report.layout == "torchvision" and report.dropped == ["classifier.bias", "classifier.weight"]
    assert torch.equal(model.features.conv1.weight, reference.features[0].weight)


def test_a_pointwise_conv_classifier_loads_into_a_linear_one(tmp_path: Path) -> None:
    model = ca.build("INPUT(8x8x3) -> CONV3-4 -> RELU -> GAP -> FC5")
    state = {key: value.clone() for key, value in model.state_dict().items()}
    state["classifier.weight"] = torch.randn(5, 4, 1, 1)  # timm's resnetv2 head is a 1x1 conv
    save_file(state, str(tmp_path / "pointwise.safetensors"))
    report = ca.load_weights(model, tmp_path / "pointwise.safetensors")
    assert report.adapted == ["classifier.weight"]
    assert torch.equal(model.classifier.weight, state["classifier.weight"].flatten(1))


def test_auxiliary_heads_follow_the_classes(tmp_path: Path) -> None:
    def net(classes: int) -> ConvNet:
        aux = Aux(Seq((GAP(), FC(16), Relu(), FC(classes))))
        return ConvNet(NetSpec(Seq((Conv(8, 3), Relu(), aux, Conv(8, 3), GAP(), FC(classes))), Volume(3, 16, 16)))

    source = net(10)
    path = tmp_path / "aux.safetensors"
    save_file(source.state_dict(), str(path))
    model = net(5)
    report = ca.load_weights(model, path)
    dropped = {key.rsplit(".", 1)[0] for key in report.dropped}
    assert dropped == {"classifier", "features.0.head.fc2"}
    aux_fc1 = "features.0.head.fc1.weight"
    assert torch.equal(model.state_dict()[aux_fc1], source.state_dict()[aux_fc1])
    assert torch.equal(model.features.conv2.weight, source.features.conv2.weight)


def test_shape_mismatch_names_the_key_and_both_shapes(tmp_path: Path) -> None:
    state = ca.create_model("lenet5").state_dict()
    state["features.conv2.weight"] = torch.zeros(16, 6, 3, 3)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ca.WeightsError, match=r"features\.conv2\.weight.*\(16, 6, 3, 3\).*\(16, 6, 5, 5\)"):
        ca.create_model("lenet5", weights=str(tmp_path / "bad.safetensors"))


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = ca.create_model("lenet5").state_dict()
    del state["features.conv2.bias"]
    state["features.extra.weight"] = torch.zeros(3)
    save_file(state, str(tmp_path / "partial.safetensors"))
    pattern = r"1 of the model's tensors are not in the file \(features\.conv2\.bias\).*features\.extra\.weight"
    with pytest.raises(ca.WeightsError, match=pattern):
        ca.create_model("lenet5", weights=str(tmp_path / "partial.safetensors"))
    model = ca.create_model("lenet5")
    report = ca.load_weights(model, tmp_path / "partial.safetensors", strict=False)
    assert report.missing == ["features.conv2.bias"] and report.unexpected == ["features.extra.weight"]
    assert torch.equal(model.features.conv1.weight, state["features.conv1.weight"])


def test_a_file_of_another_network_is_recognised_as_such(tmp_path: Path) -> None:
    save_file({"encoder.layer0.weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ca.WeightsError, match="does not fit this model in any known layout"):
        ca.create_model("lenet5", weights=str(tmp_path / "other.safetensors"))


def test_pretrained_cfg_and_checkpoint_round_trip(alexnet_reference, tmp_path: Path, monkeypatch) -> None:
    reference, pth = alexnet_reference
    source = serve_locally(monkeypatch, "alexnet", pth)
    model = ca.create_model("alexnet", weights="imagenet").eval()
    cfg = model.pretrained_cfg
    assert cfg["tag"] == source.tag and cfg["resize"] == 256 and cfg["crop"] == 224
    assert cfg["mean"] == list(source.preprocess.mean) and cfg["input_size"] == [3, 224, 224]
    saved = ca.save(model, tmp_path / "alexnet.safetensors")
    loaded = ca.load(saved).eval()
    assert loaded.pretrained_cfg["tag"] == source.tag
    x = torch.randn(1, 3, 64, 64)
    assert max_diff(loaded, reference, x) <= 1e-5
    again = ca.create_model("alexnet", weights=str(saved))  # our layout, preprocessing from the header
    assert again.pretrained_cfg["layout"] == "convarch" and again.pretrained_cfg["resize"] == 256


def test_pretrained_true_is_the_default_source(alexnet_reference, monkeypatch) -> None:
    reference, pth = alexnet_reference
    source = serve_locally(monkeypatch, "alexnet", pth)
    model = ca.create_model("alexnet", pretrained=True).eval()  # timm's spelling
    assert model.pretrained_cfg["tag"] == source.tag
    assert max_diff(model, reference, torch.randn(1, 3, 64, 64)) <= 1e-5
    with pytest.raises(ca.ConfigError, match="either weights='timm' or pretrained=True"):
        ca.create_model("alexnet", weights="timm", pretrained=True)


def test_loading_into_a_built_model_keeps_its_device_and_dtype(tmp_path: Path) -> None:
    source = ca.create_model("lenet5")
    save_file({k: v.half() for k, v in source.state_dict().items()}, str(tmp_path / "half.safetensors"))
    model = ca.create_model("lenet5")
    ca.load_weights(model, tmp_path / "half.safetensors")
    assert model.features.conv1.weight.dtype == torch.float32
    assert torch.equal(model.features.conv1.weight, source.features.conv1.weight.half().float())


@pytest.mark.skipif("googlenet" not in ca.list_models(), reason="GoogLeNet is not in the zoo yet")
def test_googlenet_weights_expect_half_mean_half_std(tmp_path: Path, monkeypatch) -> None:
    """torchvision's transform_input=True equals normalising with mean = std = 0.5, which we record."""
    reference = torchvision.models.googlenet(weights=None, init_weights=True, transform_input=True).eval()
    randomise_batch_norm(reference)
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    ours = ca.create_model("googlenet", weights=str(path)).eval()
    pixels = torch.rand(2, 3, 64, 64)
    imagenet = transforms_v2.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))(pixels)
    cfg = ours.pretrained_cfg
    recorded = transforms_v2.Normalize(cfg["mean"], cfg["std"])(pixels)
    assert cfg["mean"] == [0.5, 0.5, 0.5] and cfg["std"] == [0.5, 0.5, 0.5]
    assert max_diff(ours, reference, recorded, imagenet) <= 1e-5
