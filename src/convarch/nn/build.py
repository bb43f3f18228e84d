"""The build interpreter: spec -> ordinary torch modules, named as ``spec.walk`` names them."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from convarch.nn.layers import AuxTap, Concat, DenseBlock, ResidualUnit
from convarch.spec.layers import Layer
from convarch.spec.nodes import Aux, Dense, Node, Parallel, Residual
from convarch.spec.volume import Volume
from convarch.spec.walk import Context, Interpreter, last_item

# Layers whose backward pass does not need their own output, so a residual sum may overwrite it.
_SAFE_TO_OVERWRITE = frozenset({"CONV", "BN", "FC", "POOL"})


class ModuleBuilder(Interpreter[nn.Module]):
    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> nn.Module:
        return layer.module(vin, inplace=ctx.owned)

    def sequence(self, named: list[tuple[str, nn.Module]], path: str) -> nn.Module:
        return nn.Sequential(OrderedDict(named))

    def parallel(self, branches: list[nn.Module], path: str) -> nn.Module:
        return Concat(branches)

    def residual(
        self,
        body: nn.Module,
        shortcut: nn.Module | None,
        pre: nn.Module | None,
        post: nn.Module | None,
        node: Residual,
        path: str,
    ) -> nn.Module:
        return ResidualUnit(body, shortcut, pre, post, node.scale, add_inplace=_ends_safely(node.body))

    def dense(self, layers: list[nn.Module], path: str) -> nn.Module:
        return DenseBlock(layers)

    def aux(self, head: nn.Module, node: Aux, path: str) -> nn.Module:
        return AuxTap(head, node.weight)


def _ends_safely(body: Node) -> bool:
    """Whether ``body(x) += skip`` is allowed: the last layer is one that autograd does not replay."""
    last = last_item(body)
    if isinstance(last, Parallel | Dense):
        return True  # a fresh torch.cat result
    if isinstance(last, Residual):
        return last.post is None or _ends_safely(last.post)
    return isinstance(last, Layer) and last.kind in _SAFE_TO_OVERWRITE
