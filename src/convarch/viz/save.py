"""Saving a figure: the path is checked before any drawing, and the file is written atomically."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from convarch.analysis.output import output_path
from convarch.io import atomic_write

CHART_SUFFIXES = (".png", ".svg", ".pdf")


def chart_path(path: str | Path) -> Path:
    """Refuse a wrong suffix or a missing directory before any work is done."""
    return output_path(path, CHART_SUFFIXES, what="chart")


def save_figure(figure: Figure, path: str | Path) -> Path:
    target = chart_path(path)
    # An explicit format: the temporary file's name must not decide it.
    atomic_write(target, lambda temp: figure.savefig(temp, format=target.suffix[1:], dpi=150, bbox_inches="tight"))
    return target


def figure_svg(figure: Figure) -> str:
    """The figure as SVG text, in memory: glyphs are drawn as paths, so the SVG needs no font."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()
