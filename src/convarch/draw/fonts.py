"""Fixed font metrics: the layout, the SVG and the rasterizer all use DejaVu Sans.

Labels are placed by measuring their width from the font's own advance widths (read with fontTools from
the copy of DejaVu Sans that ships with matplotlib), and the PNG is rendered with that same file, so a
label measured to fit does fit. Browsers that lack DejaVu Sans fall back to Bitstream Vera Sans (the same
metrics: DejaVu grew out of it), then Verdana (a little wider).
"""

from __future__ import annotations

import os
from functools import cache

FAMILY = "DejaVu Sans"
ASCENT = 0.76  # cap height and ascenders of DejaVu Sans, as a fraction of the font size
DESCENT = 0.24  # descenders (hhea descent 483 of 2048 units)


def font_file(bold: bool = False) -> str:
    import matplotlib  # only when a figure is measured or rendered: ``import convarch`` stays light

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)


@cache
def _advances(bold: bool) -> tuple[dict[str, float], float]:
    """Advance width of each character, in ems, and the width used for characters the font lacks."""
    from fontTools.ttLib import TTFont

    font = TTFont(font_file(bold), lazy=True)
    units = font["head"].unitsPerEm
    cmap, metrics = font.getBestCmap(), font["hmtx"]
    widths = {chr(code): metrics[glyph][0] / units for code, glyph in cmap.items() if code < 0x2500}
    return widths, widths["M"]


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The advance width of ``text`` at ``size`` pixels (no kerning: an upper bound for the renderer)."""
    widths, missing = _advances(bold)
    return size * sum(widths.get(ch, missing) for ch in text)


def text_extent(
    x: float, y: float, text: str, size: float, anchor: str = "middle", bold: bool = False
) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) a label covers, given its SVG position (``y`` is the baseline)."""
    width = text_width(text, size, bold)
    x0 = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return (x0, y - ASCENT * size, x0 + width, y + DESCENT * size)
