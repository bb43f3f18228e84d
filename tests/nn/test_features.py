"""Stage feature maps: ``forward_intermediates`` and ``create_model(..., features_only=True)``, as in timm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import convarch as ca
from convarch.nn.features import FeatureExtractor


@pytest.fixture(scope="module")
def resnet18() -> ca.ConvNet:
    return ca.create_model("resnet18").eval()


def test_intermediates_are_the_stage_outputs_and_the_features(resnet18) -> None:
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        final, maps = resnet18.forward_intermediates(x)
        assert torch.equal(final, resnet18.forward_features(x))
        layer2 = resnet18.features[: [n for n, _ in resnet18.features.named_children()].index("layer2") + 1](x)
    assert [m.shape[1] for m in maps] == [64, 64, 128, 256, 512]
    assert [96 // m.shape[-1] for m in maps] == [i["reduction"] for i in resnet18.feature_info]
    assert torch.equal(maps[2], layer2)


@pytest.mark.parametrize(("indices", "channels"), [(None, [64, 64, 128, 256, 512]), (2, [256, 512]),
                                                   ([1, -1], [64, 512]), ((0,), [64])])  # fmt: skip
def test_indices_choose_stages_and_stop_early_stops(resnet18, indices, channels: list[int]) -> None:
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        maps = resnet18.forward_intermediates(x, indices, intermediates_only=True)
        final, _ = resnet18.forward_intermediates(x, indices, stop_early=True)
    assert [m.shape[1] for m in maps] == channels
    assert final.shape == maps[-1].shape  # nothing ran after the last chosen stage


@pytest.mark.parametrize(("indices", "message"), [(6, "last 6 stages, but this model has 5"),
                                                  ([5], r"stage index 5 is out of range: this model has stages 0\.\.4"),
                                                  ([], "indices is empty")])  # fmt: skip
def test_bad_indices_name_the_valid_range(resnet18, indices, message: str) -> None:
    with pytest.raises(ca.ConfigError, match=message):
        resnet18.forward_intermediates(torch.randn(1, 3, 64, 64), indices)
    with pytest.raises(ca.ConfigError, match=message):
        ca.create_model("resnet18", features_only=True, out_indices=indices)


def test_features_only_returns_the_chosen_maps_without_a_head(resnet18) -> None:
    backbone = ca.create_model("resnet18", features_only=True, out_indices=(1, 2, 3, 4)).eval()
    assert isinstance(backbone, FeatureExtractor)
    assert not any(key.startswith(("classifier", "pre_logits")) for key in backbone.state_dict())
    assert [i["num_chs"] for i in backbone.feature_info] == [64, 128, 256, 512]
    result = backbone.load_state_dict(resnet18.state_dict(), strict=False)  # same keys as the full model
    assert not result.missing_keys and set(result.unexpected_keys) == {"classifier.weight", "classifier.bias"}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = resnet18.forward_intermediates(x, [1, 2, 3, 4], intermediates_only=True)
        got = backbone(x)
    assert len(got) == 4 and all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_features_only_takes_weights_and_checks_its_input(tmp_path: Path) -> None:
    source = ca.create_model("lenet5").eval()
    path = ca.save(source, tmp_path / "lenet.safetensors")
    backbone = ca.create_model("lenet5", weights=str(path), features_only=True, in_chans=1).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        expected = source.forward_intermediates(x, intermediates_only=True)
        assert all(torch.equal(a, b) for a, b in zip(backbone(x), expected, strict=True))
    assert backbone.pretrained_cfg["layout"] == "convarch"
    with pytest.raises(ca.SizingError, match="too small"):
        backbone(torch.randn(1, 1, 4, 4))


def test_out_indices_without_features_only_is_refused() -> None:
    with pytest.raises(ca.ConfigError, match="add features_only=True"):
        ca.create_model("resnet18", out_indices=(1, 2))
