"""Any valid pattern draws legibly in every style, at any input size; what analyze refuses, draw refuses alike."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.draw.geometry import collisions
from tests.pattern.pattern_strategies import networks, registered_test_blocks

import convarch as ca
from convarch.spec.bind import variables_of
from convarch.spec.nodes import NetSpec

STYLES = ("volumes", "block", "graph")


@pytest.fixture(scope="module", autouse=True)
def _test_blocks():  # type: ignore[no-untyped-def]
    with registered_test_blocks():
        yield


BINDINGS = {"N": 2, "M": 1, "K": 1}  # other variables get 1


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(with_blocks=True), st.sampled_from([(3, 32, 32), (1, 7, 5), (3, 300, 224)]))
def test_random_networks_draw_or_fail_as_analyze_does(spec: NetSpec, size: tuple[int, int, int]) -> None:
    keywords = {"input_size": size, **{name: BINDINGS.get(name, 1) for name in variables_of(spec)}}
    try:
        report = ca.analyze(spec, **keywords)
    except ca.ConvarchError as refused:
        with pytest.raises(type(refused)) as drawn:
            ca.draw(spec, **keywords)
        assert str(drawn.value) == str(refused)
        return
    for style in STYLES:
        try:
            svg = ca.draw(spec, style=style, **keywords).svg
        except ca.ConfigError as error:  # a network without blocks has nothing for the block style
            assert style == "block" and "no composite block" in str(error)
            continue
        assert not collisions(svg), (style, str(spec))
        assert str(report.input) in svg or style == "block"


@pytest.mark.parametrize("size", [(3, 32, 32), (3, 1024, 768), (1, 4096, 4096)])
def test_a_zoo_model_draws_at_any_input_size(size: tuple[int, int, int]) -> None:
    for style in STYLES:
        svg = ca.draw("resnet18", style=style, input_size=size).svg
        assert not collisions(svg)
        assert str(ca.analyze("resnet18", input_size=size).rows[-1].output) in svg or style == "block"


def test_an_open_concatenation_has_its_slices_in_the_legend_in_colours_no_layer_uses() -> None:
    from convarch.draw.style import COLOURS, OTHER, SLICES

    svg = ca.draw("INPUT(32x32x3) -> {CONV1-16 | CONV3-16 | POOL3(s=1, p=1)} -> GAP -> FC10").svg
    assert "slices: concatenated branches or layers" in svg
    assert not set(SLICES) & {*COLOURS.values(), OTHER}  # a stripe never reads as a pool or an FC
