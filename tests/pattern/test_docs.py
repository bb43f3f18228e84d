"""docs/pattern-language.md cannot rot: its patterns parse, its outputs are real, its tables match the code.

Code blocks whose info string starts with ``pattern`` are parsed. ``pattern zoo=NAME`` must be exactly
that zoo model's spec; ``pattern params=SOURCE`` (the rest of the line) must have as many parameters as
SOURCE (a name or pattern).
In the sizing-rule sections, each finding shown in a ``text`` block after a pattern must be what
``ca.check`` says about that pattern.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import convarch as ca
from convarch.analysis.findings import RULES
from convarch.analysis.sweep import MAX_INSTANCES, MAX_SWEEP_LAYERS
from convarch.blocks import BLOCKS
from convarch.pattern.parser import signature_text
from convarch.spec.bind import BASE_WIDTH, HIDDEN_WIDTH, MAX_WIDTH
from convarch.spec.layers import PRIMITIVES
from convarch.spec.limits import MAX_BUILD_PARAMS, MAX_DEPTH, MAX_DIM, MAX_LAYERS, MAX_REPEAT, MAX_TEXT

DOC = Path(__file__).resolve().parents[2] / "docs" / "pattern-language.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
CODE = [(m.group(1).strip(), m.group(2)) for m in BLOCK.finditer(TEXT)]
PATTERNS = [(info, body) for info, body in CODE if info.split(" ")[0] == "pattern"]


def test_the_doc_has_pattern_blocks() -> None:
    assert len(PATTERNS) >= 20


@pytest.mark.parametrize(("info", "body"), PATTERNS, ids=[f"{i}-{b[:40]}" for i, b in PATTERNS])
def test_every_pattern_in_the_doc_parses(info: str, body: str) -> None:
    spec = ca.parse(body)
    key, _, value = info.partition(" ")[2].partition("=")  # at most one option; a pattern value has spaces
    if key == "zoo":
        assert spec == ca.spec_of(value)
    elif key == "params":
        assert ca.analyze(spec).params == ca.analyze(value).params
    else:
        assert not key, f"unknown option {key!r} on a pattern block"


def rule_examples() -> list[tuple[str, str, str]]:
    """(rule, pattern, shown output) for each ``### `rule` `` section."""
    examples = []
    for section in re.split(r"^### ", TEXT, flags=re.MULTILINE)[1:]:
        title = section.split("\n", 1)[0].strip("` ")
        if title not in RULES:
            continue
        blocks = [(m.group(1).strip(), m.group(2)) for m in BLOCK.finditer(section)]
        pattern = next(body for info, body in blocks if info == "pattern")
        shown = next(body for info, body in blocks if info == "text")
        examples.append((title, pattern, shown))
    return examples


def test_every_rule_has_a_section_with_an_example() -> None:
    assert sorted(rule for rule, _, _ in rule_examples()) == sorted(RULES)


@pytest.mark.parametrize(("rule", "pattern", "shown"), rule_examples(), ids=[r for r, _, _ in rule_examples()])
def test_rule_examples_show_real_output(rule: str, pattern: str, shown: str) -> None:
    real = [str(finding) for finding in ca.check(pattern)]
    for line in shown.strip().split("\n"):
        assert line in real
        assert f"[{rule}]" in line


def test_every_layer_and_block_is_documented_with_its_arguments() -> None:
    for name in PRIMITIVES:
        assert f"| `{name}` |" in TEXT, name
    for name in BLOCKS:
        assert f"| `{signature_text(name)}` |" in TEXT, f"{name}: document {signature_text(name)}"


def test_the_limits_and_template_defaults_in_the_doc_are_the_codes() -> None:
    for value, unit in [(MAX_TEXT, "characters"), (MAX_DEPTH, "deep"), (MAX_REPEAT, ""), (MAX_LAYERS, ""),
                        (MAX_DIM, ""), (MAX_BUILD_PARAMS, ""), (MAX_INSTANCES, ""),
                        (MAX_SWEEP_LAYERS, "")]:  # fmt: skip
        assert f"| {value:,} {unit}".rstrip() in TEXT, value
    for option, value in [("base_width", BASE_WIDTH), ("max_width", MAX_WIDTH), ("hidden_width", HIDDEN_WIDTH)]:
        assert f"`{option}` (default {value})" in TEXT
