"""The block style: one module drawn as its paper draws it, every layer a node, top to bottom.

Inception (Szegedy et al. 2014, Fig. 2b), the residual blocks (He et al. 2015, Fig. 2 and Fig. 5),
pre-activation (He et al. 2016, Fig. 4e), the dense block (Huang et al. 2017, Fig. 1) and the
Inception-v4 / Inception-ResNet modules all come out of the same vertical layout: every conv with its size
and width, every output volume, the merge and the shortcut. Without ``at`` the figure shows the first
module of each distinct block type in the network (by name and structure: with or
without a skip, an expansion or a projection).
"""

from __future__ import annotations

from convarch.draw.reading import Chain, LayerPart, Merge, Network, Part, children, is_composite
from convarch.draw.scene import Frag, Poly, Scene, Text, finish, line
from convarch.draw.style import LABEL, SMALL, arrow_lines, colour_of
from convarch.draw.units import Unit, run_label, shortcut_name, summary
from convarch.draw.vertical import Line, NodeText, VerticalLayout, node
from convarch.errors import ConfigError, advising

FIGURE_GAP = 40.0
ROW_WIDTH = 1500.0  # figures wrap onto a new row past this width
OPEN_ALL = 99


def layer_lines(layer: LayerPart) -> list[Line]:
    head, *args = arrow_lines(layer.title)
    if not layer.visible:  # BN, RELU and the like: a small node, no volume (it is its input's)
        return [(head, SMALL, False, "#333")]
    lines: list[Line] = [(head, LABEL, True, "#222")]
    lines += [(a, SMALL, False, "#444") for a in args]
    lines.append((layer.row.output, SMALL, False, "#555"))
    return lines


def collapsed_lines(unit: Unit) -> list[Line]:
    first = run_label(unit.part) + (f" x{unit.count}" if unit.count > 1 else "")
    second = summary(unit.part)
    lines: list[Line] = [(first, LABEL, True, "#222")]
    if second and not first.startswith(second):
        lines.append((second, SMALL, False, "#444"))
    if unit.part.vout is not None:
        lines.append((str(unit.part.vout), SMALL, False, "#555"))
    return lines


def fill(part: Part) -> str:
    if isinstance(part, LayerPart):
        return colour_of(part.kind) if part.visible else "#f4f4f4"
    return colour_of("BLOCK")


BLOCK_TEXT = NodeText(layer_lines, collapsed_lines, lambda layer: True, fill)


def distinct_blocks(part: Part, seen: dict[tuple, Part]) -> dict[tuple, Part]:
    """The first module of each block type, outermost first (a block inside a block is part of it).

    A type is a block name with a structure: MobileNetV2's INVRES with and without its expansion or its
    skip (Sandler et al. 2018, Fig. 4), a bottleneck with a projection or an identity shortcut (He et al.
    2015, Fig. 5), are different figures, though they share a name.
    """
    if is_composite(part) and (getattr(part, "block", "") or not isinstance(part, Chain)):
        seen.setdefault((part.block, structure(part)), part)
        return seen
    for child in children(part):
        distinct_blocks(child, seen)
    return seen


def structure(part: Part) -> tuple:
    """What a module is made of, without widths, strides or how often a layer repeats (a dense block of 6
    layers and one of 24 are one type): layer kinds, joins and the kind of shortcut."""
    if isinstance(part, LayerPart):  # a grouped or depthwise conv is not a plain one (expand vs filter)
        return (part.kind, part.groups > 1)
    inner = [structure(child) for child in children(part)]
    runs = tuple(shape for i, shape in enumerate(inner) if i == 0 or shape != inner[i - 1])
    if isinstance(part, Merge):
        return (part.how, shortcut_name(part) if part.how == "add" else "", runs)
    return (type(part).__name__, runs)


def figure(part: Part, depth: int | None) -> Frag:
    """One module with the volume it receives at the top, titled with its path and its block text."""
    layout = VerticalLayout(BLOCK_TEXT, OPEN_ALL if depth is None else depth)
    vin = part.vin
    start = node([("input", SMALL, False, "#555"), (str(vin), LABEL, True, "#222")], part.path, "#ececec")
    if isinstance(part, Chain):
        body = layout.chain(part, 0)
    else:
        body = layout.unit(Unit(part, opened=not isinstance(part, LayerPart)), 0)
    frag = Frag()
    frag.place(start, 0, 0)
    frag.add(_edge(start.out[1], arrow=not body.junction))
    frag.place(body, 0, start.out[1] + 18)
    heading = f"{part.path}: {part.title}" if part.title and part.title != part.path else part.path
    x0 = frag.box[0]
    frag.add(Text(x0, frag.box[1] - 12, heading, 12.0, anchor="start", bold=True, cls="figure-title", path=part.path))
    return frag


def _edge(y: float, arrow: bool = True) -> Poly:
    return line((0, y), (0, y + 18), arrow=arrow, stroke="#333", width=1.1)


class NoCompositeBlockError(ConfigError):
    """A plain chain of layers (VGG, AlexNet, LeNet): the block style has no figure to draw."""


def block_scene(network: Network, part: Part | None, depth: int | None, title: str) -> Scene:
    if part is None:
        found = list(distinct_blocks(network.body, {}).values())
        if not found:
            raise advising(
                NoCompositeBlockError(
                    f"{title} has no composite block (no branches, shortcuts or named blocks), so the block style "
                    "has nothing to draw; draw the whole network with style='volumes' or style='graph'"
                ),
                "style",
            )
    else:
        found = [part]
    canvas, x, y, row_height = Frag(), 0.0, 0.0, 0.0
    for target in found:
        piece = figure(target, depth)
        if x and x + piece.width > ROW_WIDTH:
            x, y, row_height = 0.0, y + row_height + FIGURE_GAP, 0.0
        canvas.place(piece, x - piece.box[0], y - piece.box[1])
        x += piece.width + FIGURE_GAP
        row_height = max(row_height, piece.height)
    return finish(canvas, title=title)
