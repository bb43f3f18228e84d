"""The volumes style: each layer's output volume as a box in perspective, flowing left to right.

As in the seed's LeNet and AlexNet figures (LeCun et al. 1998 Fig. 2, Krizhevsky et al. 2012 Fig. 2): a box's
height comes from H and its depth from W on a log scale, its thickness from C on a square-root scale, so
that VGG-16's 224x224x64 and 7x7x512 both read. Every box carries its ``HxWxC`` and every arrow its operation. FC layers
are bars. Parallel branches fan out and meet in a concatenation, a residual's shortcut arcs over its body to
an addition (a projection is labelled as one), a dense block is a growing stack of slices, and a grouped
conv splits its volumes into towers.
"""

from __future__ import annotations

import math
from dataclasses import replace

from convarch.draw.fonts import text_width
from convarch.draw.reading import Chain, LayerPart, Merge, Network, Part, Tap, layers, totals
from convarch.draw.scene import Circle, Frag, Group, Poly, Scene, Text, finish, line, rect
from convarch.draw.style import LABEL, LEGEND, SLICES, SMALL, arrow_lines, colour_of, shade, slice_colour
from convarch.draw.units import Unit, auto_depth, run_label, shortcut_name, summary, units
from convarch.spec.volume import Volume

GAP = 26.0  # the shortest arrow between two boxes
PAD = 10.0  # space on each side of an arrow's label
SPLIT = 18.0  # the fan-out and fan-in columns of branches
BRANCH_GAP = 14.0  # vertical space between two branches
ARC_RISE = 16.0  # how far a shortcut arc runs above its body
SHORTCUT = "#2a6fb0"
ROW_WIDTH = 2000.0  # a longer net wraps onto several rows
ROW_GAP = 44.0  # between two rows, with the flow running back to the left in the middle


def side(n: int) -> float:
    """Height (from H) or depth (from W) in pixels: logarithmic, 1 -> 8 and 224 -> 100."""
    return 8.0 + 11.8 * math.log2(max(n, 1))


def thickness(c: int) -> float:
    """Thickness along the flow, from the channels C: a square root, 3 -> 6, 64 -> 14, 512 -> 31, 2048 -> 58.

    Steeper than the log scale of H and W, since channels grow by 8x to 64x through a network where H and
    W shrink by 32x: the widening is what the figure must show.
    """
    return 4.0 + 1.2 * math.sqrt(c)


def keep(layer: LayerPart) -> bool:
    return layer.visible


def prism(x: float, volume: Volume, fill: str, path: str, cls: str = "box") -> Group:
    """A box in perspective whose 3-D centre sits on the axis (y = 0), front face starting at ``x``."""
    t, h = thickness(volume.c), side(volume.h)
    d = 0.42 * side(volume.w)
    dx, dy = 0.75 * d, 0.55 * d
    top, bottom = -h / 2 + dy / 2, h / 2 + dy / 2
    front = rect(x, top, t, h, fill=fill, stroke="#444", width=0.8, cls="face")
    lid = Poly(((x, top), (x + dx, top - dy), (x + t + dx, top - dy), (x + t, top)),
               fill=shade(fill, 1.08), stroke="#444", width=0.8, cls="face")  # fmt: skip
    flank = Poly(((x + t, top), (x + t + dx, top - dy), (x + t + dx, bottom - dy), (x + t, bottom)),
                 fill=shade(fill, 0.85), stroke="#444", width=0.8, cls="face")  # fmt: skip
    return Group((front, lid, flank), cls=cls, path=path)


def bar(x: float, units_count: int, fill: str, path: str) -> Group:
    """An FC layer's output: a flat bar whose height grows with the number of units."""
    h = 18.0 + 8.5 * math.log2(max(units_count, 1))
    return Group((rect(x, -h / 2, 9.0, h, fill=fill, stroke="#444", width=0.8, cls="face"),), path=path)


def volume_frag(volume: Volume, fill: str, paths: list[str], slices: list[tuple[int, str]] | None = None,
                towers: int = 1, crossed: bool = False) -> Frag:  # fmt: skip
    """A box (or a stack of ``len(paths)`` boxes, one per layer) with its ``HxWxC`` label below."""
    frag, x = Frag(), 0.0
    for path in paths:
        if volume.flat or (volume.h == 1 and volume.w == 1 and volume.c > 64):
            shape = bar(x, volume.c, fill, path)
        elif towers > 1:
            shape = _towers(x, volume, fill, path, towers)
        elif slices:
            shape = _sliced(x, volume, slices, path)
        else:
            shape = prism(x, volume, fill, path)
        frag.add(shape)
        x = shape.items[0].extent()[2] + 4.0
    x0, _, x1, y1 = frag.box
    frag.out = (x1, 0.0)  # the flow leaves from the back edge of the last box
    if towers > 1 and not volume.flat:
        frag.towers, frag.crossed = tuple(_tower_offsets(volume, towers)), crossed
    frag.add(Text((x0 + x1) / 2, y1 + 14, str(volume), LABEL, path=paths[0]))
    return frag


def _sliced(x: float, volume: Volume, slices: list[tuple[int, str]], path: str) -> Group:
    """A concatenated volume: one slice per part, each as thick as its share of the channels."""
    whole = prism(x, volume, "#ffffff", path)
    front, lid, flank = whole.items
    x0, top, x1, bottom = front.extent()
    dx = lid.points[1][0] - lid.points[0][0]
    dy = lid.points[0][1] - lid.points[1][1]
    shapes: list[Poly] = []
    total, start = sum(c for c, _ in slices), x0
    for channels, fill in slices:
        end = start + (x1 - x0) * channels / total
        edge = "#444" if end - start >= 2.5 else "none"  # hairline slices (a 24-layer dense block) stay pale
        shapes.append(rect(start, top, end - start, bottom - top, fill=fill, stroke=edge, width=0.6, cls="face"))
        shapes.append(Poly(((start, top), (start + dx, top - dy), (end + dx, top - dy), (end, top)),
                           fill=shade(fill, 1.08), stroke=edge, width=0.6, cls="face"))  # fmt: skip
        start = end
    shapes.append(Poly(flank.points, fill=shade(slices[-1][1], 0.85), stroke="#444", width=0.8, cls="face"))
    shapes.append(Poly(front.points, fill="none", stroke="#444", width=0.8, cls="face"))
    shapes.append(Poly(lid.points, fill="none", stroke="#444", width=0.8, cls="face"))
    return Group(tuple(shapes), path=path)


def _tower_offsets(volume: Volume, towers: int) -> list[float]:
    step = side(volume.h) + 0.55 * 0.42 * side(volume.w) + 8.0
    return [(i - (towers - 1) / 2) * step for i in range(towers)]


def _towers(x: float, volume: Volume, fill: str, path: str, towers: int) -> Group:
    """A volume split across groups, drawn as separate towers (AlexNet's two GPUs, Fig. 2)."""
    part = Volume(volume.c // towers, volume.h, volume.w)
    shapes = []
    for offset in _tower_offsets(volume, towers):
        shapes.extend(face.shift(0, offset) for face in prism(x, part, fill, path).items)
    return Group(tuple(shapes), path=path)


def arrow_frag(lines: list[str], length: float | None = None) -> tuple[Frag, float]:
    """An arrow's label above (first line) and below (second line) a gap wide enough to hold it."""
    width = max([text_width(lines[0], LABEL, True)] if lines else [0.0])
    width = max([width] + [text_width(extra, SMALL) for extra in lines[1:]])
    gap = max(GAP, width + 2 * PAD) if length is None else length
    frag = Frag()
    if lines:
        frag.add(Text(gap / 2, -6, lines[0], LABEL, bold=True, cls="op"))
    for i, extra in enumerate(lines[1:]):
        frag.add(Text(gap / 2, 15 + 12 * i, extra, SMALL, fill="#444", cls="op"))
    frag.claim((0, -4, gap, 4))
    return frag, gap


def hchain(pieces: list[tuple[list[str], Frag, str]]) -> Frag:
    """Pieces left to right, each led into by an arrow carrying its label lines; ``path`` tags the label."""
    result, right, flow, towers = Frag(), 0.0, (0.0, 0.0), ()
    for lines, piece, path in pieces:
        label, gap = arrow_frag(lines)
        dx, lift = right + gap - piece.box[0], 0.0
        if towers or piece.towers:  # tower to tower: straight for a grouped op, crossed for a full one
            starts, ends = towers or (flow[1],), piece.towers or (0.0,)
            straight = len(starts) == len(ends) and not piece.crossed
            pairs = list(zip(starts, ends, strict=True)) if straight else [(a, b) for a in starts for b in ends]
            for a, b in pairs:
                result.add(line((flow[0], a), (dx, b), arrow=True, stroke="#333", width=1.0))
            if not straight:  # the label goes above the lines that fan out or cross
                lift = min(starts + ends) - 12
        else:
            result.add(line(flow, (dx, 0.0), arrow=bool(lines), stroke="#333", width=1.1))
        label.shapes = [replace(s, path=path) if isinstance(s, Text) else s for s in label.shapes]
        result.place(label, right, lift)
        result.place(piece, dx, 0.0)
        right, flow, towers = dx + piece.box[2], (dx + piece.out[0], piece.out[1]), piece.towers
    result.out = flow
    return result


class VolumeLayout:
    def __init__(self, network: Network, depth: int | None) -> None:
        self.network = network
        self.depth = auto_depth(network.body, keep) if depth is None else depth
        self.towers = _tower_counts(network)
        self.used: dict[str, str] = {}  # legend: colour -> what it stands for, in order of appearance

    def chain(self, chain: Chain, level: int) -> Frag:
        return hchain([self.unit(u, level) for u in units(chain, level, self.depth, keep)])

    def unit(self, unit: Unit, level: int) -> tuple[list[str], Frag, str]:
        part = unit.part
        if isinstance(part, LayerPart):
            lines = arrow_lines(part.title)
            if unit.count > 1:
                lines[0] = f"{lines[0]} x{unit.count}"
            fill = colour_of(part.kind)
            self.used.setdefault(fill, LEGEND.get(fill, "other layer"))
            towers = self.towers.get(part.path, 1)
            crossed = part.groups != towers and part.row.macs > 0  # a full conv between towers reads both
            return lines, volume_frag(part.vout, fill, unit.paths, towers=towers, crossed=crossed), part.path
        if isinstance(part, Tap):
            return [], self.tap(part, level, unit.opened), part.path
        if unit.opened:
            opened = self.opened(part, level)
            name = run_label(part)
            if isinstance(part, Merge) and name != part.how:  # a named block: its name over its layers
                opened = bracketed(opened, name if name == part.title else f"{name}: {part.title}", part.path)
            return [], opened, part.path
        if isinstance(part, Merge) and part.how in ("add", "gate"):
            inner = hchain([(self.collapsed(unit), self.collapsed_box(unit), part.path)])
            return [], self.around(part, inner, brief=True), part.path
        return self.collapsed(unit), self.collapsed_box(unit), part.path

    def collapsed(self, unit: Unit) -> list[str]:
        part = unit.part
        first = run_label(part)
        second = summary(part)
        if first.startswith(second):
            second = ""
        if unit.count > 1:
            return [f"{first} x{unit.count}", second] if second and second != first else [f"{first} x{unit.count}"]
        return [first, second] if second and second != first else [first]

    def collapsed_box(self, unit: Unit) -> Frag:
        part = unit.part
        slices = _slices(part)
        frag = volume_frag(part.vout, colour_of("BLOCK"), [unit.paths[0]], slices=slices)
        if slices:
            self.used.setdefault("slices", "slices: concatenated branches or layers")
        else:
            self.used.setdefault(colour_of("BLOCK"), LEGEND[colour_of("BLOCK")])
        frag.shapes = [replace(s, members=tuple(unit.paths)) if isinstance(s, Group) else s for s in frag.shapes]
        return frag

    def opened(self, part: Part, level: int) -> Frag:
        if isinstance(part, Chain):
            return self.stage(part, level)
        if isinstance(part, Merge) and part.how in ("concat", "dense"):
            return self.branches(part, level) if part.how == "concat" else self.dense(part, level)
        if isinstance(part, Merge):
            return self.residual(part, level)
        return self.tap(part)

    def stage(self, chain: Chain, level: int) -> Frag:
        return bracketed(self.chain(chain, level + 1), chain.title, chain.path)

    def branches(self, merge: Merge, level: int) -> Frag:
        """Parallel branches on one input, meeting in a concatenation (Szegedy et al. 2014, Fig. 2b)."""
        frags = [self.chain(b, level + 1) for b in merge.branches]
        frag = Frag()
        total = sum(f.height for f in frags) + BRANCH_GAP * (len(frags) - 1)
        y, width = -total / 2, max(f.box[2] for f in frags)
        ends = []
        for branch, piece in zip(merge.branches, frags, strict=True):
            dy = y - piece.box[1]
            frag.place(piece, SPLIT, dy)
            frag.add(line((0, 0), (SPLIT / 2, 0), (SPLIT / 2, dy), (SPLIT, dy), stroke="#333", width=1.1,
                          path=branch.path))  # fmt: skip
            ends.append((SPLIT + piece.out[0], dy, branch.path))
            y += piece.height + BRANCH_GAP
        join = SPLIT + width + SPLIT
        for x, dy, path in ends:
            frag.add(line((x, dy), (join, dy), (join, 0), stroke="#333", width=1.1, path=path))
        concat, node_w = self._concat_node(join + 8, merge)
        frag.add(line((join, 0), (join + 8, 0), stroke="#333", width=1.1), *concat)
        slices = _slices(merge)
        out = volume_frag(merge.vout, colour_of("BLOCK"), [merge.path], slices=slices)
        if slices:  # the slices take their branches' colours: the legend says what the stripes are
            self.used.setdefault("slices", "slices: concatenated branches or layers")
        start = join + 8 + node_w
        dx = start + GAP - out.box[0]
        frag.add(line((start, 0), (dx, 0), arrow=True, stroke="#333", width=1.1))
        frag.place(out, dx, 0)
        frag.out = (dx + out.out[0], 0)
        return frag

    def _concat_node(self, x: float, merge: Merge) -> tuple[list, float]:
        label = "concat"
        w = text_width(label, SMALL) + 10
        node = rect(x, -9, w, 18, fill="#fff7d6", stroke="#333", width=1.0, cls="merge", path=merge.path, radius=4)
        return [node, Text(x + w / 2, 4, label, SMALL, cls="merge-label", path=merge.path)], w

    def residual(self, merge: Merge, level: int) -> Frag:
        """The body on the axis, the shortcut as an arc over it to the addition (He et al. 2015, Fig. 2)."""
        if merge.how == "gate":  # the input runs on to the product; the gate's layers label the arc
            return self.around(merge, hchain([]))
        return self.around(merge, self.chain(merge.branches[0], level + 1))

    def around(self, merge: Merge, body: Frag, brief: bool = False) -> Frag:
        """``body`` between a split and a merge node, with the shortcut (or gate) arcing over it."""
        frag = Frag()
        frag.place(body, SPLIT, 0)
        top = body.box[1] - ARC_RISE
        lines = _shortcut_lines(merge)[:1] if brief else _shortcut_lines(merge)
        width = max([text_width(lines[0], SMALL, True)] + [text_width(t, SMALL) for t in lines[1:]])
        join = max(SPLIT + body.box[2] + 18, width + 24)
        frag.add(line((0, 0), (SPLIT, 0), stroke="#333", width=1.1))
        frag.add(line((SPLIT + body.out[0], 0), (join - 9, 0), arrow=True, stroke="#333", width=1.1))
        frag.add(Circle(join, 0, 9, "x" if merge.how == "gate" else "+", cls="merge", path=merge.path))
        shortcut_path = merge.shortcut.path if merge.shortcut is not None else merge.path
        identity = merge.how == "add" and merge.shortcut is None
        frag.add(line((6, 0), (6, top), (join, top), (join, -9), arrow=True, stroke=SHORTCUT, width=1.3,
                      dash=identity, cls="shortcut", path=shortcut_path))  # fmt: skip
        for i, text in enumerate(reversed(lines)):
            frag.add(Text((6 + join) / 2, top - 5 - 11 * i, text, SMALL, bold=i == len(lines) - 1,
                          fill=SHORTCUT, cls="shortcut-label", path=shortcut_path))  # fmt: skip
        frag.out = (join + 9, 0)
        return frag

    def dense(self, merge: Merge, level: int) -> Frag:
        """A dense block: each layer's output joins the stack the next layer sees (Huang et al. 2017, Fig. 1)."""
        pieces, vin = [], merge.vin
        assert vin is not None
        slices = [(vin.c, "#e4e4e4")]
        for i, layer_chain in enumerate(merge.branches):
            grown = layer_chain.vout.c if layer_chain.vout is not None else 0
            slices = [*slices, (grown, slice_colour(i))]
            volume = Volume(sum(c for c, _ in slices), vin.h, vin.w)
            ops = " → ".join(layer.title.split("(")[0] for layer in layers(layer_chain) if layer.row.macs)
            box = volume_frag(volume, "#ffffff", [layer_chain.path], slices=list(slices))
            pieces.append(([f"+{grown}: concat", ops], box, layer_chain.path))
        return hchain(pieces)

    def tap(self, part: Part, level: int, opened: bool) -> Frag:
        """A side output: the main path runs on; the head (opened, or named) hangs below, dashed."""
        assert isinstance(part, Tap)
        label = f"{run_label(part)}: auxiliary classifier (training only)"
        frag = Frag()
        if opened:
            head = self.chain(part.head, level + 1)
            drop = 36 - head.box[1]
            frag.add(line((12, 0), (12, drop), (24, drop), stroke="#777", width=1.0, dash=True, path=part.path))
            frag.place(head, 24, drop)
            frag.add(Text(24, drop + head.box[1] - 8, label, SMALL, anchor="start", fill="#555", cls="aux",
                          path=part.path))  # fmt: skip
            width = frag.box[2] + 8
        else:
            width = text_width(label, SMALL) + 8
            frag.add(line((width / 2, 0), (width / 2, 34), arrow=True, stroke="#777", width=1.0, dash=True,
                          path=part.path))  # fmt: skip
            frag.add(Text(width / 2, 48, label, SMALL, fill="#555", cls="aux", path=part.path))
        frag.add(line((0, 0), (width, 0), stroke="#333", width=1.1))
        frag.out = (width, 0)
        return frag

    def scene(self, title: str) -> Scene:
        net = self.network
        start = volume_frag(net.input, colour_of("INPUT"), ["input"])
        pieces = [self.unit(u, 0) for u in units(net.body, 0, self.depth, keep)]
        rows = _rows(pieces, start.out[0])
        flow = hchain(rows[0])
        frag = Frag()
        frag.place(start, 0, 0)
        frag.place(flow, start.out[0], 0)
        out, right = (start.out[0] + flow.out[0], flow.out[1]), start.out[0] + flow.box[2]
        for row in rows[1:]:  # the flow runs on below, entering the next row from the left
            piece = hchain(row)
            bottom = frag.box[3]
            y, mid, edge = bottom + ROW_GAP - piece.box[1], bottom + ROW_GAP / 2, max(right, out[0]) + 10
            turn = ((edge, out[1]), (edge, mid), (-12, mid), (-12, y), (0, y))
            frag.add(line(out, *turn, stroke="#333", width=1.1, cls="edge wrap"))
            frag.place(piece, 0, y)
            out, right = (piece.out[0], y + piece.out[1]), piece.box[2]
        x, y = frag.box[0], frag.box[3] + 22
        for fill, meaning in self.used.items():  # a legend of the colours used
            swatch = [(c, c) for c in SLICES[:3]] if fill == "slices" else [(fill, fill)]
            for i, (colour, _) in enumerate(swatch):
                frag.add(rect(x + 4 * i, y - 9, 10, 10, fill=colour, stroke="#444", width=0.6, cls="legend"))
            x += 14 + 4 * (len(swatch) - 1)
            frag.add(Text(x, y, meaning, SMALL, anchor="start", fill="#444", cls="legend"))
            x += text_width(meaning, SMALL) + 16
        return finish(frag, title=title, caption=[_caption(net)])


def _rows(pieces: list[tuple[list[str], Frag, str]], start: float) -> list[list[tuple[list[str], Frag, str]]]:
    """The top-level pieces split into rows of about equal width, as few as keep each under ``ROW_WIDTH``:
    ResNet-50 in one row is 3,000 units wide, too wide for a page or a slide to show its labels."""
    widths = [arrow_frag(lines)[1] + piece.box[2] - piece.box[0] for lines, piece, _ in pieces]
    count = math.ceil((start + sum(widths)) / ROW_WIDTH)
    target = (start + sum(widths)) / max(count, 1)
    rows: list[list[tuple[list[str], Frag, str]]] = [[]]
    used = start
    for piece, width in zip(pieces, widths, strict=True):
        # a new row where this piece overshoots the target by more than leaving it out falls short, and
        # wherever it would pass ROW_WIDTH (the balance alone let the last row take all that was left: 3,165
        # units for a 400-layer chain). A single piece wider than a row (a long stage) still gets a row of its own.
        balanced = len(rows) < count and used + width - target > target - used
        if rows[-1] and (balanced or used + width > ROW_WIDTH):
            rows.append([])
            used = 0.0
        rows[-1].append(piece)
        used += width
    return rows


def bracketed(inner: Frag, text: str, path: str) -> Frag:
    """A piece under a bracket that names it (a stage, an opened block)."""
    frag = Frag()
    frag.place(inner, 0, 0)
    frag.out, frag.towers = inner.out, inner.towers
    x0, y0, x1, _ = inner.box
    frag.add(line((x0 + 4, y0 - 6), (x0 + 4, y0 - 12), (x1 - 4, y0 - 12), (x1 - 4, y0 - 6),
                  stroke="#888", width=0.8, cls="bracket", path=path))  # fmt: skip
    frag.add(Text((x0 + x1) / 2, y0 - 17, text, SMALL, fill="#555", cls="stage", path=path))
    return frag


def _caption(net: Network) -> str:
    params, macs = totals(net.body)
    return (f"input {net.input}; {params:,} params; {macs:,} MACs (CONV and FC multiply-adds); "
            "boxes: height log H, depth log W, thickness sqrt C")  # fmt: skip


def _slices(part: Part) -> list[tuple[int, str]] | None:
    if isinstance(part, Merge) and part.how == "concat":
        return [(b.vout.c if b.vout else 0, slice_colour(i)) for i, b in enumerate(part.branches)]
    if isinstance(part, Merge) and part.how == "dense" and part.vin is not None:
        grown = [(b.vout.c if b.vout else 0, slice_colour(i)) for i, b in enumerate(part.branches)]
        return [(part.vin.c, "#e4e4e4"), *grown]
    return None


def _shortcut_lines(merge: Merge) -> list[str]:
    if merge.how == "gate":
        return ["gate", " → ".join(layer.title.split("(")[0] for layer in layers(merge.branches[-1]))]
    scaled = f"; residual x{merge.scale:g}" if merge.scale != 1.0 else ""  # Szegedy et al. 2016 §3.3
    if merge.shortcut is None:
        return [f"identity{scaled}"]
    ops = [", ".join(arrow_lines(layer.title)) for layer in layers(merge.shortcut) if layer.visible]
    return [f"{shortcut_name(merge)}{scaled}", *ops]


def _tower_counts(net: Network) -> dict[str, int]:
    """Towers per layer: a volume a grouped conv makes or reads is split across its groups."""
    flat = layers(net.body)
    counts: dict[str, int] = {}
    convs = [(i, layer) for i, layer in enumerate(flat) if layer.row.macs]
    for j, (i, conv) in enumerate(convs):
        after = convs[j + 1][1].groups if j + 1 < len(convs) else 1
        groups = conv.groups if 1 < conv.groups <= 4 else (after if 1 < after <= 4 else 1)
        end = convs[j + 1][0] if j + 1 < len(convs) else len(flat)
        for layer in flat[i:end]:
            if groups > 1 and not layer.vout.flat and layer.vout.c % groups == 0:
                counts[layer.path] = groups
    return counts


def volumes_scene(network: Network, depth: int | None, title: str) -> Scene:
    return VolumeLayout(network, depth).scene(title)
