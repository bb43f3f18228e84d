"""Fuzzing the language: whatever the text, ``parse`` answers quickly with a spec or a PatternError.

Arbitrary strings, soups of the language's own tokens, and mutations of valid patterns (the zoo's and the
seed's) are fed to ``parse``. Anything other than a PatternError escaping, or a call slower than the
bound, is a parser bug. What parses is then checked: only a ConvarchError may come out of ``check``.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convarch as ca
from convarch.blocks import BLOCKS
from convarch.spec.bind import variables_of

TIME_BOUND_S = 5.0  # parse: catches a hang, not a loaded machine (once 4.4 s at load 20); a call takes < 10 ms
CHECK_BOUND_S = 3.0  # check may walk a big network a few dozen times to suggest an input size that works
SEED = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"
VALID = [
    SEED,
    "INPUT(32x32x3) -> {CONV1-16 | CONV3-8 -> RELU | POOL3(s=1, p=1)} -> stage: [BN -> RELU]*2? -> GAP -> FC10",
    "# comment\nINPUT(227x227x3)\n  -> CONV11-96(s=4, p=0) -> LRN(size=5) -> POOL3(s=2) → DROPOUT(0.5) -> FC-4096",
    *(ca.to_pattern(name) for name in ca.list_models()),
]
TOKENS = [
    *"[]{}()|*?,=:-#\n\t x.", "->", "→", "INPUT", "INPUT(32x32x3)", "CONV", "CONV3-64", "CONV1x7", "POOL2", "POOL",
    "FC", "FC-10", "RELU", "GAP", "BN", "LRN", "DROPOUT", "SOFTMAX", "ZEROPAD", "SUBSAMPLE", "RBF", "TANH",
    "N", "M", "s=", "p=", "f=", "out=", "type=avg", "ceil=true", "groups=0", "0", "1", "3", "65536", "65537",
    "1e999", "0.5", "1e-5", "9" * 60, "2x2", "3x3x3", "é", "٣", "\x00", "a:", "label:", "(64)", "(0)", "(0.5)",
    "(64, s=2)", "(1, 2, 3, 4, 5, 6)", "(k=0)", "(scale=2)", "(true)", "(width=3x3)", *BLOCKS,
]  # fmt: skip


def parse_within_bound(text: str) -> ca.NetSpec | None:
    start = time.perf_counter()
    try:
        spec = ca.parse(text)
    except ca.PatternError as error:
        message = str(error)
        assert message and error.reason, text
        if error.line:  # a positioned error points inside the text, with the caret excerpt
            assert 1 <= error.line <= text.count("\n") + 1 and error.column >= 1 and "^" in error.excerpt
        spec = None
    assert time.perf_counter() - start < TIME_BOUND_S, f"parse took too long on {text[:200]!r}"
    return spec


def check_parsed(spec: ca.NetSpec) -> None:
    """Whatever parses can be checked: findings or a ConvarchError, never another exception."""
    values = {name: 2 for name in variables_of(spec)}
    start = time.perf_counter()
    with contextlib.suppress(ca.ConvarchError):
        ca.check(spec, **values)
    assert time.perf_counter() - start < CHECK_BOUND_S


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    parse_within_bound(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_soups_of_the_languages_own_tokens(text: str) -> None:
    spec = parse_within_bound(text)
    if spec is not None:
        check_parsed(spec)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid pattern with a few spans deleted, replaced by tokens, or duplicated."""
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = min(len(text), start + draw(st.integers(0, 12)))
        action = draw(st.sampled_from(["delete", "replace", "duplicate"]))
        if action == "delete":
            text = text[:start] + text[end:]
        elif action == "replace":
            text = text[:start] + draw(st.sampled_from(TOKENS)) + text[end:]
        else:
            text = text[:end] + text[start:end] + text[end:]
    return text


@FUZZ
@given(mutated())
def test_mutations_of_valid_patterns(text: str) -> None:
    spec = parse_within_bound(text)
    if spec is not None:
        check_parsed(spec)


@pytest.mark.parametrize("text", VALID[:3])
def test_the_seed_texts_themselves_parse(text: str) -> None:
    assert parse_within_bound(text) is not None
