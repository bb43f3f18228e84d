"""The build interpreter: spec -> ordinary torch modules, named as ``spec.walk`` names them.

Primitives build their own modules (``Layer.module``), combinators theirs from their parts
(``Node.module``); the builder only joins the items of a container into an ``nn.Sequential``.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from convarch.spec.layers import Layer
from convarch.spec.nodes import Node
from convarch.spec.volume import Volume
from convarch.spec.walk import Context, Interpreter


class ModuleBuilder(Interpreter[nn.Module]):
    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> nn.Module:
        return layer.module(vin, inplace=ctx.owned)

    def sequence(self, named: list[tuple[str, nn.Module]], path: str) -> nn.Module:
        return nn.Sequential(OrderedDict(named))

    def combine(
        self, node: Node, parts: dict[str, nn.Module], vin: Volume, vout: Volume, path: str, ctx: Context
    ) -> nn.Module:
        return node.module(parts, vin, vout)
