"""What a diagram shows at a given depth: the parts to draw, with repeats and stages collapsed.

``depth`` counts the levels of composites that are opened: at depth 0 every top-level block or stage is
one unit; at depth 1 a stage shows its blocks; at depth 2 a block shows its layers and branches. A run of
identical collapsed composites (``[BOTTLENECK(256)]*35``) is one unit marked ``x35``; an opened run shows
every member. Without a depth, the deepest view that stays readable is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from convarch.draw.reading import Chain, LayerPart, Merge, Part, Tap, children, is_composite, layers

JOINS = {"add": "residual", "concat": "concat", "dense": "dense block", "gate": "gate"}  # unnamed composites
READABLE_UNITS = 34  # the most boxes the automatic depth allows in one figure
MAX_DEPTH = 6


@dataclass
class Unit:
    """One thing in a chain of a figure: a part, opened or collapsed, standing for ``count`` identical parts."""

    part: Part
    count: int = 1
    opened: bool = False
    members: list[Part] | None = None  # the identical parts a run stands for

    @property
    def paths(self) -> list[str]:
        return [p.path for p in (self.members or [self.part])]


def signature(part: Part) -> tuple:
    """Parts with equal signatures draw identically when collapsed."""
    if isinstance(part, LayerPart):
        return ("layer", part.title, str(part.vout))
    return (type(part).__name__, kind_key(part), str(part.vin), str(part.vout), len(children(part)))


def kind_key(part: Part) -> str:
    """What kind of module a composite is: its block name, or (unnamed) its join and its layers."""
    if getattr(part, "block", ""):
        return part.block + ":" + part.title
    return f"{getattr(part, 'how', '')}:{part.title}:" + ",".join(layer.title for layer in layers(part))


def units(chain: Chain, level: int, depth: int, keep: Callable[[LayerPart], bool]) -> list[Unit]:
    """The units of a chain at nesting ``level``: layers that ``keep`` accepts, and composites.

    Consecutive identical layers or collapsed composites become one unit with a count; opened composites
    are each drawn in full.
    """
    found: list[Unit] = []
    for part in chain.items:
        if isinstance(part, LayerPart) and not keep(part):
            continue
        if isinstance(part, Chain) and not part.title:
            found.extend(units(part, level, depth, keep))
            continue
        unit = Unit(part, opened=is_composite(part) and level < depth)
        previous = found[-1] if found else None
        if previous and not unit.opened and not previous.opened and signature(previous.part) == signature(part):
            previous.count += 1
            previous.members = [*(previous.members or [previous.part]), part]
        else:
            found.append(unit)
    return found


def count_units(chain: Chain, level: int, depth: int, keep: Callable[[LayerPart], bool]) -> int:
    total = 0
    for unit in units(chain, level, depth, keep):
        total += 1
        if unit.opened and is_composite(unit.part):
            total += sum(count_units(c, level + 1, depth, keep) for c in inner_chains(unit.part))
    return total


def inner_chains(part: Part) -> list[Chain]:
    if isinstance(part, Chain):
        return [part]
    if isinstance(part, Merge):
        return [c for c in (part.pre, *part.branches, part.shortcut, part.post) if c is not None]
    if isinstance(part, Tap):
        return [part.head]
    return []


def auto_depth(chain: Chain, keep: Callable[[LayerPart], bool], limit: int = READABLE_UNITS) -> int:
    """The deepest view whose unit count stays within ``limit`` (at least the top level)."""
    best = 0
    for depth in range(1, MAX_DEPTH + 1):
        if count_units(chain, 0, depth, keep) > limit:
            break
        if count_units(chain, 0, depth, keep) == count_units(chain, 0, depth - 1, keep):
            break
        best = depth
    return best


def run_label(part: Part) -> str:
    """A short name for a composite: its label, else its block text (``BOTTLENECK(64)``)."""
    name = part.path.rsplit(".", 1)[-1]
    if name and not name.isdigit() and not name.startswith(("branch", "layer", "body", "head")):
        return name
    return part.title or JOINS.get(getattr(part, "how", ""), "") or name


def summary(part: Part) -> str:
    """What a collapsed composite holds: ``INCEPTION``, ``3x BOTTLENECK``, ``DENSE(6)``."""
    if isinstance(part, Chain) and not part.block:
        runs: list[list] = []
        for child in part.items:
            name = getattr(child, "block", "") or child.title
            if runs and runs[-1][0] == name:
                runs[-1][1] += 1
            else:
                runs.append([name, 1])
        text = ", ".join(f"{n}x {name}" if n > 1 else name for name, n in runs)
        return text if len(text) <= 40 else f"{len(part.items)} blocks"
    if part.title and len(part.title) <= 24:
        return part.title
    if part.block or not isinstance(part, Merge):
        return part.block
    count = len(part.branches)
    return {"concat": f"{count} branches", "dense": f"{count} layers"}.get(part.how, "")


def shortcut_name(merge: Merge) -> str:
    """What a residual's skip is: the identity, a projection (it has weights, He et al. 2015 eq. 2), or a
    parameter-free shortcut (option A's subsampling and zero padding, §3.3)."""
    if merge.how == "gate":
        return "gate"
    if merge.shortcut is None or not merge.shortcut.items:
        return "identity"
    return "projection" if any(layer.row.params for layer in layers(merge.shortcut)) else "shortcut"
