"""DENSE and TRANSITION: growth, concatenation order and compression; the CONV ratio width they rely on."""

from __future__ import annotations

import pytest
import torch

import convarch as ca
from convarch.blocks.dense import dense, transition
from convarch.nn.model import ConvNet
from convarch.spec import Conv, NetSpec, Seq, Volume
from convarch.spec.bind import bind, is_template
from convarch.spec.walk import output_volume


def net(*blocks, size) -> NetSpec:
    return NetSpec(Seq(blocks), Volume.of(size))


def test_dense_block_grows_by_k_per_layer() -> None:
    spec = net(dense(6, k=32), size=(64, 8, 8))
    assert output_volume(spec) == Volume(64 + 6 * 32, 8, 8)
    # Layer l sees 64 + 32(l - 1) maps: BN, 1x1 conv to 4k = 128, BN, 3x3 conv to k = 32 (Huang et al. §3).
    expected = sum(2 * c + c * 128 + 2 * 128 + 9 * 128 * 32 for c in range(64, 64 + 6 * 32, 32))
    assert ca.analyze(spec).params == expected


def test_dense_block_output_starts_with_its_input() -> None:
    module = ConvNet(net(dense(3, k=4), size=(5, 6, 6))).eval().features[0]
    x = torch.randn(2, 5, 6, 6)
    with torch.no_grad():
        y = module(x)
        first = module.layer1(x)
    assert torch.equal(y[:, :5], x)  # [x_0, x_1, ..., x_l], torchvision's order
    torch.testing.assert_close(y[:, 5:9], first)


@pytest.mark.parametrize(("maps", "kept"), [(256, 128), (255, 127), (10, 5)])
def test_transition_compresses_to_floor_theta_m_and_halves_the_size(maps: int, kept: int) -> None:
    assert output_volume(net(transition(0.5), size=(maps, 8, 8))) == Volume(kept, 4, 4)


def test_transition_prints_its_theta() -> None:
    text = "INPUT(56x56x64) -> DENSE(6) -> TRANSITION(0.5) -> DENSE(12, k=12, bn_size=2)"
    assert ca.to_pattern(ca.parse(text)) == text


# ---- the core change: CONV with a width relative to its input ------------------------------------------


def test_conv_ratio_sets_the_width_from_the_input() -> None:
    conv = Conv(None, 1, bias=False, ratio=0.5)
    assert conv.text() == "CONV1(bias=false, ratio=0.5)"
    spec = ca.parse("INPUT(8x8x10) -> CONV1(ratio=0.5)")
    assert output_volume(spec) == Volume(5, 8, 8) and ca.analyze(spec).params == 10 * 5 + 5
    assert ConvNet(spec)(torch.randn(1, 10, 8, 8)).shape == (1, 5, 8, 8)
    assert not is_template(spec.layers) and bind(spec) == spec  # not a width for bind to fill


@pytest.mark.parametrize(("kwargs", "message"), [({"out": 4, "ratio": 0.5}, "not both"), ({"ratio": -1}, "positive")])
def test_conv_ratio_is_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ca.ConfigError, match=message):
        Conv(f=1, **kwargs)


@pytest.mark.parametrize("text", ["DENSE(0)", "DENSE(4, k=0)", "TRANSITION(2.0)", "TRANSITION(0)"])
def test_block_arguments_out_of_range_are_pattern_errors(text: str) -> None:
    with pytest.raises(ca.PatternError, match="DENSE|TRANSITION"):
        ca.parse(f"INPUT(8x8x16) -> {text}")
