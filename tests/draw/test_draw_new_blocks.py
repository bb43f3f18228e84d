"""Drawing needs no list of node types: a gate (squeeze-and-excitation) and an inverted residual whose skip
applies only where the volumes agree (MobileNetV2) draw through the same generic reader."""

from __future__ import annotations

import re

import pytest
from tests.draw.geometry import collisions

import convarch as ca
from convarch.spec.elementwise import Relu6, Sigmoid
from convarch.spec.layers import BN, FC, GAP, Conv, Pool, Relu
from convarch.spec.nodes import Gate, NetSpec, Residual, Seq
from convarch.spec.volume import Volume


def se_resnet() -> NetSpec:
    """Two basic blocks with a squeeze-and-excitation gate before the addition (Hu et al. 2017, Fig. 3)."""
    squeeze = Seq((Pool(out=1, type="avg"), Conv(16, 1), Relu(), Conv(64, 1), Sigmoid()))
    body = Seq((Conv(64, 3, bias=False), BN(), Relu(), Conv(64, 3, bias=False), BN(), Gate(squeeze, 4, label="se")))
    blocks = (Residual(body, post=Relu()), Residual(body, post=Relu()))
    return NetSpec(Seq((Conv(64, 3), BN(), Relu(), *blocks, GAP(), FC(10))), Volume(64, 32, 32))


def inverted_residuals() -> NetSpec:
    """MobileNetV2's block: a skip only where input and output volumes agree (Sandler et al. 2018, Fig. 4)."""

    def block(inner: int, out: int, s: int) -> Residual:
        layers = (Conv(inner, 1, bias=False), BN(), Relu6(), Conv(inner, 3, s=s, groups=inner, bias=False), BN(),
                  Relu6(), Conv(out, 1, bias=False), BN())  # fmt: skip
        return Residual(Seq(layers), skip_optional=True)

    return NetSpec(Seq((Conv(16, 3), block(96, 24, 2), block(144, 24, 1), GAP(), FC(10))), Volume(16, 32, 32))


@pytest.mark.parametrize("style", ["volumes", "block", "graph"])
def test_a_gate_draws_as_a_side_path_into_a_product(style: str) -> None:
    svg = ca.draw(se_resnet(), style=style, depth=9).svg
    assert not collisions(svg)
    if style != "graph":
        assert 'class="shortcut" data-path="features.0.body.se"' in svg  # the gate path
        assert ">gate<" in svg
    assert "features.0.body.se.conv1" in svg or style == "volumes"


def test_a_skip_is_drawn_only_where_it_applies() -> None:
    svg = ca.draw(inverted_residuals(), depth=9).svg
    shortcuts = re.findall(r'class="shortcut" data-path="([^"]+)"', svg)
    assert shortcuts == ["features.1"]  # the stride-2 block changes the volume and runs without a skip
    assert not collisions(svg)
    assert "features.0.body.conv2" in svg and "16x16x96" in svg


def test_identical_unnamed_blocks_collapse_into_runs() -> None:
    """MobileNetV2's table as bare residuals: repeated bottlenecks read as runs, as in its Table 2."""

    def block(cin: int, out: int, s: int) -> Residual:
        inner = 6 * cin
        layers = (Conv(inner, 1, bias=False), BN(), Relu6(), Conv(inner, 3, s=s, groups=inner, bias=False), BN(),
                  Relu6(), Conv(out, 1, bias=False), BN())  # fmt: skip
        return Residual(Seq(layers), skip_optional=True)

    blocks = [block(16, 24, 2), block(24, 24, 1), block(24, 32, 2), block(32, 32, 1), block(32, 32, 1)]
    net = NetSpec(Seq((Conv(16, 3), *blocks, GAP(), FC(10))), Volume(3, 64, 64))
    svg = ca.draw(net, depth=0).svg  # small enough to open by default: collapse it
    assert ">residual x2<" in svg and svg.count(">residual, no skip<") == 2 and not collisions(svg)
    assert 'data-members="features.3 features.4"' in svg
