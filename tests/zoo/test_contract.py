"""The model contract, for every registered model. The list comes from the registry, not from here."""

from __future__ import annotations

import copy

import pytest
import torch
from tests.conftest import nominal_reduction, smallest_input

import convarch as ca
from convarch.nn.model import ConvNet
from convarch.zoo.registry import model_spec

MODELS = ca.list_models()


@pytest.fixture(scope="module", params=MODELS)
def small_model(request) -> tuple[str, ConvNet, tuple[int, int, int]]:
    """The model with 7 classes and 1 input channel, at the smallest input it accepts."""
    spec = smallest_input(model_spec(request.param, num_classes=7, in_chans=1))
    return request.param, ConvNet(spec).eval(), spec.input.chw


def test_output_shape_classes_and_channels(small_model) -> None:
    _name, model, size = small_model
    assert model.num_classes == 7 and model.in_chans == 1
    assert model(torch.randn(2, *size)).shape == (2, 7)


def test_channels_last_gives_the_same_output(small_model) -> None:
    _name, model, size = small_model
    x = torch.randn(2, *size)
    expected = model(x)
    cl_model = copy.deepcopy(model)
    got = cl_model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_forward_head_and_reset_classifier(small_model) -> None:
    _name, model, size = small_model
    x = torch.randn(2, *size)
    features = model.forward_features(x)
    pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    torch.testing.assert_close(model.forward_head(features), model(x))
    model.reset_classifier(0)
    assert model.num_classes == 0 and model(x).shape == (2, model.num_features)
    model.reset_classifier(5)
    assert model(x).shape == (2, 5) and model.num_classes == 5
    assert ca.to_pattern(model) == ca.to_pattern(model.spec) and ca.build(model.spec)(x).shape == (2, 5)
    model.reset_classifier(7)


@pytest.mark.parametrize("name", MODELS)
def test_num_classes_zero_gives_pooled_features(name: str) -> None:
    with torch.device("meta"):
        model = ca.create_model(name, num_classes=0)
    assert model.num_classes == 0 and isinstance(model.get_classifier(), torch.nn.Identity)
    last = ca.analyze(model.spec).rows[-1]
    assert last.output == f"1x1x{model.num_features}", "the features end as a flat vector"
    with torch.device("meta"):
        assert model(torch.empty(2, *model.spec.input.chw)).shape == (2, model.num_features)


@pytest.mark.parametrize("name", MODELS)
def test_feature_info_and_forward_intermediates_match_the_real_stage_outputs(name: str) -> None:
    model = ca.create_model(name).eval()
    c, h, w = model.spec.input.chw
    seen: dict[str, torch.Size] = {}
    modules = dict(model.named_modules())
    hooks = [
        modules[info["module"]].register_forward_hook(
            lambda m, i, o, key=info["module"]: seen.__setitem__(key, o.shape)
        )
        for info in model.feature_info
    ]
    x = torch.randn(1, c, h, w)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)  # one pass: the hooks watch the same modules
    for hook in hooks:
        hook.remove()
    assert [m.shape for m in maps] == [seen[info["module"]] for info in model.feature_info]
    assert torch.equal(final, maps[-1]), "the last stage ends where the features end"
    reductions = [info["reduction"] for info in model.feature_info]
    assert reductions == sorted(set(reductions)), "stages must be in order of growing reduction"
    for info in model.feature_info:
        shape = seen[info["module"]]
        assert shape[1] == info["num_chs"], info
        assert info["reduction"] == nominal_reduction(h, shape[2]), info
