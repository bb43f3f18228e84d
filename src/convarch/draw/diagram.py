"""``draw``: a figure of a network, read from its spec, and the ``Diagram`` that holds it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from convarch.analysis.output import output_path
from convarch.api import bound_spec
from convarch.draw.fonts import font_file
from convarch.draw.reading import Chain, Network, Part, is_composite, read_network
from convarch.draw.scene import Scene
from convarch.draw.svg import scene_svg
from convarch.errors import ConfigError, advising
from convarch.io import atomic_write
from convarch.nn.model import ConvNet

STYLES = ("volumes", "block", "graph")
SUFFIXES = (".svg", ".png")
SHOWN = 6  # paths an `at` error names
PNG_ZOOM = 2.0  # pixels per SVG unit in a PNG: sharp on a slide or a high-density screen
MAX_PNG_PIXELS = 100e6  # 400 MB of RGBA: a 4,000-layer chain asked resvg for 7.4 GB and aborted the process


@dataclass(frozen=True)
class Diagram:
    """A drawn figure: ``svg`` is the SVG text; ``save`` writes it as .svg or .png."""

    scene: Scene
    style: str
    title: str = ""

    @property
    def svg(self) -> str:
        return scene_svg(self.scene)

    def png(self, zoom: float = PNG_ZOOM) -> bytes:
        """The figure rasterised by resvg with the font the layout measured (DejaVu Sans); a figure too large
        to rasterise here is refused before any pixel is allocated (its SVG has no such limit)."""
        import resvg_py

        pixels = self.scene.width * self.scene.height * zoom * zoom
        if pixels > MAX_PNG_PIXELS:
            message = (
                f"this figure is {self.scene.width * zoom:,.0f} x {self.scene.height * zoom:,.0f} pixels as a PNG, "
                f"over the {MAX_PNG_PIXELS / 1e6:.0f}-megapixel limit ({pixels * 4 / 2**30:.1f} GiB to rasterise); "
                "save it as .svg, or draw less of it with depth or at"
            )
            raise advising(ConfigError(message), "depth", "at")

        return bytes(resvg_py.svg_to_bytes(svg_string=self.svg, font_files=[font_file(), font_file(bold=True)],
                                           skip_system_fonts=True, zoom=zoom, background="#ffffff"))  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the figure to ``path`` (.svg or .png), atomically: no partial file is ever left."""
        target = output_path(path, SUFFIXES, what="diagram")
        data = self.png() if target.suffix.lower() == ".png" else self.svg.encode("utf-8")
        return atomic_write(target, lambda temp: Path(temp).write_bytes(data))

    def _repr_svg_(self) -> str:  # Jupyter
        return self.svg


def draw(
    net: Any,
    *,
    style: str = "volumes",
    input_size: tuple[int, int, int] | None = None,
    at: str | None = None,
    depth: int | None = None,
    **keywords: Any,
) -> Diagram:
    """Draw a zoo name, pattern text (with ``N=..`` bindings), a spec or a convarch model.

    ``style``: ``"volumes"`` (each layer's output volume as a box in perspective), ``"block"`` (one module
    as the papers draw it; every distinct block type without ``at``) or ``"graph"`` (a vertical graph, one
    node per layer or collapsed block, with volume, params and MACs). ``at`` selects a module by its path as
    the report gives it (``features.inception3a``) or by a unique suffix of it (``inception3a``). ``depth``
    is how many levels of blocks to open (by default the deepest that stays readable). Nothing is built and
    nothing runs: the figure is read from the spec, with the same paths and numbers as ``analyze``. Every
    element that stands for a layer or block carries its module path as ``data-path``; a collapsed run
    (``x35``) also lists every block it stands for in ``data-members``.
    """
    if style not in STYLES:
        close = difflib.get_close_matches(str(style), STYLES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown style {style!r}: choose one of {', '.join(STYLES)}{hint}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ConfigError(f"depth must be a whole number of at least 0, got {depth!r}")
    if at is not None and not isinstance(at, str):
        raise ConfigError(f"at names a module by its path (a string such as 'layer3.0'), got {at!r}")
    if isinstance(net, nn.Module) and not isinstance(net, ConvNet):
        raise ConfigError(
            f"{type(net).__name__} has no spec to draw; draw a zoo name, pattern text or a convarch model "
            "(ca.create_model / ca.build)"
        )
    spec, volume, name = bound_spec(net, input_size, **keywords)
    network = read_network(spec, volume)
    title = name or _pattern_title(net, keywords)
    part = find_part(network, at) if at is not None else None
    if style == "volumes":
        from convarch.draw.volumes import volumes_scene

        if part is not None:
            network = _focused(network, part)
            title = f"{title}: {part.path}"
        return Diagram(volumes_scene(network, depth, title), style, title)
    if style == "block":
        from convarch.draw.block import block_scene

        return Diagram(block_scene(network, part, depth, title), style, title)
    from convarch.draw.graph import graph_scene

    if part is not None:
        network = _focused(network, part)
        title = f"{title}: {part.path}"
    return Diagram(graph_scene(network, depth, title), style, title)


def _pattern_title(net: Any, keywords: dict[str, Any]) -> str:
    """A pattern's own text (with its bindings) as the title, when it fits on a line."""
    text = " ".join(net.split()) if isinstance(net, str) else ""
    # Template variables (upper case, in the order given), then options: the same title from Python and the CLI.
    names = [k for k in keywords if k[:1].isupper()] + sorted(k for k in keywords if not k[:1].isupper())
    bindings = ", ".join(f"{k}={keywords[k]}" for k in names if k != "input_size")
    if not text or len(text) > 100:
        return "network"
    return f"{text}  ({bindings})" if bindings else text


def _focused(network: Network, part: Part) -> Network:
    """The network cut down to one part, starting from the volume it receives."""
    vin = part.vin if part.vin is not None else network.input
    return Network(vin, Chain("", [part], vin, part.vout), network.report, network.parts_by_path)


def find_part(network: Network, at: str) -> Part:
    """The part at a module path, or at the one path that ends with ``at``; else the nearest paths."""
    paths = network.parts_by_path
    wanted = at.strip().strip(".")
    if wanted in paths:
        return paths[wanted]
    matches = [p for p in paths if p.endswith("." + wanted)]
    if len(matches) == 1:
        return paths[matches[0]]
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:SHOWN])
        more = f" and {len(matches) - SHOWN} more" if len(matches) > SHOWN else ""
        message = f"at {at!r} matches {len(matches)} modules ({shown}{more}); give more of the path"
        raise advising(ConfigError(message), "at")
    near = nearest_paths(wanted, paths)
    hint = f"; the nearest module paths are {', '.join(near)}" if near else ""
    raise ConfigError(f"no module at {at!r} in this network{hint}. `convarch show` lists every path.")


def nearest_paths(wanted: str, paths: dict[str, Part], count: int = SHOWN) -> list[str]:
    """The paths most like ``wanted``, as a whole or by their last name (``c1`` is near ``features.conv1``);
    blocks before layers where they are as near, since a block is what one most often selects."""

    def score(path: str) -> float:
        last = path.rsplit(".", 1)[-1]
        return max(difflib.SequenceMatcher(None, wanted, text).ratio() for text in (path, last))

    scored = [(score(p), is_composite(paths[p]), -len(p), p) for p in paths]
    return [p for s, *_, p in sorted(scored, reverse=True) if s >= 0.3][:count]
