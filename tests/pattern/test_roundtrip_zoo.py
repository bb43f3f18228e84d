"""Every zoo model prints as canonical pattern text that parses back to the same spec."""

from __future__ import annotations

import pytest

import convarch as ca
from convarch.spec.serialize import spec_from_json, spec_to_json


@pytest.mark.parametrize("name", ca.list_models())
def test_pattern_round_trip(name: str) -> None:
    spec = ca.spec_of(name)
    text = ca.to_pattern(spec)
    assert ca.parse(text) == spec, text
    assert spec_from_json(spec_to_json(spec)) == spec


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "alexnet_paper", "zfnet", "vgg16", "vgg16_bn"])
def test_plain_families_print_as_plain_layer_chains(name: str) -> None:
    text = ca.to_pattern(name)
    assert "[" not in text and "{" not in text
    assert text.startswith("INPUT(")
