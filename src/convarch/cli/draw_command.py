"""``convarch draw``: a figure of a network (volumes, block or graph style) as SVG or PNG."""

from __future__ import annotations

from typing import Annotated

import typer

from convarch.analysis.output import output_path
from convarch.cli.app import app, console
from convarch.cli.options import InputOption, NumClassesOption, SetOption, keywords, pattern_argument
from convarch.draw import STYLES, draw
from convarch.draw.diagram import SUFFIXES


@app.command("draw")
def draw_command(
    name: Annotated[str, pattern_argument("A zoo model name, or pattern text in quotes.")],
    out: Annotated[str, typer.Option("--out", "-o", help="The figure to write: FILE.svg or FILE.png.")],
    style: Annotated[
        str, typer.Option(help="volumes (boxes in perspective), block (one module as its paper draws it), graph.")
    ] = "volumes",
    at: Annotated[
        str | None, typer.Option("--at", help="A module path, or a unique end of one: inception3a, layer1.0.")
    ] = None,
    depth: Annotated[int | None, typer.Option(help="Levels of blocks to open (default: the most that read).")] = None,
    input_text: InputOption = None,
    sets: SetOption = None,
    num_classes: NumClassesOption = None,
) -> None:
    """Draw a network from its spec, with the report's paths and numbers (no forward pass)."""
    target = output_path(out, SUFFIXES, what="diagram")  # a wrong suffix or directory fails before any work
    if style not in STYLES:
        draw(name, style=style)  # raises the error that names the styles
    diagram = draw(name, style=style, at=at, depth=depth, **keywords(input_text, sets, num_classes))
    written = diagram.save(target)
    console.print(f"wrote {written} ({style} style, {diagram.scene.width}x{diagram.scene.height})", highlight=False)
