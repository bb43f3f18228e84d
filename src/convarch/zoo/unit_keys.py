"""Key maps by conv units: for layouts that name a CONV -> BN -> RELU unit as one module.

timm's Inception nets (``ConvNormAct``) and torchvision's GoogLeNet (``BasicConv2d``) keep a unit's conv and
batch norm as ``<unit>.conv`` and ``<unit>.bn``, and name units by their place in the original code rather
than by anything in the network's structure. A family lists those names in the order our walk meets the
units; ``unit_table`` pairs the two lists, so the correspondence is written once, as data.
"""

from __future__ import annotations

from collections.abc import Sequence

from convarch.errors import ConfigError
from convarch.spec.walk import Step


def conv_units(steps: Sequence[Step], under: str, *, top_level: bool = False) -> list[tuple[str, str | None]]:
    """The convs below the module path ``under`` in walk order, each with the BN that directly follows it.

    ``top_level`` keeps only convs that are direct children of ``under``. A conv without a BN right after
    it in the same container (the linear 1x1 of an Inception-ResNet block) comes with None.
    """
    units: list[tuple[str, str | None]] = []
    depth = under.count(".") + 1
    for i, step in enumerate(steps):
        if step.layer.kind != "CONV" or not step.path.startswith(under + "."):
            continue
        if top_level and step.path.count(".") != depth:
            continue
        parent = step.path.rsplit(".", 1)[0]
        after = steps[i + 1] if i + 1 < len(steps) else None
        followed = after is not None and after.layer.kind == "BN" and after.path.rsplit(".", 1)[0] == parent
        units.append((step.path, after.path if followed else None))  # type: ignore[union-attr]
    return units


def unit_table(names: Sequence[str], units: Sequence[tuple[str, str | None]]) -> dict[str, str | None]:
    """Source prefixes -> ours: ``name.conv``/``name.bn`` for a unit with BN, ``name`` for a bare conv."""
    if len(names) != len(units):
        where = units[0][0].rsplit(".", 1)[0] if units else "?"
        raise ConfigError(f"{where}: the key map names {len(names)} conv units but the network has {len(units)}")
    table: dict[str, str | None] = {}
    for name, (conv, bn) in zip(names, units, strict=True):
        if bn is None:
            table[name] = conv
        else:
            table[f"{name}.conv"], table[f"{name}.bn"] = conv, bn
    return table
