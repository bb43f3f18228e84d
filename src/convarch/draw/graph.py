"""The graph style: the whole network as a vertical graph, one node per layer or per collapsed block.

Like torchview or Keras ``plot_model``, but read from the spec (no forward pass) and laid out here (no
graphviz). Each node gives its output volume, parameters and multiply-adds, the same numbers as the
report; branches sit side by side.
"""

from __future__ import annotations

from convarch.analysis.render import human
from convarch.draw.reading import LayerPart, Network, Part, layers, totals
from convarch.draw.scene import Frag, Scene, finish, line
from convarch.draw.style import LABEL, SMALL, colour_of
from convarch.draw.units import Unit, auto_depth, run_label, summary
from convarch.draw.vertical import Line, NodeText, VerticalLayout, node

READABLE_NODES = 60


def numbers(volume: str, params: int, macs: int) -> str:
    return f"{volume} · {human(params)} params · {human(macs)} MACs"


def layer_lines(layer: LayerPart) -> list[Line]:
    return [(layer.title, LABEL, True, "#222"), (layer.path, SMALL, False, "#666"),
            (numbers(layer.row.output, layer.row.params, layer.row.macs), SMALL, False, "#333")]  # fmt: skip


def collapsed_lines(unit: Unit) -> list[Line]:
    members = unit.members or [unit.part]
    rows = [layer.row for member in members for layer in layers(member) if not layer.row.aux]
    first = run_label(unit.part) + (f" x{unit.count}" if unit.count > 1 else "")
    second = summary(unit.part)
    head = f"{first}: {second}" if second and not first.startswith(second) else first
    where = unit.part.path if unit.count == 1 else f"{unit.part.path} ... {members[-1].path}"
    volume = str(unit.part.vout) if unit.part.vout is not None else ""
    totals = numbers(volume, sum(r.params for r in rows), sum(r.macs for r in rows))
    return [(head, LABEL, True, "#222"), (where, SMALL, False, "#666"), (totals, SMALL, False, "#333")]


def fill(part: Part) -> str:
    return colour_of(part.kind) if isinstance(part, LayerPart) else colour_of("BLOCK")


GRAPH_TEXT = NodeText(layer_lines, collapsed_lines, lambda layer: True, fill)


def graph_scene(network: Network, depth: int | None, title: str) -> Scene:
    chosen = auto_depth(network.body, GRAPH_TEXT.keep, READABLE_NODES) if depth is None else depth
    layout = VerticalLayout(GRAPH_TEXT, chosen)
    start = node([("INPUT", LABEL, True, "#222"), (str(network.input), SMALL, False, "#333")], "input",
                 colour_of("INPUT"))  # fmt: skip
    body = layout.chain(network.body, 0)
    frag = Frag()
    frag.place(start, 0, 0)
    frag.add(line((0, start.out[1]), (0, start.out[1] + 18), arrow=not body.junction, stroke="#333", width=1.1))
    frag.place(body, 0, start.out[1] + 18)
    params, macs = totals(network.body)
    caption = f"{params:,} params; {macs:,} MACs (CONV and FC multiply-adds); input {network.input}"
    return finish(frag, title=title, caption=[caption])
