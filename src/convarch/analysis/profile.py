"""Where a network keeps its memory and its parameters, layer by layer.

CS231n on VGG-16: "most of the memory (and also compute time) is used in the early CONV layers, and most
of the parameters are in the last FC layers". A profile lists each layer that allocates memory or holds
parameters, in order, and summarises each quantity by its centre of mass: the position (0 = first layer,
1 = last) of its weighted mean layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convarch.analysis.report import Report, Row


@dataclass(frozen=True)
class Profile:
    title: str
    names: tuple[str, ...]
    memory_bytes: tuple[int, ...]  # forward memory each layer's output adds
    params: tuple[int, ...]
    macs: tuple[int, ...]

    @property
    def memory_centre(self) -> float:
        return centre_of_mass(self.memory_bytes)

    @property
    def params_centre(self) -> float:
        return centre_of_mass(self.params)

    @property
    def macs_centre(self) -> float:
        return centre_of_mass(self.macs)

    def share_before(self, fraction: float, values: tuple[int, ...]) -> float:
        """The share of ``values`` held by the first ``fraction`` of the layers."""
        cut = round(len(values) * fraction)
        total = sum(values)
        return sum(values[:cut]) / total if total else 0.0

    def summary(self) -> str:
        """Where memory and parameters sit, in words; a quantity the network has none of says so."""
        if sum(self.memory_bytes):
            first = self.share_before(1 / 3, self.memory_bytes)
            memory = f"memory: centre at {self.memory_centre:.0%} of depth, {first:.0%} in the first third of the "
            memory += "layers."
        else:
            memory = "memory: no layer allocates any."
        if sum(self.params):
            last = 1 - self.share_before(2 / 3, self.params)
            params = f"params: centre at {self.params_centre:.0%} of depth, {last:.0%} in the last third."
        else:
            params = "params: none; the network has no layer with weights."
        return f"{memory} {params}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "layers": [
                {"name": n, "memory_bytes": m, "params": p, "macs": c}
                for n, m, p, c in zip(self.names, self.memory_bytes, self.params, self.macs, strict=True)
            ],
            "memory_centre": self.memory_centre,
            "params_centre": self.params_centre,
            "macs_centre": self.macs_centre,
        }


def centre_of_mass(values: tuple[int, ...] | list[int]) -> float:
    """Position in [0, 1] of the weighted mean index: 0 when everything sits in the first layer."""
    total = sum(values)
    if not total or len(values) < 2:
        return 0.0
    return sum(i * v for i, v in enumerate(values)) / total / (len(values) - 1)


def _counts(row: Row) -> bool:
    return not row.aux and (row.activation_bytes > 0 or row.params > 0)


def layer_profile(report: Report) -> Profile:
    """The profile of a report's main path (auxiliary heads left out, as in the totals)."""
    rows = [r for r in report.rows if _counts(r)]
    return Profile(
        title=report.title or str(report.input),
        names=tuple(r.name for r in rows),
        memory_bytes=tuple(r.activation_bytes for r in rows),
        params=tuple(r.params for r in rows),
        macs=tuple(r.macs for r in rows),
    )
