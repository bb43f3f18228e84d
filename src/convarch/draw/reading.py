"""What a diagram needs from a spec, read through the same walk as the report.

This is the only file of the drawing package that touches the spec. It walks the network once with
``spec.walk`` (so every part carries the module path that the per-layer report and
``model.named_modules()`` give it) and turns the walk's results into four generic parts:

* ``LayerPart``: one primitive, with its analysis ``Row`` (the report's own name, volume, params, MACs);
* ``Chain``: parts applied one after another (a stage, a residual body, a branch);
* ``Merge``: paths that meet: ``concat`` (parallel branches), ``add`` (a residual, with its shortcut),
  ``dense`` (growing concatenation) or ``gate`` (one path scales another);
* ``Tap``: a side output that leaves the main path unchanged (an auxiliary classifier).

Layouts read only these, never spec node types, so a new block drawn with the existing combinators
draws with no change here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from convarch.analysis.report import Report, Row, analyze_spec
from convarch.pattern.printer import to_pattern_text
from convarch.spec.layers import DEPTHWISE, Layer
from convarch.spec.nodes import NetSpec, Node
from convarch.spec.volume import Volume
from convarch.spec.walk import Context, Interpreter, walk_network

Part = Union["LayerPart", "Chain", "Merge", "Tap"]


@dataclass
class LayerPart:
    path: str
    row: Row
    vin: Volume
    vout: Volume
    groups: int = 1  # a grouped conv's groups: AlexNet's two towers (Krizhevsky et al. 2012, Fig. 2)
    windowed: bool = False  # slides a window (conv, pool): worth a box even where it keeps the volume

    @property
    def title(self) -> str:
        return self.row.name

    @property
    def kind(self) -> str:
        return self.row.kind

    @property
    def visible(self) -> bool:
        """Whether the volume view gives the layer a box: it slides a window, computes or changes the volume."""
        return self.windowed or self.row.macs > 0 or self.vout != self.vin


@dataclass
class Chain:
    path: str
    items: list[Part]
    vin: Volume | None = None
    vout: Volume | None = None
    title: str = ""  # a named block's text (``BOTTLENECK(64)``) or, for a labelled stage, its label
    block: str = ""  # a named block's name (``BOTTLENECK``)


@dataclass
class Merge:
    path: str
    how: str  # "concat", "add", "dense" or "gate"
    branches: list[Chain]
    vin: Volume | None = None
    vout: Volume | None = None
    shortcut: Chain | None = None  # add: the projection; None is the identity
    pre: Chain | None = None  # add: the shared pre-activation (He et al. 2016)
    post: Chain | None = None  # add: what follows the addition (the ReLU of He et al. 2015)
    scale: float = 1.0
    title: str = ""
    block: str = ""


@dataclass
class Tap:
    path: str
    head: Chain
    vin: Volume | None = None
    vout: Volume | None = None
    title: str = "auxiliary classifier"
    block: str = ""


@dataclass
class Network:
    """A network ready to lay out: its input volume, its parts in order, and the report they come from."""

    input: Volume
    body: Chain
    report: Report
    parts_by_path: dict[str, Part] = field(default_factory=dict)


class _Reader(Interpreter[Part]):
    def __init__(self, rows: dict[str, Row]) -> None:
        self.rows = rows

    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> Part:
        groups = getattr(layer, "groups", 1)
        groups = vin.c if groups == DEPTHWISE else groups  # one group per input channel
        return LayerPart(path, self.rows[path], vin, vout, groups if isinstance(groups, int) else 1,
                         not vin.flat and bool(layer.windows(vin)))  # fmt: skip

    def sequence(self, named: list[tuple[str, Part]], path: str) -> Part:
        items = [part for _, part in named]
        chain = Chain(path, items)
        if items:
            chain.vin, chain.vout = items[0].vin, items[-1].vout
        return chain

    def combine(self, node: Node, parts: dict[str, Part], vin: Volume, vout: Volume, path: str, ctx: Context) -> Part:
        """Any combinator, by how its parts join (``Node.joins``), never by its type."""
        if not node.joins:  # a named block: its body, titled with the block's text
            body = parts[""]
            part = body if isinstance(body, Chain | Merge | Tap) else Chain(path, [body], body.vin, body.vout)
            part.title, part.block = to_pattern_text(node).split(": ", 1)[-1], getattr(node, "name", "")
            return part
        chains = {name: _as_chain(part) for name, part in parts.items()}  # empty ones: see _settle
        if node.joins == "tap":
            return Tap(path, next(iter(chains.values())), vin, vout)
        if node.joins == "add" and "shortcut" not in chains and vin != vout:  # a skip that does not apply
            # (MobileNetV2 where the volume changes): a block of its own, with no shortcut to draw
            return Chain(path, list(chains.values()), vin, vout, title="residual, no skip")
        if node.joins == "add":
            extra = {name: chains.get(name) for name in ("pre", "shortcut", "post")}
            branches = [chain for name, chain in chains.items() if name not in extra]
            return Merge(path, "add", branches, vin, vout, scale=getattr(node, "scale", 1.0), **extra)
        return Merge(path, node.joins, list(chains.values()), vin, vout)


def _as_chain(part: Part) -> Chain:
    return part if isinstance(part, Chain) else Chain(part.path, [part], part.vin, part.vout)


def read_network(spec: NetSpec, volume: Volume | None = None) -> Network:
    """Walk a bound spec once for its report and once for its parts (the same paths and volumes)."""
    report = analyze_spec(spec, volume)
    reader = _Reader({row.path: row for row in report.rows})
    results = walk_network(spec, reader, report.input)
    items: list[Part] = []
    sections: list[Chain] = []  # features, pre_logits, post: laid out flat, but selectable by their path
    for part, _ in results.values():
        if isinstance(part, Chain) and not part.title:
            items.extend(part.items)
            sections += [part] if part.items else []
        else:
            items.append(part)
    for item in items:
        if isinstance(item, Chain) and not item.title:  # a labelled stage (``layer1: [BOTTLENECK(64)]*3``)
            item.title = item.path.rsplit(".", 1)[-1]
    body = Chain("", items)
    _settle(body, report.input)
    network = Network(report.input, body, report)
    _index(body, network.parts_by_path)
    for section in sections:
        network.parts_by_path.setdefault(section.path, section)
    return network


def _settle(part: Part, vin: Volume) -> None:
    """Give an empty chain (an identity branch, ``[X]*0``) the volume it receives, which it passes on.

    Everything else carries the volumes the walk gave it.
    """
    if part.vin is None:
        part.vin = vin
    if isinstance(part, Chain):
        v = part.vin
        for item in part.items:
            _settle(item, v)
            v = item.vout or v
        part.vout = part.vout or v
    elif isinstance(part, Merge):
        inner = part.vin
        if part.pre is not None:
            _settle(part.pre, inner)
            inner = part.pre.vout or inner
        for chain in (*part.branches, part.shortcut):
            if chain is not None:
                _settle(chain, inner)
        if part.post is not None:
            _settle(part.post, part.branches[0].vout if part.branches else inner)
    elif isinstance(part, Tap):
        _settle(part.head, part.vin)
    part.vout = part.vout or part.vin


def _index(part: Part, found: dict[str, Part]) -> None:
    """Every part by its path, the innermost winning (a block and its body share one path)."""
    if part.path and part.path not in found:
        found[part.path] = part
    for child in children(part):
        _index(child, found)


def children(part: Part) -> list[Part]:
    if isinstance(part, Chain):
        return list(part.items)
    if isinstance(part, Merge):
        extra = [c for c in (part.pre, part.shortcut, part.post) if c is not None]
        return [*extra[:1], *part.branches, *extra[1:]]
    if isinstance(part, Tap):
        return [part.head]
    return []


def layers(part: Part) -> list[LayerPart]:
    """Every primitive inside a part, in walk order."""
    if isinstance(part, LayerPart):
        return [part]
    return [leaf for child in children(part) for leaf in layers(child)]


def is_composite(part: Part) -> bool:
    """A block or combinator: something a diagram may collapse into one box."""
    return isinstance(part, Merge | Tap) or (isinstance(part, Chain) and bool(part.title))


def totals(part: Part) -> tuple[int, int]:
    """Params and MACs of the layers a part holds, as the report counts them: auxiliary heads left out,
    unless the part is nothing but one."""
    rows = [layer.row for layer in layers(part)]
    counted = [row for row in rows if not row.aux] or rows
    return sum(row.params for row in counted), sum(row.macs for row in counted)
