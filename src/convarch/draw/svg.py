"""Writing a scene as SVG: valid XML, deterministic, self-contained, small.

Numbers are rounded to one decimal and attributes written in a fixed order, so the same scene gives the
same bytes. Nothing external is referenced: the font is named (DejaVu Sans, the one the layout measured)
and arrowheads are drawn as polygons rather than markers.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from convarch.draw.fonts import FAMILY
from convarch.draw.scene import Circle, Group, Poly, Scene, Shape, Text

ARROW_LENGTH, ARROW_HALF_WIDTH = 7.0, 3.5
FALLBACK = "Bitstream Vera Sans, Verdana, sans-serif"  # Vera has DejaVu's metrics; Verdana is a little wider


def number(value: float) -> str:
    text = f"{value:.1f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text == "-0" else text


def _common(shape: Text | Poly | Circle | Group) -> str:
    path = f" data-path={quoteattr(shape.path)}" if shape.path else ""
    members = getattr(shape, "members", ())
    if len(members) > 1:  # a collapsed run: every block it stands for, for pages that link rows to boxes
        path += f" data-members={quoteattr(' '.join(members))}"
    return f' class="{shape.cls}"{path}'


def _points(points: tuple[tuple[float, float], ...]) -> str:
    return " ".join(f"{number(x)},{number(y)}" for x, y in points)


def _arrowhead(poly: Poly) -> str:
    (x0, y0), (x1, y1) = poly.points[-2], poly.points[-1]
    length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-9)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    bx, by = x1 - ux * ARROW_LENGTH, y1 - uy * ARROW_LENGTH
    tip = ((x1, y1), (bx - uy * ARROW_HALF_WIDTH, by + ux * ARROW_HALF_WIDTH),
           (bx + uy * ARROW_HALF_WIDTH, by - ux * ARROW_HALF_WIDTH))  # fmt: skip
    return f'<polygon points="{_points(tip)}" fill="{poly.stroke}"/>'


def _poly(poly: Poly) -> str:
    stroke = f' stroke="{poly.stroke}" stroke-width="{number(poly.width)}"'
    dash = ' stroke-dasharray="4 3"' if poly.dash else ""
    if poly.closed and poly.radius:
        x0, y0, x1, y1 = poly.extent()
        box = f'x="{number(x0)}" y="{number(y0)}" width="{number(x1 - x0)}" height="{number(y1 - y0)}"'
        return f'<rect{_common(poly)} {box} rx="{number(poly.radius)}" fill="{poly.fill}"{stroke}{dash}/>'
    tag = "polygon" if poly.closed else "polyline"
    fill = poly.fill if poly.closed else "none"
    body = f'<{tag}{_common(poly)} points="{_points(poly.points)}" fill="{fill}"{stroke}{dash}/>'
    return body + _arrowhead(poly) if poly.arrow else body


def _text(text: Text) -> str:
    weight = ' font-weight="bold"' if text.bold else ""
    return (f'<text{_common(text)} x="{number(text.x)}" y="{number(text.y)}" font-size="{number(text.size)}" '
            f'text-anchor="{text.anchor}" fill="{text.fill}"{weight}>{escape(text.text)}</text>')  # fmt: skip


def _circle(circle: Circle) -> str:
    x, y, r = circle.x, circle.y, circle.r
    k = 0.55 * r if circle.symbol == "+" else 0.4 * r
    if circle.symbol == "+":
        mark = f"M{number(x - k)} {number(y)}H{number(x + k)}M{number(x)} {number(y - k)}V{number(y + k)}"
    else:
        mark = (f"M{number(x - k)} {number(y - k)}L{number(x + k)} {number(y + k)}"
                f"M{number(x - k)} {number(y + k)}L{number(x + k)} {number(y - k)}")  # fmt: skip
    ring = f'<circle cx="{number(x)}" cy="{number(y)}" r="{number(r)}" fill="{circle.fill}"'
    ring += ' stroke="#333" stroke-width="1.2"/>'
    return f'<g{_common(circle)}>{ring}<path d="{mark}" stroke="#333" stroke-width="1.4"/></g>'


def shape_svg(shape: Shape) -> str:
    if isinstance(shape, Text):
        return _text(shape)
    if isinstance(shape, Poly):
        return _poly(shape)
    if isinstance(shape, Circle):
        return _circle(shape)
    inner = "".join(shape_svg(item).replace(f' class="{item.cls}"', "", 1) for item in shape.items)
    return f"<g{_common(shape)}>{inner}</g>"


def scene_svg(scene: Scene) -> str:
    """The SVG document of a scene."""
    size = f'width="{scene.width}" height="{scene.height}" viewBox="0 0 {scene.width} {scene.height}"'
    head = f'<svg xmlns="http://www.w3.org/2000/svg" {size} font-family="{FAMILY}, {FALLBACK}">'
    title = f"<title>{escape(scene.title)}</title>" if scene.title else ""
    background = f'<rect width="{scene.width}" height="{scene.height}" fill="#fff"/>'
    body = "\n".join(shape_svg(shape) for shape in scene.shapes)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{head}{title}{background}\n{body}\n</svg>\n'
