"""Diagrams for the explorer's pages, drawn by ``ca.draw`` (the diagrams reader of the spec).

Both pages show what ``ca.draw`` returns as inline SVG, and link a table row or a finding to the figure
through the module path every layer element carries (``data-path="features.layer1.0"``).
"""

from __future__ import annotations

from typing import Any

from convarch.draw import draw


def draw_svg(source: Any, *, style: str = "volumes", input_size: tuple[int, int, int] | None = None,
             at: str | None = None, depth: int | None = None, **keywords: Any) -> str:  # fmt: skip
    """The SVG text of ``ca.draw``, with the same keywords as ``ca.analyze`` (``N=2``, ``num_classes``)."""
    return draw(source, style=style, input_size=input_size, at=at, depth=depth, **keywords).svg
