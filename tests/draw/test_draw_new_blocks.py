"""Drawing needs no list of node types: a gate (squeeze-and-excitation) and an inverted residual whose skip
applies only where the volumes agree (MobileNetV2) draw through the same generic reader."""

from __future__ import annotations

import re

import pytest
from tests.draw.geometry import collisions, read

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


def _figures(svg: str) -> list[str]:
    return re.findall(r'class="figure-title" data-path="([^"]+)"', svg)


def _ordered(paths: list[str]) -> list[str]:
    return list(dict.fromkeys(paths))


@pytest.mark.parametrize(
    "source", ["mobilenet_v2", "INPUT(32x32x16) -> SE(4) -> INVRES(24, t=6, s=2) -> INVRES(24) -> FC10"]
)
def test_block_style_shows_each_structure_of_a_block_the_inverted_residual_with_its_skip(source: str) -> None:
    """INVRES without expansion, without a skip and with both are three figures (Sandler et al. 2018, Fig. 4)."""
    svg = ca.draw(source, style="block").svg
    assert _figures(svg) == ["features.0", "features.1", "features.2"]  # mobilenet_v2: t=1; the pattern: SE
    shortcuts = re.findall(r'class="shortcut" data-path="([^"]+)"', svg)
    assert "features.2" in shortcuts and ">identity<" in svg and not collisions(svg)
    assert "features.1.body.0.0" in svg and ">CONV1-96<" in svg  # the expansion, which only t > 1 has


def test_block_style_shows_a_projection_and_an_identity_bottleneck_but_one_dense_block() -> None:
    resnet = ca.draw("resnet50", style="block").svg
    assert _figures(resnet) == ["features.layer1.0", "features.layer1.1"]
    assert ">projection<" in resnet and ">identity<" in resnet
    dense = ca.draw("densenet121", style="block").svg  # 6, 12, 24 and 16 layers: one structure, one figure
    assert _figures(dense) == ["features.denseblock1", "features.transition1"]


def test_the_se_gate_reads_squeeze_fc_relu_fc_sigmoid_then_scale() -> None:
    """Hu et al. 2017, Fig. 3: global pooling, FC (C/r), ReLU, FC (C), sigmoid, then the channel-wise scale."""
    svg = ca.draw("se_resnet50", style="block", at="layer1.1").svg
    gate = "features.layer1.1.body.se"
    inside = [
        p.removeprefix(gate + ".")
        for p in _ordered(re.findall(r'data-path="([^"]+)"', svg))
        if p.startswith(gate + ".")
    ]
    assert inside == ["pool1", "fc1", "relu1", "fc2", "sigmoid1"]
    for text in (">1x1x16<", ">1x1x256<", ">SIGMOID<", ">gate<", ">identity<"):
        assert text in svg, text
    assert re.search(rf'class="merge" data-path="{gate}"', svg) and not collisions(svg)  # the product node


def _loose_arrowheads(svg: str) -> list[tuple[float, float]]:
    """Arrowhead tips that touch no node, merge or box: an arrow into a bare split point."""
    _, shapes = read(svg)
    tips = [tuple(map(float, m.split(","))) for m in re.findall(r'<polygon points="([-\d.]+,[-\d.]+) ', svg)]
    near = lambda x, y, b: b[0] - 2 <= x <= b[2] + 2 and b[1] - 2 <= y <= b[3] + 2  # noqa: E731
    return [(x, y) for x, y in tips if not any(near(x, y, shape.extent) for shape in shapes)]


@pytest.mark.parametrize(("name", "at", "style"), [("se_resnet50", "layer1.0", "block"),
                                                   ("se_resnet50", "layer1.0", "graph"),
                                                   ("resnet34", "layer1.0", "block"),
                                                   ("inception_resnet_v2", "inception_resnet_a.0", "block"),
                                                   ("googlenet", "inception3a", "graph"),
                                                   ("densenet121", "denseblock1", "block")])  # fmt: skip
def test_every_arrow_ends_at_a_node_not_at_the_split_where_a_shortcut_leaves(name: str, at: str, style: str) -> None:
    svg = ca.draw(name, style=style, at=at, depth=9).svg
    assert "<polygon points=" in svg and _loose_arrowheads(svg) == []
