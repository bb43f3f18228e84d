"""The layout's result: positioned shapes, independent of how they are written (SVG, PNG, HTML).

A layout builds ``Frag``s: pieces of a figure with their own origin, composed by shifting them into place.
Shapes are plain values. ``cls`` names what a shape is (``box``, ``label``, ``edge``, ``merge``,
``shortcut``) and ``path`` the module it stands for (``features.layer1.0``), which the SVG writes as
``data-path`` so a page can link the figure with the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from convarch.draw.fonts import text_extent

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: float = 11.0
    anchor: str = "middle"
    bold: bool = False
    fill: str = "#222"
    cls: str = "label"
    path: str = ""

    def shift(self, dx: float, dy: float) -> Text:
        return replace(self, x=self.x + dx, y=self.y + dy)

    def extent(self) -> Box:
        return text_extent(self.x, self.y, self.text, self.size, self.anchor, self.bold)


@dataclass(frozen=True)
class Poly:
    """A closed polygon (a prism's face, a box) or, with ``closed=False``, a polyline (an edge)."""

    points: tuple[tuple[float, float], ...]
    fill: str = "none"
    stroke: str = "#333"
    width: float = 1.0
    closed: bool = True
    arrow: bool = False  # an arrowhead at the last point
    dash: bool = False
    cls: str = "box"
    path: str = ""
    radius: float = 0.0  # rounded corners, for axis-aligned rectangles only
    members: tuple[str, ...] = ()  # the paths of every block a collapsed run (``x35``) stands for

    def shift(self, dx: float, dy: float) -> Poly:
        return replace(self, points=tuple((x + dx, y + dy) for x, y in self.points))

    def extent(self) -> Box:
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        return (min(xs), min(ys), max(xs), max(ys))


@dataclass(frozen=True)
class Circle:
    x: float
    y: float
    r: float
    symbol: str = "+"  # drawn inside: "+" an addition, "x" a product
    fill: str = "#fff"
    cls: str = "merge"
    path: str = ""

    def shift(self, dx: float, dy: float) -> Circle:
        return replace(self, x=self.x + dx, y=self.y + dy)

    def extent(self) -> Box:
        return (self.x - self.r, self.y - self.r, self.x + self.r, self.y + self.r)


@dataclass(frozen=True)
class Group:
    """Shapes that together stand for one thing (a prism's three faces): one ``data-path`` for all."""

    items: tuple[Shape, ...]
    cls: str = "box"
    path: str = ""
    members: tuple[str, ...] = ()  # the paths of every block a collapsed run (``x35``) stands for

    def shift(self, dx: float, dy: float) -> Group:
        return replace(self, items=tuple(item.shift(dx, dy) for item in self.items))

    def extent(self) -> Box:
        return union([item.extent() for item in self.items])


Shape = Text | Poly | Circle | Group


def rect(x: float, y: float, w: float, h: float, **style) -> Poly:  # type: ignore[no-untyped-def]
    return Poly(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), **style)


def line(*points: tuple[float, float], arrow: bool = False, **style) -> Poly:  # type: ignore[no-untyped-def]
    return Poly(tuple(points), closed=False, arrow=arrow, cls=style.pop("cls", "edge"), **style)


def union(boxes: list[Box]) -> Box:
    if not boxes:
        return (0.0, 0.0, 0.0, 0.0)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@dataclass
class Frag:
    """A piece of a figure. Its origin is where the flow enters it; ``out`` is where the flow leaves it.

    ``box`` is the area the piece claims (labels included): pieces are placed so that boxes never meet.
    """

    shapes: list[Shape] = field(default_factory=list)
    box: Box = (0.0, 0.0, 0.0, 0.0)
    out: tuple[float, float] = (0.0, 0.0)
    # Towers (a volume split across a grouped conv's groups): where each tower's flow enters and leaves,
    # as offsets from the axis, and whether the op into this piece connects every tower to every tower.
    towers: tuple[float, ...] = ()
    crossed: bool = False
    junction: bool = False  # the flow enters at a split (a shortcut leaves there): the edge in ends bare

    def add(self, *shapes: Shape) -> None:
        for shape in shapes:
            self.shapes.append(shape)
            self.box = union([self.box, shape.extent()])

    def claim(self, box: Box) -> None:
        self.box = union([self.box, box])

    def place(self, other: Frag, dx: float, dy: float) -> None:
        """Copy ``other``'s shapes into this piece, moved by (dx, dy)."""
        self.shapes.extend(shape.shift(dx, dy) for shape in other.shapes)
        x0, y0, x1, y1 = other.box
        self.claim((x0 + dx, y0 + dy, x1 + dx, y1 + dy))

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass
class Scene:
    """A finished layout: shapes in absolute coordinates on a canvas of ``width`` x ``height``."""

    width: float
    height: float
    shapes: list[Shape]
    title: str = ""


def finish(frag: Frag, margin: float = 16.0, title: str = "", caption: list[str] | None = None) -> Scene:
    """Move a fragment onto a canvas with a margin, a title above and caption lines below."""
    x0, y0, x1, y1 = frag.box
    top = margin + (24.0 if title else 0.0)
    scene_shapes: list[Shape] = [shape.shift(margin - x0, top - y0) for shape in frag.shapes]
    width, height = x1 - x0 + 2 * margin, y1 - y0 + top + margin
    if title:
        scene_shapes.insert(0, Text(margin, margin + 12, title, 14.0, "start", True, cls="title"))
        width = max(width, scene_shapes[0].extent()[2] + margin)
    for line_text in caption or []:
        text = Text(margin, height + 2, line_text, 10.0, "start", fill="#555", cls="caption")
        scene_shapes.append(text)
        width, height = max(width, text.extent()[2] + margin), height + 15
    return Scene(round(width), round(height), scene_shapes, title)
