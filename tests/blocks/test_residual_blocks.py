"""RES and BOTTLENECK: channel arithmetic, where the stride sits, which shortcut is used, pre-activation."""

from __future__ import annotations

import pytest
import torch

import convarch as ca
from convarch.blocks.residual import bottleneck, res
from convarch.nn.model import ConvNet
from convarch.spec import NetSpec, Seq, Volume
from convarch.spec.walk import output_volume, trace


def net(block, size=(64, 16, 16)) -> NetSpec:
    return NetSpec(Seq((block,)), Volume.of(size))


def convs(spec: NetSpec) -> dict[str, tuple[int, int]]:
    return {s.path: s.layer.s for s in trace(spec) if s.layer.kind == "CONV"}


def test_bottleneck_expands_four_times_and_projects_only_when_the_volume_changes() -> None:
    first, later = net(bottleneck(64), (64, 16, 16)), net(bottleneck(64), (256, 16, 16))
    assert output_volume(first) == Volume(256, 16, 16) == output_volume(later)
    assert any(".shortcut." in s.path for s in trace(first)), "64 -> 256 maps needs the projection"
    assert not any(".shortcut." in s.path for s in trace(later)), "same volume: identity shortcut"
    # He et al. 2015 Fig. 5 (right): 1x1 256->64, 3x3 64->64, 1x1 64->256, each with a BN (2 params per map).
    body = 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256)
    assert ca.analyze(later).params == body
    assert ca.analyze(first).params == body - 192 * 64 + 64 * 256 + 2 * 256  # 64 inputs; + projection 1x1 + BN


def test_stride_sits_in_the_3x3_for_v1_5_and_in_the_first_1x1_for_the_paper() -> None:
    v15, v1 = net(bottleneck(128, s=2)), net(bottleneck(128, s=2, stride_in="conv1"))
    assert convs(v15)["features.0.body.conv1"] == (1, 1) and convs(v15)["features.0.body.conv2"] == (2, 2)
    assert convs(v1)["features.0.body.conv1"] == (2, 2) and convs(v1)["features.0.body.conv2"] == (1, 1)
    assert convs(v1)["features.0.shortcut.conv1"] == (2, 2) == convs(v15)["features.0.shortcut.conv1"]
    assert output_volume(v1) == output_volume(v15) == Volume(512, 8, 8)
    assert ca.analyze(v1).params == ca.analyze(v15).params
    # v1's first 1x1 runs on the 8x8 output grid instead of the 16x16 input: the only difference in cost.
    assert ca.analyze(v15).macs - ca.analyze(v1).macs == (16 * 16 - 8 * 8) * 64 * 128


def test_basic_block_strides_in_its_first_conv() -> None:
    spec = net(res(128, s=2))
    assert convs(spec)["features.0.body.conv1"] == (2, 2) and convs(spec)["features.0.body.conv2"] == (1, 1)
    assert output_volume(spec) == Volume(128, 8, 8)


def test_zero_padded_shortcut_adds_no_parameters() -> None:
    option_a, option_b = net(res(32, s=2, shortcut="zeropad"), (16, 8, 8)), net(res(32, s=2), (16, 8, 8))
    body = 9 * 16 * 32 + 9 * 32 * 32 + 2 * (32 + 32)
    assert ca.analyze(option_a).params == body
    assert ca.analyze(option_b).params == body + 16 * 32 + 2 * 32
    y = ConvNet(option_a).eval().forward_features(torch.randn(2, 16, 8, 8))
    assert y.shape == (2, 32, 4, 4)


def test_preactivation_feeds_the_projection_and_keeps_the_identity_raw() -> None:
    block = bottleneck(16, s=2, preact=True)
    layers = [s.path.removeprefix("features.0.") for s in trace(net(block))]
    assert layers[:2] == ["pre.bn1", "pre.relu1"] and layers[-1] == "shortcut.conv1"
    assert "body.bn3" not in layers and "post" not in " ".join(layers), "nothing after the addition"
    unit = ConvNet(net(block, (32, 16, 16))).eval().features[0]
    x = torch.randn(2, 32, 16, 16)
    with torch.no_grad():
        inner = unit.pre(x)
        torch.testing.assert_close(unit(x), unit.body(inner) + unit.shortcut(inner))
    identity = ConvNet(net(res(32, preact=True), (32, 16, 16))).eval().features[0]
    with torch.no_grad():
        torch.testing.assert_close(identity(x), identity.body(identity.pre(x)) + x)


def test_wide_bottleneck_widens_only_the_inside() -> None:
    spec = net(bottleneck(64, widen=2), (256, 8, 8))
    widths = [s.output.c for s in trace(spec) if s.layer.kind == "CONV"]
    assert widths == [128, 128, 256]


def test_grouped_bottleneck_groups_only_the_3x3() -> None:
    """ResNeXt-50 (32x4d)'s first-stage block: 32 groups of 4 channels in the 3x3 (Xie et al. 2017 Fig. 3c)."""
    spec = net(bottleneck(64, widen=2, groups=32), (256, 8, 8))
    groups = [s.layer.groups for s in trace(spec) if s.layer.kind == "CONV"]
    assert groups == [1, 32, 1]
    inside = 256 * 128 + 9 * 128 * 128 // 32 + 128 * 256 + 2 * (128 + 128 + 256)
    assert ca.analyze(spec).params == inside


def test_dropout_sits_between_the_two_convs() -> None:
    kinds = [s.layer.kind for s in trace(net(res(16, preact=True, dropout=0.3), (16, 8, 8)))]
    assert kinds == ["BN", "RELU", "CONV", "BN", "RELU", "DROPOUT", "CONV"]


@pytest.mark.parametrize(
    "text",
    [
        "BOTTLENECK(128, s=2, stride_in=conv1, widen=2)",
        "BOTTLENECK(64, widen=2, se=16, groups=32)",
        "RES(16, s=2, shortcut=zeropad)",
        "RES(64, preact=true)",
    ],
)
def test_options_print_and_parse_back(text: str) -> None:
    spec = ca.parse(f"INPUT(32x32x16) -> {text}")
    assert ca.to_pattern(spec) == f"INPUT(32x32x16) -> {text}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("BOTTLENECK(64, stride_in=conv3)", "stride_in must be one of conv1, conv2"),
        ("RES(64, shortcut=identity)", "shortcut must be one of projection, zeropad"),
        ("BOTTLENECK(64, widen=0)", "widen must be a positive integer"),
        ("BOTTLENECK(64, groups=0)", "groups must be a positive integer"),
    ],
)
def test_bad_options_name_the_choices(text: str, message: str) -> None:
    with pytest.raises(ca.PatternError, match=message):
        ca.parse(f"INPUT(32x32x16) -> {text}")
