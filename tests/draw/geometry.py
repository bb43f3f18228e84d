"""Text and box extents read back from an SVG, measured with the font metrics the layout used."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from convarch.draw.fonts import text_extent

NS = "{http://www.w3.org/2000/svg}"
Box = tuple[float, float, float, float]
SHAPED = ("box", "merge")  # classes of the elements that stand for a layer, a block or a merge


@dataclass(frozen=True)
class Label:
    text: str
    cls: str
    path: str
    extent: Box
    bold: bool


@dataclass(frozen=True)
class Shape:
    cls: str
    path: str
    extent: Box


def _geometry(element: ET.Element) -> list[Box]:
    tag = element.tag.removeprefix(NS)
    if tag in ("polygon", "polyline"):
        points = [tuple(map(float, p.split(","))) for p in element.get("points", "").split()]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return [(min(xs), min(ys), max(xs), max(ys))]
    if tag == "rect":
        x, y = float(element.get("x", 0)), float(element.get("y", 0))
        return [(x, y, x + float(element.get("width")), y + float(element.get("height")))]
    if tag == "circle":
        x, y, r = (float(element.get(k)) for k in ("cx", "cy", "r"))
        return [(x - r, y - r, x + r, y + r)]
    return [box for child in element for box in _geometry(child)]


def read(svg: str) -> tuple[list[Label], list[Shape]]:
    root = ET.fromstring(svg.encode())
    labels, shapes = [], []
    for element in root.iter():
        tag, cls = element.tag.removeprefix(NS), element.get("class", "")
        if tag == "text":
            bold = element.get("font-weight") == "bold"
            x, y, size = (float(element.get(k)) for k in ("x", "y", "font-size"))
            extent = text_extent(x, y, element.text or "", size, element.get("text-anchor", "start"), bold)
            labels.append(Label(element.text or "", cls, element.get("data-path", ""), extent, bold))
        elif any(c in SHAPED for c in cls.split()):
            boxes = _geometry(element)
            if boxes:
                extent = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                          max(b[2] for b in boxes), max(b[3] for b in boxes))  # fmt: skip
                shapes.append(Shape(cls, element.get("data-path", ""), extent))
    return labels, shapes


def overlap(a: Box, b: Box, slack: float = 0.5) -> bool:
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def collisions(svg: str) -> list[str]:
    """Every pair of labels that overlap, and every label on a box it does not belong to."""
    labels, shapes = read(svg)
    found = []
    ordered = sorted(labels, key=lambda label: label.extent[0])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.extent[0] >= a.extent[2]:
                break
            if overlap(a.extent, b.extent):
                found.append(f"label {a.text!r} overlaps label {b.text!r}")
    grid: dict[tuple[int, int], list[Shape]] = {}  # shapes by the cells they cover, so each label checks few
    for shape in shapes:
        for cell in _cells(shape.extent):
            grid.setdefault(cell, []).append(shape)
    for label in labels:
        near = {id(shape): shape for cell in _cells(label.extent) for shape in grid.get(cell, [])}
        for shape in near.values():
            if overlap(label.extent, shape.extent) and not (label.path and label.path == shape.path):
                found.append(f"label {label.text!r} ({label.path}) overlaps {shape.cls} {shape.path}")
    return found


def _cells(box: Box, size: float = 100.0) -> list[tuple[int, int]]:
    x0, y0, x1, y1 = (int(v // size) for v in box)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
