"""A zoo model starts from its reference implementation's initialisation, and the schemes do what they say."""

from __future__ import annotations

import pytest
import torch
import torchvision

import convarch as ca
from convarch.nn.init import SCHEMES, He, initialize
from convarch.zoo.keymaps import from_layout
from convarch.zoo.registry import get_entry

# One torchvision model per init scheme the zoo uses; the comparison covers every weight tensor.
REFERENCES = ["alexnet", "vgg11_bn", "resnet18", "densenet121", "googlenet"]


@pytest.mark.parametrize("name", REFERENCES)
def test_weights_start_with_the_reference_distribution(name: str) -> None:
    torch.manual_seed(0)
    options = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    reference = torchvision.models.get_model(name, **options)
    ours = ca.create_model(name)
    theirs = from_layout(name, reference.state_dict(), "torchvision", ours.spec)
    for key, tensor in ours.state_dict().items():
        if tensor.dtype != torch.float32 or tensor.numel() < 64:
            continue
        expected = theirs[key]
        if expected.std() == 0:
            assert tensor.std() == 0 and torch.equal(tensor, expected), key
        else:
            assert abs(tensor.std() / expected.std() - 1) < 0.1, (
                f"{key}: std {tensor.std():.4g} vs {expected.std():.4g}"
            )
            assert abs(tensor.mean() - expected.mean()) < 0.1 * expected.std() + 1e-3, key


def test_every_zoo_entry_uses_a_known_scheme() -> None:
    for name in ca.list_models():
        scheme = get_entry(name).init
        assert SCHEMES[scheme.name] == scheme, name


def test_a_scheme_object_and_its_name_initialise_alike() -> None:
    by_name, by_object = ca.create_model("vgg11_bn"), ca.create_model("vgg11_bn")
    torch.manual_seed(1)
    initialize(by_name, "he_fc0.01")
    torch.manual_seed(1)
    initialize(by_object, He(fc_std=0.01))
    for (key, a), b in zip(by_name.state_dict().items(), by_object.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ca.ConfigError, match="unknown init scheme 'xavier'; choose one of torch, he"):
        initialize(ca.create_model("lenet5"), "xavier")
