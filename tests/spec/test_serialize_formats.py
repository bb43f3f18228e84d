"""Specs saved before the node protocol (format 1, written by commit 48180b9) still load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import convarch as ca
from convarch.errors import ConfigError
from convarch.spec.serialize import FORMAT, spec_from_dict, spec_from_json, spec_to_dict, spec_to_json

FORMAT_1 = (Path(__file__).parent / "spec_format1.json").read_text()
PATTERN_1 = (
    "INPUT(32x32x3) -> CONV3-16(bias=false) -> BN -> RELU -> [RES(16)]*2 -> BOTTLENECK(8, s=2) -> "
    "{CONV1-8 | [POOL3(s=1, p=1) -> CONV1-8]} -> DENSE(2, k=4) -> TRANSITION(0.5) -> GAP -> DROPOUT(0.2) -> FC10"
)


def test_a_format_1_spec_loads_as_the_network_it_was() -> None:
    assert "format" not in json.loads(FORMAT_1)
    loaded = spec_from_json(FORMAT_1)
    assert loaded == ca.parse(PATTERN_1)
    assert ca.analyze(loaded).params == ca.analyze(PATTERN_1).params


def test_new_specs_carry_their_format_and_round_trip() -> None:
    spec = ca.parse("INPUT(32x32x16) -> INVRES(24, t=6, s=2) -> SE(4) -> DWCONV3 -> RELU6 -> SIGMOID -> GAP -> FC10")
    assert spec_to_dict(spec)["format"] == FORMAT
    assert spec_from_json(spec_to_json(spec)) == spec


def test_a_newer_format_is_refused_with_the_reason() -> None:
    data = {**json.loads(FORMAT_1), "format": FORMAT + 1}
    with pytest.raises(ConfigError, match="newer"):
        spec_from_dict(data)
