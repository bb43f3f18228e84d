"""Sequence, repeat, optional, parallel, residual (identity, projection, option A, pre-activation,
scaling) and dense growth: volumes, parameter counts and built modules agree on small specs."""

from __future__ import annotations

import pytest
import torch

import convarch as ca
from convarch.errors import ConfigError, PatternError, SizingError
from convarch.nn.model import ConvNet
from convarch.spec import BN, FC, GAP, Conv, Dense, NetSpec, Opt, Parallel, Pool, Relu, Repeat, Residual, Seq, Volume
from convarch.spec.bind import bind
from convarch.spec.layers import ZeroPad
from convarch.spec.walk import output_volume, split, trace


def net(*layers, size=(8, 16, 16)) -> NetSpec:
    return NetSpec(Seq(layers), Volume.of(size))


def check_built(spec: NetSpec) -> torch.Tensor:
    """Build, run, and compare shapes and parameter counts with the static analysis."""
    model = ConvNet(spec).eval()
    x = torch.randn(2, *spec.input.chw)
    y = model.forward_features(x)
    out = output_volume(NetSpec(Seq(tuple(node for _, node in split(spec).features)), spec.input))
    assert tuple(y.shape[1:]) == out.chw
    assert sum(p.numel() for p in model.parameters()) == ca.analyze(spec).params
    return y


def test_sequence_and_repeat() -> None:
    spec = net(Repeat(Seq((Conv(8, 3), Relu())), 3), Pool(2))
    assert len(trace(spec)) == 7
    assert check_built(spec).shape == (2, 8, 8, 8)


def test_parallel_concatenates_channels() -> None:
    branches = Parallel((Conv(4, 1), Seq((Conv(2, 1), Conv(6, 3))), Seq((Pool(3, s=1, p=1), Conv(3, 1)))))
    spec = net(branches)
    assert output_volume(spec) == Volume(13, 16, 16)
    check_built(spec)


def test_parallel_branches_must_agree_on_size() -> None:
    with pytest.raises(SizingError, match=r"branch1: 16x16x4, branch2: 8x8x4"):
        output_volume(net(Parallel((Conv(4, 1), Conv(4, 3, s=2)))))


def test_residual_identity_and_projection() -> None:
    identity = Residual(Seq((Conv(8, 3), BN(), Relu(), Conv(8, 3), BN())), post=Relu())
    down = Residual(
        Seq((Conv(16, 3, s=2, bias=False), BN(), Relu(), Conv(16, 3, bias=False), BN())),
        shortcut=Seq((Conv(16, 1, s=2, bias=False), BN())),
        post=Relu(),
    )
    spec = net(identity, down)
    paths = [step.path for step in trace(spec)]
    assert "features.0.shortcut.conv1" not in paths  # identity: the projection is not used
    assert "features.1.shortcut.conv1" in paths
    y = check_built(spec)
    assert y.shape == (2, 16, 8, 8)
    y.sum().backward()  # the in-place residual add keeps autograd intact


def test_residual_without_projection_cannot_change_shape() -> None:
    with pytest.raises(SizingError, match="identity shortcut cannot be added"):
        output_volume(net(Residual(Conv(16, 3, s=2))))
    with pytest.raises(SizingError, match="shortcut gives 16x16x16 but the body gives 8x8x16"):
        output_volume(net(Residual(Conv(16, 3, s=2), shortcut=Conv(16, 1))))


def test_option_a_shortcut_is_parameter_free() -> None:
    block = Residual(Seq((Conv(16, 3, s=2), Relu(), Conv(16, 3))), shortcut=ZeroPad(16, s=2))
    spec = net(block)
    assert ca.analyze(spec).params == ca.analyze(net(Conv(16, 3, s=2), Relu(), Conv(16, 3))).params
    model = ConvNet(spec).eval()
    x = torch.randn(1, 8, 16, 16)
    skip = model.features[0].shortcut(x)
    assert torch.equal(skip[:, 4:12], x[:, :, ::2, ::2]) and skip[:, :4].abs().sum() == 0


def test_preactivation_feeds_the_projection_but_not_the_identity() -> None:
    pre = Seq((BN(), Relu()))
    block = Residual(Seq((Conv(8, 3),)), pre=pre)
    model = ConvNet(net(block)).eval()
    x = torch.randn(1, 8, 16, 16)
    unit = model.features[0]
    expected = unit.body(unit.pre(x)) + x
    assert torch.allclose(model.forward_features(x), expected)
    down = Residual(Seq((Conv(16, 3, s=2),)), shortcut=Conv(16, 1, s=2), pre=pre)
    unit = ConvNet(net(down)).eval().features[0]
    inner = unit.pre(x)
    assert torch.allclose(unit(x), unit.body(inner) + unit.shortcut(inner))


def test_residual_scaling() -> None:
    block = Residual(Seq((Conv(8, 3),)), scale=0.2, post=Relu())
    unit = ConvNet(net(block)).eval().features[0]
    x = torch.randn(1, 8, 16, 16)
    assert torch.allclose(unit(x), torch.relu(unit.body(x) * 0.2 + x))


def test_dense_growth() -> None:
    layer = Seq((BN(), Relu(), Conv(16, 1, bias=False), BN(), Relu(), Conv(4, 3, bias=False)))
    spec = net(Dense(layer, 5))
    assert output_volume(spec) == Volume(8 + 5 * 4, 16, 16)
    y = check_built(spec)
    x_first_channels = y[:, :8]
    assert x_first_channels.shape == (2, 8, 16, 16)
    with pytest.raises(SizingError, match="dense layer must keep H x W"):
        output_volume(net(Dense(Conv(4, 3, s=2), 2)))


def test_optional_is_kept_only_where_it_fits() -> None:
    template = NetSpec(Seq((Repeat(Seq((Conv(None, 3), Relu(), Opt(Pool(2)))), "M"), FC(None))))
    spec = bind(template, input_size=(3, 8, 8), M=5)
    pools = [s for s in trace(spec) if s.layer.kind == "POOL"]
    assert len(pools) == 3  # 8 -> 4 -> 2 -> 1, then no room for more
    assert bind(template, input_size=(3, 8, 8), M=2, optional="drop") != bind(template, input_size=(3, 8, 8), M=2)
    with pytest.raises(ConfigError):
        bind(template, M=2, optional="sometimes")


def test_template_widths_double_after_each_pool() -> None:
    template = NetSpec(Seq((Repeat(Seq((Conv(None, 3), Relu(), Pool(2))), "M"), FC(None), Relu(), FC(None))))
    spec = bind(template, input_size=(3, 32, 32), M=3, num_classes=7, base_width=16, hidden_width=64)
    convs = [s.layer.out for s in trace(spec) if s.layer.kind == "CONV"]
    fcs = [s.layer.out for s in trace(spec) if s.layer.kind == "FC"]
    assert convs == [16, 32, 64] and fcs == [64, 7]


def test_unbound_variables_are_named() -> None:
    template = NetSpec(Seq((Repeat(Conv(8, 3), "N"), Repeat(Conv(8, 3), "K"))))
    with pytest.raises(PatternError, match="unbound template variables K, N"):
        bind(template)


def test_gap_head_and_flat_vectors() -> None:
    spec = net(Conv(8, 3), GAP(), FC(5))
    model = ConvNet(spec)
    assert model.num_features == 8 and model(torch.randn(2, 8, 16, 16)).shape == (2, 5)


def test_a_labelled_layer_can_be_a_branch() -> None:
    # Found by the fuzz test: a labelled primitive used as a whole branch is a container of one named item.
    spec = ca.parse("INPUT(8x8x3) -> {CONV1-4 | a: RELU | POOL3(s=1, p=1)} -> GAP -> FC2")
    assert "features.0.branch2.a" in [step.path for step in trace(spec)]
    assert ConvNet(spec)(torch.randn(1, 3, 8, 8)).shape == (1, 2)


def test_a_misspelt_keyword_is_refused_by_every_entry_point() -> None:
    seed = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"
    for entry in (ca.build, ca.analyze, ca.check):
        with pytest.raises(ConfigError, match="'hidden_widht' is not a template variable.*Did you mean hidden_width"):
            entry(seed, N=1, M=1, K=1, hidden_widht=64)
    with pytest.raises(ConfigError, match="its variables are K, M, N.*Did you mean N"):
        ca.build(seed, N=1, M=1, K=1, NN=2)


def test_build_with_num_classes_resizes_auxiliary_heads_too() -> None:
    model = ca.build("googlenet_paper", num_classes=7).train()
    out = model(torch.randn(1, 3, 224, 224))
    assert out.logits.shape == (1, 7) and all(a.shape == (1, 7) for a in out.aux)
