"""The layer-pattern language: text -> spec (``parse``) and spec -> canonical text (``to_pattern_text``).

docs/pattern-language.md is the reference: grammar, layers, blocks, limits and the sizing rules.
"""

from convarch.pattern.parser import parse
from convarch.pattern.printer import to_pattern_text

__all__ = ["parse", "to_pattern_text"]
