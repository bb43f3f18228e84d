"""INVRES (MobileNetV2) and SE (squeeze-and-excitation) against torchvision's and timm's modules."""

from __future__ import annotations

import pytest
import timm
import torch
from torchvision.models.mobilenetv2 import InvertedResidual

import convarch as ca
from convarch.errors import SizingError
from convarch.nn.layers import ResidualUnit
from convarch.pattern.printer import to_pattern
from convarch.spec.serialize import spec_from_json, spec_to_json


def _ours(pattern: str) -> torch.nn.Module:
    return ca.build(pattern, num_classes=0).features[0].eval()


@pytest.mark.parametrize(("inp", "out", "s", "t"), [(16, 24, 2, 6), (24, 24, 1, 6), (32, 16, 1, 1), (16, 16, 1, 1)])
def test_inverted_residual_is_torchvisions(inp: int, out: int, s: int, t: int) -> None:
    pattern = f"INPUT(16x16x{inp}) -> INVRES({out}, t={t}, s={s})"
    reference = InvertedResidual(inp, out, s, t).eval()
    report = ca.analyze(pattern)
    assert report.params == sum(p.numel() for p in reference.parameters())
    assert report.macs == ca.analyze(reference, input_size=(inp, 16, 16)).macs
    ours = _ours(pattern)
    # The documented paths: torchvision's ``conv.N`` is ``body.N``.
    ours.load_state_dict({k.replace("conv.", "body.", 1): v for k, v in reference.state_dict().items()})
    x = torch.randn(2, inp, 16, 16)
    torch.testing.assert_close(ours(x), reference(x))
    assert isinstance(ours, ResidualUnit) and ours.skip == reference.use_res_connect


def test_inverted_residual_takes_an_explicit_hidden_width() -> None:
    report = ca.analyze("INPUT(8x8x16) -> INVRES(24, hidden=40)")
    assert report.rows[0].name == "CONV1-40(bias=false)"
    assert report.rows[3].name == "CONV3-40(groups=40, bias=false)"


def test_se_bottleneck_is_timms_legacy_block() -> None:
    reference = timm.create_model("legacy_seresnet50").layer1[0].eval()
    pattern = "INPUT(56x56x64) -> BOTTLENECK(64, se=16)"
    assert ca.analyze(pattern).params == sum(p.numel() for p in reference.parameters())
    renames = {"se_module.": "body.se.", "downsample.0": "shortcut.conv1", "downsample.1": "shortcut.bn1"}
    state = {}
    for key, value in reference.state_dict().items():
        new = next((key.replace(a, b) for a, b in renames.items() if key.startswith(a)), f"body.{key}")
        state[new] = value
    ours = _ours(pattern)
    ours.load_state_dict(state)
    x = torch.randn(1, 64, 56, 56)
    torch.testing.assert_close(ours(x), reference(x))


def test_se_counts_its_excitation_as_conv_macs() -> None:
    rows = ca.analyze("INPUT(14x14x256) -> SE(16)").rows
    assert [(r.path, r.kind) for r in rows] == [
        ("features.0.pool1", "POOL"), ("features.0.fc1", "CONV"), ("features.0.relu1", "RELU"),
        ("features.0.fc2", "CONV"), ("features.0.sigmoid1", "SIGMOID"),
    ]  # fmt: skip
    assert sum(r.macs for r in rows) == 2 * 256 * 16  # two 1x1 convs on a 1x1 map
    assert sum(r.params for r in rows) == 256 * 16 + 16 + 16 * 256 + 256


def test_depthwise_cost_shows_in_the_arithmetic() -> None:
    (row,) = ca.analyze("INPUT(56x56x96) -> DWCONV3(s=2)").rows
    assert (row.name, row.output, row.macs) == ("CONV3-96(s=2, groups=96)", "28x28x96", 28 * 28 * 96 * 9)


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("INPUT(8x8x100) -> SE(16)", "100 / 16 = 6.25"),
        ("INPUT(8x8x32) -> CONV3-50(groups=depthwise)", "50 / 32 = 1.5625"),
        ("INPUT(8x8x30) -> CONV3-64(groups=4)", "30 / 4 = 7.5"),
    ],
)
def test_bad_ratios_and_groups_are_sizing_errors_with_the_arithmetic(pattern: str, fragment: str) -> None:
    with pytest.raises(SizingError, match=fragment.replace(".", r"\.")):
        ca.analyze(pattern)
    (finding,) = [f for f in ca.check(pattern) if f.severity == "error"]
    assert finding.rule == "channel-mismatch" and fragment in finding.message


MOBILE = (
    "INPUT(32x32x3) -> CONV3-16(s=2, bias=false) -> BN -> RELU6 -> INVRES(8, t=1) -> INVRES(12, s=2) -> "
    "INVRES(12) -> BOTTLENECK(4, se=4) -> RES(16, se=8) -> SE(2) -> CONV1-32 -> SIGMOID -> DWCONV3(bias=false) -> "
    "CONV3(groups=depthwise) -> GAP -> FC10"
)


def test_new_tokens_print_parse_save_and_run() -> None:
    spec = ca.parse(MOBILE)
    assert ca.parse(to_pattern(spec)) == spec
    assert spec_from_json(spec_to_json(spec)) == spec
    model = ca.build(MOBILE).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [f for f in ca.check(MOBILE) if f.severity == "error"] == []


def test_module_hooks_give_the_spec_rows() -> None:
    spec_rows = ca.analyze(MOBILE).rows
    module_rows = ca.analyze(ca.build(MOBILE), input_size=(3, 32, 32)).rows
    assert [(r.path, r.name, r.kind, r.output, r.params, r.macs, r.allocates) for r in module_rows] == [
        (r.path, r.name, r.kind, r.output, r.params, r.macs, r.allocates) for r in spec_rows
    ]
