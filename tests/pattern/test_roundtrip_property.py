"""``parse(to_pattern(s)) == s`` for random valid specs (the zoo models have their own test)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from pattern_strategies import elements, networks, registered_test_blocks

import convarch as ca
from convarch.spec.nodes import Seq

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _test_blocks():
    with registered_test_blocks():
        yield


@SETTINGS
@given(networks(with_blocks=True))
def test_printed_networks_parse_back_to_the_same_spec(spec: ca.NetSpec) -> None:
    text = ca.to_pattern(spec)
    assert ca.parse(text) == spec, text


@SETTINGS
@given(networks())
def test_canonical_text_is_a_fixed_point(spec: ca.NetSpec) -> None:
    """Printing is canonical: the text of a parsed text is the same text."""
    text = ca.to_pattern(spec)
    assert ca.to_pattern(ca.parse(text)) == text


@settings(max_examples=100, deadline=None)
@given(elements())
def test_every_element_round_trips_on_its_own(element) -> None:
    spec = ca.NetSpec(Seq((element,)))
    assert ca.parse(ca.to_pattern(spec)) == spec
