"""A torchvision state dict (random weights) loads into ours through the key map and gives the same outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision

import convarch as ca
from convarch.zoo.keymaps import from_layout
from convarch.zoo.registry import get_entry

NAMES = [n for n in ca.list_models() if "torchvision" in get_entry(n).key_maps]


def test_every_torchvision_model_of_the_plain_families_has_a_key_map() -> None:
    assert {"alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_same_outputs_as_torchvision(name: str) -> None:
    reference = torchvision.models.get_model(name, num_classes=10).eval()
    for module in reference.modules():  # non-trivial BN statistics, so a mix-up would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    with torch.device("meta"):  # no time spent initialising weights that are overwritten
        ours = ca.create_model(name, num_classes=10).eval()
    state = from_layout(name, reference.state_dict(), "torchvision", ours.spec)
    result = ours.load_state_dict(state, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        diff = (ours(x) - reference(x)).abs().max().item()
    assert diff <= 1e-5, f"{name}: max abs difference {diff}"
