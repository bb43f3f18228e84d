"""Diagrams for the explorer's pages, drawn by ``ca.draw`` (the diagrams reader of the spec).

Both pages show what ``ca.draw`` returns as inline SVG, and link a table row or a finding to the figure
through the module path every layer element carries (``data-path="features.layer1.0"``).
"""

from __future__ import annotations

from typing import Any

from convarch.api import resolve
from convarch.errors import ConfigError
from convarch.spec.bind import bind

STYLES = ("volumes", "block", "graph")


def _drawer() -> Any:
    import convarch

    draw = getattr(convarch, "draw", None)
    if draw is None:
        raise ConfigError("this convarch has no diagrams (ca.draw); the numbers and findings are complete without")
    return draw


def draw_svg(source: Any, *, style: str = "volumes", at: str | None = None, depth: int | None = None,
             input_size: tuple[int, int, int] | None = None, **keywords: Any) -> str:  # fmt: skip
    """The SVG text of ``ca.draw(source, style=...)``, bound with the same keywords as ``ca.analyze``."""
    if style not in STYLES:
        raise ConfigError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    if keywords:  # template variables and binding options: bind first, then draw the concrete spec
        source, input_size = bind(resolve(source), input_size=input_size, **keywords), None
    options: dict[str, Any] = {"style": style}
    if input_size is not None:
        options["input_size"] = input_size
    if at is not None:
        options["at"] = at
    if depth is not None:
        options["depth"] = depth
    return svg_text(_drawer()(source, **options))


def svg_text(drawn: Any) -> str:
    """One SVG document for a Diagram, or for several (one block figure per block type) stacked."""
    if isinstance(drawn, list | tuple):
        return "\n".join(svg_text(d) for d in drawn)
    return drawn.svg if hasattr(drawn, "svg") else str(drawn)
