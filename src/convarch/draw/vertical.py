"""Top-to-bottom layouts, shared by the block and graph styles: nodes in a column, branches side by side.

A node is a rounded box of text lines. Parallel branches sit side by side and meet in a concatenation
bar (Szegedy et al. 2014, Fig. 2b); a residual's shortcut runs down the right-hand side to an addition
(He et al. 2015, Fig. 2), through its projection if it has one; a dense block feeds every earlier output
into every later concatenation along buses on the left (Huang et al. 2017, Fig. 1). What a node says is
up to the style (``NodeText``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from convarch.draw.fonts import text_width
from convarch.draw.reading import Chain, LayerPart, Merge, Part, Tap
from convarch.draw.scene import Circle, Frag, Text, line, rect
from convarch.draw.style import LABEL, SMALL
from convarch.draw.units import Unit, shortcut_name, units

EDGE = 18.0  # the length of an edge between two nodes
BRANCH_GAP = 22.0  # between side-by-side branches
SIDE = 26.0  # how far right of the body a shortcut runs
BUS_STEP = 9.0  # between the buses of a dense block
SHORTCUT = "#2a6fb0"

Line = tuple[str, float, bool, str]  # text, size, bold, colour


@dataclass
class NodeText:
    """What the nodes of a style say, and which layers get a node."""

    layer: Callable[[LayerPart], list[Line]]
    collapsed: Callable[[Unit], list[Line]]
    keep: Callable[[LayerPart], bool]
    fill: Callable[[Part], str]


def node(lines: list[Line], path: str, fill: str, cls: str = "box", min_width: float = 64.0) -> Frag:
    """A rounded box with its text lines centred; entry at the top centre, exit at the bottom centre."""
    width = max([min_width] + [text_width(t, size, bold) + 16 for t, size, bold, _ in lines])
    height = sum(1.25 * size for _, size, _, _ in lines) + 9
    frag = Frag()
    frag.add(rect(-width / 2, 0, width, height, fill=fill, stroke="#555", width=0.9, cls=cls, path=path, radius=5))
    y = 4.5
    for text, size, bold, colour in lines:
        y += 1.25 * size
        frag.add(Text(0, y - 0.3 * size, text, size, bold=bold, fill=colour, cls="node-label", path=path))
    frag.out = (0.0, height)
    return frag


def vchain(pieces: list[Frag]) -> Frag:
    """Pieces one below the other, joined by arrows; an empty chain is a bare edge."""
    frag, y = Frag(), 0.0
    if not pieces:
        frag.add(line((0, 0), (0, EDGE), stroke="#333", width=1.1))
        frag.out = (0.0, EDGE)
        return frag
    for i, piece in enumerate(pieces):
        top = y + (EDGE if i else 0.0) - min(0.0, piece.box[1])  # a label above a piece's entry gets room
        if i:
            frag.add(line(frag.out, (0, top), arrow=not piece.junction, stroke="#333", width=1.1))
        frag.place(piece, 0, top)
        y = top + piece.box[3]
        frag.out = (piece.out[0], top + piece.out[1])
    frag.junction = pieces[0].junction
    return frag


class VerticalLayout:
    def __init__(self, text: NodeText, depth: int) -> None:
        self.text, self.depth = text, depth

    def chain(self, chain: Chain, level: int) -> Frag:
        pieces: list[Frag] = []
        run: list[LayerPart] = []  # consecutive one-line layers (BN, RELU): one segmented node
        for unit in units(chain, level, self.depth, self.text.keep):
            if isinstance(unit.part, LayerPart) and unit.count == 1 and len(self.text.layer(unit.part)) == 1:
                run.append(unit.part)
                continue
            if run:
                pieces.append(self.segmented(run))
                run = []
            pieces.append(self.unit(unit, level))
        if run:
            pieces.append(self.segmented(run))
        return vchain(pieces)

    def segmented(self, parts: list[LayerPart]) -> Frag:
        """Small layers applied in turn, as one node split into a segment per layer (``BN | RELU``)."""
        if len(parts) == 1:
            return node(self.text.layer(parts[0]), parts[0].path, self.text.fill(parts[0]))
        lines = [self.text.layer(p)[0] for p in parts]
        widths = [text_width(t, size, bold) + 14 for t, size, bold, _ in lines]
        height = 1.25 * max(size for _, size, _, _ in lines) + 9
        frag, x = Frag(), -sum(widths) / 2
        for part, (text, size, bold, colour), width in zip(parts, lines, widths, strict=True):
            frag.add(rect(x, 0, width, height, fill=self.text.fill(part), stroke="#555", width=0.9, path=part.path,
                          radius=4))  # fmt: skip
            frag.add(Text(x + width / 2, 4.5 + 0.95 * size, text, size, bold=bold, fill=colour, cls="node-label",
                          path=part.path))  # fmt: skip
            x += width
        frag.out = (0.0, height)
        return frag

    def unit(self, unit: Unit, level: int) -> Frag:
        part = unit.part
        if isinstance(part, LayerPart):
            lines = self.text.layer(part)
            if unit.count > 1:  # identical layers in a row (a kept layer repeated): one node, counted
                text, size, bold, colour = lines[0]
                lines = [(f"{text} x{unit.count}", size, bold, colour), *lines[1:]]
            layer_node = node(lines, part.path, self.text.fill(part))
            layer_node.shapes[0] = replace(layer_node.shapes[0], members=tuple(unit.paths))
            return layer_node
        if isinstance(part, Tap):
            return self.tap(part, level, unit.opened)
        if not unit.opened:
            collapsed = node(self.text.collapsed(unit), unit.paths[0], self.text.fill(part), cls="box block")
            collapsed.shapes[0] = replace(collapsed.shapes[0], members=tuple(unit.paths))
            return collapsed
        return self.opened(part, level)

    def opened(self, part: Part, level: int) -> Frag:
        if isinstance(part, Chain):
            return self.chain(part, level + 1)
        assert isinstance(part, Merge)
        if part.how == "concat":
            return self.branches(part, level)
        if part.how == "dense":
            return self.dense(part, level)
        return self.residual(part, level)

    def merge_node(self, symbol_text: str, merge: Merge, width: float) -> Frag:
        lines: list[Line] = [(symbol_text, SMALL, True, "#333"), (str(merge.vout), SMALL, False, "#555")]
        return node(lines, merge.path, "#fff7d6", cls="merge", min_width=width)

    def branches(self, merge: Merge, level: int) -> Frag:
        """Branches side by side on one input, joined by a concatenation bar (Szegedy et al. 2014, Fig. 2b)."""
        frags = [self.chain(b, level + 1) for b in merge.branches]
        widths = [f.box[2] - f.box[0] for f in frags]
        total = sum(widths) + BRANCH_GAP * (len(frags) - 1)
        frag, x, top = Frag(), -total / 2, 22.0
        frag.junction = True  # the arrows go into the branches, not into the split
        bottom = top + max(f.box[3] for f in frags) + 14
        frag.add(line((0, 0), (0, top / 2), stroke="#333", width=1.1))
        for branch, piece, width in zip(merge.branches, frags, widths, strict=True):
            centre = x - piece.box[0]
            into = bool(branch.items) and not piece.junction
            frag.add(line((0, top / 2), (centre, top / 2), (centre, top), arrow=into, stroke="#333", width=1.1,
                          path=branch.path))  # fmt: skip
            frag.place(piece, centre, top)
            frag.add(line((centre + piece.out[0], top + piece.out[1]), (centre, bottom), arrow=True, stroke="#333",
                          width=1.1, path=branch.path))  # fmt: skip
            x += width + BRANCH_GAP
        joined = self.merge_node("concat", merge, total)
        frag.place(joined, 0, bottom)
        frag.out = (0.0, bottom + joined.out[1])
        return frag

    def residual(self, merge: Merge, level: int) -> Frag:
        """The body down the middle, the shortcut down the right to the addition (He et al. 2015, Fig. 2).

        A gate draws the same way with its roles turned: the input runs straight down to the product and
        the gate path (squeeze and excitation, Hu et al. 2017, Fig. 3) runs down the side.
        """
        gate = merge.how == "gate"
        main = Chain(merge.path, []) if gate else merge.branches[0]
        side_chain = merge.branches[0] if gate else merge.shortcut
        frag, y = Frag(), 0.0
        frag.junction = merge.pre is None or not merge.pre.items  # one arrowhead, into the body, not two
        split = 0.0  # the identity takes the raw input; a projection the pre-activated one (He et al. 2016)
        if merge.pre is not None and merge.pre.items:
            pre = self.chain(merge.pre, level + 1)
            frag.place(pre, 0, 0)
            y = pre.out[1]
            if merge.shortcut is not None:
                split = y + 6
        body = self.chain(main, level + 1)
        frag.add(line((0, y), (0, y + 14), arrow=bool(main.items) and not body.junction, stroke="#333", width=1.1))
        frag.place(body, 0, y + 14)
        side_frag = self.chain(side_chain, level + 1) if side_chain is not None and side_chain.items else None
        plus_y = y + 14 + body.out[1] + EDGE + 9
        if side_frag is not None:
            plus_y = max(plus_y, split + 2 * EDGE + side_frag.out[1] + 9)
        frag.add(line((0, y + 14 + body.out[1]), (0, plus_y - 9), arrow=True, stroke="#333", width=1.1))
        side_path = side_chain.path if side_chain is not None else merge.path
        side = frag.box[2] + SIDE
        style = {"stroke": SHORTCUT, "width": 1.3, "cls": "shortcut", "path": side_path}
        if side_frag is not None:
            side = max(side, body.box[2] + SIDE - side_frag.box[0])
            mid = split + (plus_y - split - side_frag.out[1]) / 2
            frag.add(line((0, split), (side, split), (side, mid), arrow=True, **style))
            frag.place(side_frag, side, mid)
            frag.add(line((side, mid + side_frag.out[1]), (side, plus_y), (9, plus_y), arrow=True, **style))
            frag.add(Text(side + 6, split - 4, shortcut_name(merge), SMALL, anchor="start",
                          fill=SHORTCUT, cls="shortcut-label", path=side_path))  # fmt: skip
        else:
            frag.add(line((0, split), (side, split), (side, plus_y), (9, plus_y), arrow=True, dash=True, **style))
            frag.add(Text(side + 6, (split + plus_y) / 2 + 4, "identity", SMALL, anchor="start", fill=SHORTCUT,
                          cls="shortcut-label", path=side_path))  # fmt: skip
        frag.add(Circle(0, plus_y, 9, "x" if gate else "+", cls="merge", path=merge.path))
        if merge.scale != 1.0:  # Inception-ResNet scales the residual before the addition (Szegedy et al. 2016 §3.3)
            frag.add(Text(-8, plus_y - 14, f"x{merge.scale:g}", SMALL, anchor="end", fill="#555", cls="merge-label",
                          path=merge.path))  # fmt: skip
        frag.add(Text(-14, plus_y + 4, str(merge.vout), SMALL, anchor="end", fill="#555", cls="merge-label",
                      path=merge.path))  # fmt: skip
        y = plus_y + 9
        frag.out = (0.0, y)
        if merge.post is not None and merge.post.items:
            post = self.chain(merge.post, level + 1)
            frag.add(line((0, y), (0, y + EDGE), arrow=True, stroke="#333", width=1.1))
            frag.place(post, 0, y + EDGE)
            frag.out = (0.0, y + EDGE + post.out[1])
        return frag

    def dense(self, merge: Merge, level: int) -> Frag:
        """Each layer's output joins every later concatenation (Huang et al. 2017, Fig. 1), along buses."""
        frag, y = Frag(), 0.0
        frag.junction = True  # the input's bus leaves where the flow enters
        sources: list[float] = [0.0]  # where each feature map leaves: the input, then each layer
        joins: list[tuple[float, float]] = []  # each concatenation's (y, left edge)
        vin = merge.vin
        assert vin is not None
        channels = vin.c
        for layer_chain in merge.branches:
            piece = self.dense_layer(layer_chain, level)
            frag.add(line((0, y), (0, y + EDGE), arrow=True, stroke="#333", width=1.1))
            frag.place(piece, 0, y + EDGE)
            y += EDGE + piece.out[1]
            channels += layer_chain.vout.c if layer_chain.vout is not None else 0
            sources.append(y + 4)
            concat = node([(f"concat: {vin.h}x{vin.w}x{channels}", SMALL, True, "#333")],
                          f"{merge.path}", "#fff7d6", cls="merge")  # fmt: skip
            frag.add(line((0, y), (0, y + EDGE), arrow=True, stroke="#333", width=1.1))
            frag.place(concat, 0, y + EDGE)
            joins.append((y + EDGE + concat.out[1] / 2, concat.box[0]))
            y += EDGE + concat.out[1]
        left = frag.box[0] - 12
        for j, source in enumerate(sources[:-1]):
            bus = left - BUS_STEP * j
            later = joins[j:]
            frag.add(line((0, source), (bus, source), (bus, later[-1][0]), stroke="#7a5ea8", width=1.0, cls="dense",
                          path=merge.path))  # fmt: skip
            for join_y, edge in later:
                frag.add(line((bus, join_y), (edge, join_y), arrow=True, stroke="#7a5ea8", width=1.0, cls="dense",
                              path=merge.path))  # fmt: skip
        frag.out = (0.0, y)
        return frag

    def dense_layer(self, chain: Chain, level: int) -> Frag:
        """One layer of a dense block as one node: its ops in rows that each end in a conv."""
        kept = [p for p in chain.items if isinstance(p, LayerPart)]
        if len(kept) != len(chain.items):
            return self.chain(chain, level + 1)
        rows, current = [], []
        for layer in kept:
            current.append(layer.title.split("(")[0])
            if layer.row.macs:
                rows.append("-".join(current))
                current = []
        if current:
            rows.append("-".join(current))
        lines: list[Line] = [(r, LABEL, True, "#222") for r in rows]
        lines.append((f"+{chain.vout.c if chain.vout else 0} maps", SMALL, False, "#555"))
        return node(lines, chain.path, "#e4eef9")

    def tap(self, tap: Tap, level: int, opened: bool) -> Frag:
        """A side output: the main path runs on; the head hangs to the right, dashed (training only)."""
        frag = Frag()
        frag.add(line((0, 0), (0, 34), stroke="#333", width=1.1))
        head = self.chain(tap.head, level + 1) if opened else node(
            [(f"{tap.path.rsplit('.', 1)[-1]}: auxiliary classifier", SMALL, True, "#333"),
             ("training only", SMALL, False, "#555")], tap.path, "#f1f1f1")  # fmt: skip
        x = 40 - head.box[0]
        frag.add(line((0, 10), (x, 10), (x, 18), arrow=True, stroke="#777", width=1.0, dash=True, path=tap.path))
        frag.place(head, x, 18)
        frag.out = (0.0, 34)
        return frag
