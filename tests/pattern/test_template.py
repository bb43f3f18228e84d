"""The seed's generic pattern, verbatim, binds into a working, trainable network with documented defaults."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import convarch as ca
from convarch.spec.bind import BASE_WIDTH, DEFAULT_INPUT, DEFAULT_NUM_CLASSES, HIDDEN_WIDTH, MAX_WIDTH
from convarch.spec.layers import FC, Conv, Pool
from convarch.spec.walk import trace

SEED = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"


def layers_of(spec: ca.NetSpec, kind: type) -> list:
    """The layers of one kind, in the order the network applies them."""
    return [step.layer for step in trace(spec) if isinstance(step.layer, kind)]


def test_the_seed_pattern_builds_with_the_documented_defaults() -> None:
    model = ca.build(SEED, input_size=(3, 32, 32), num_classes=10, N=2, M=3, K=1)
    convs, fcs = layers_of(model.spec, Conv), layers_of(model.spec, FC)
    # Bare CONV: 3x3, P = (F - 1)/2, a width that starts at BASE_WIDTH and doubles after each POOL (VGG §2.1).
    assert [(c.f, c.p, c.out) for c in convs] == [((3, 3), (1, 1), BASE_WIDTH * 2**i) for i in range(3) for _ in "NN"]
    assert layers_of(model.spec, Pool) == [Pool(2)] * 3  # a bare POOL is 2x2 max pooling, stride 2
    assert [fc.out for fc in fcs] == [HIDDEN_WIDTH, 10]  # hidden FCs, then the classes
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_the_seed_pattern_trains() -> None:
    model = ca.build(SEED, input_size=(3, 32, 32), num_classes=10, N=2, M=3, K=1)
    labels = torch.arange(8) % 4
    images = torch.randn(8, 3, 32, 32) * 0.5 + (labels.float() - 1.5)[:, None, None, None]  # learnable classes
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < 0.6 * losses[0], losses


def test_without_keywords_a_bare_input_and_the_last_fc_get_the_defaults() -> None:
    spec = ca.build("INPUT -> CONV -> POOL -> FC", base_width=8).spec
    assert spec.input == ca.Volume.of(DEFAULT_INPUT)
    assert layers_of(spec, FC)[-1].out == DEFAULT_NUM_CLASSES


def test_optional_pools_are_dropped_where_they_no_longer_fit() -> None:
    """At 32x32, five 2x2/2 pools reach 1x1; with M=7 the last two POOL? are left out (optional='auto')."""
    spec = ca.bind(ca.parse(SEED), input_size=(3, 32, 32), N=1, M=7, K=0)
    assert len(layers_of(spec, Pool)) == 5
    assert [c.out for c in layers_of(spec, Conv)] == [min(BASE_WIDTH * 2**i, MAX_WIDTH) for i in range(7)]
    assert ca.analyze(spec).rows[-2].output == "1x1x512"
    assert len(layers_of(ca.bind(ca.parse(SEED), N=1, M=3, K=0, optional="drop"), Pool)) == 0
    with pytest.raises(ca.SizingError, match="collapses"):
        ca.bind(ca.parse(SEED), input_size=(3, 32, 32), N=1, M=7, K=0, optional="keep")


def test_widths_are_options_and_k_zero_leaves_only_the_classifier() -> None:
    spec = ca.build(SEED, N=1, M=2, K=0, base_width=16, hidden_width=64, num_classes=3).spec
    assert [c.out for c in layers_of(spec, Conv)] == [16, 32]
    assert [fc.out for fc in layers_of(spec, FC)] == [3]
    spec = ca.build(SEED, N=1, M=2, K=2, hidden_width=64).spec
    assert [fc.out for fc in layers_of(spec, FC)] == [64, 64, DEFAULT_NUM_CLASSES]


def test_keywords_win_over_the_text() -> None:
    spec = ca.build("INPUT(64x64x1) -> CONV3-8 -> GAP -> FC100", input_size=(3, 32, 32), num_classes=7).spec
    assert spec.input == ca.Volume(3, 32, 32) and layers_of(spec, FC)[-1].out == 7


@pytest.mark.parametrize("value", ["x", 0, -1, 10**9, 2.5, True])
def test_template_widths_must_be_whole_numbers_in_range(value: object) -> None:
    for option in ("base_width", "hidden_width", "max_width"):
        with pytest.raises(ca.ConfigError, match=f"{option} must be a whole number of units from 1 to 65,536"):
            ca.build("INPUT(16x16x1) -> [CONV -> RELU]*N -> FC", N=1, **{option: value})


def test_zero_classes_mean_the_same_network_to_build_analyze_and_check() -> None:
    text = "INPUT(16x16x3) -> [CONV -> RELU]*N -> POOL2 -> [FC -> RELU]*K -> FC"
    model = ca.build(text, N=2, K=1, num_classes=0)
    report = ca.analyze(text, N=2, K=1, num_classes=0)
    assert model.num_classes == 0
    assert report.params == sum(p.numel() for p in model.parameters())
    assert ca.to_pattern(model) == ca.to_pattern(ca.bind(ca.parse(text), N=2, K=1, num_classes=0))
    assert [row.kind for row in report.rows[-2:]] == ["FC", "RELU"]  # the hidden FC stays, the classifier goes
    assert ca.check(text, N=2, K=1, num_classes=0) == ca.check(model)
