"""Analysis of any ``nn.Module``: one forward pass on the meta device, with hooks on the leaf modules.

A module without a spec (torchvision's, timm's, the user's own) is analysed by running it once on a
``meta`` tensor: shapes flow, no memory is allocated and no arithmetic is done. The parameters and
buffers are swapped for meta tensors for the duration (``_on_meta``, module by module), so the user's
weights are neither copied nor touched.

Each call of a leaf module becomes a row in the spec's vocabulary: the primitive whose ``torch_types``
include the module (Conv2d -> CONV, Linear -> FC, pools, BN, ReLU, dropout, LRN, convarch's own layers)
names it, counts its multiply-adds and says whether it allocates. Combinators (``ResidualUnit``,
``Concat``, ``DenseBlock``, ``ChannelGate``) and functional code (``x + y``, ``torch.cat``, ``F.relu``) have
no rows, as in the spec walk. An ``AuxTap`` head, which runs only in training, is run at its tap and its
rows are marked ``aux``. For a model convarch built, every row equals the spec walk's (tests check that
for every zoo model).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from convarch.analysis.report import Report, Row
from convarch.errors import ConfigError, ConvarchError, SizingError
from convarch.nn import layers as L
from convarch.spec.layers import PRIMITIVES, Layer
from convarch.spec.volume import Volume

# Leaf modules that are plumbing, not layers: the spec has no rows for them.
SKIPPED = (nn.Identity, L.HeadFlatten, nn.Sequential, nn.ModuleList, nn.ModuleDict)


def primitive_of(module: nn.Module) -> type[Layer] | None:
    """The primitive whose ``torch_types`` include this module's type (None: no primitive stands for it)."""
    return next((p for p in PRIMITIVES.values() if p.torch_types and isinstance(module, p.torch_types)), None)


def kind_of(module: nn.Module) -> str:
    """The vocabulary kind of a leaf module; ``CONV`` for any other convolution, ``OTHER`` for the rest."""
    primitive = primitive_of(module)
    if primitive is not None:
        return primitive.kind
    return "CONV" if isinstance(module, nn.modules.conv._ConvNd) else "OTHER"


def name_of(module: nn.Module, v: Volume) -> str:
    """Seed notation (``CONV3-64``) where the module has one; its class name otherwise."""
    primitive = primitive_of(module)
    if primitive is not None:
        try:
            return primitive.from_module(module, v).text()
        except (ConvarchError, TypeError, ValueError):
            pass
    return type(module).__name__


def _volume_text(shape: torch.Size) -> str:
    if len(shape) == 4:
        return str(Volume(shape[1], shape[2], shape[3]))
    if len(shape) == 2:
        return str(Volume(shape[1], 1, 1, flat=True))
    return "x".join(str(n) for n in shape[1:])


def _macs(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    """Multiply-adds for one sample, from the shapes alone (torchvision's ``_ops`` convention)."""
    primitive = primitive_of(module)
    if primitive is not None:
        return primitive.module_macs(module, x, out)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return x.numel() // module.in_channels * module.weight.numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        return out.numel() // module.out_channels * module.weight.numel()
    return 0


class _Recorder:
    """Forward hooks that turn each leaf-module call into a Row."""

    def __init__(self, model: nn.Module) -> None:
        self.paths = {module: name for name, module in model.named_modules()}
        self.rows: list[Row] = []
        self.ran: set[nn.Module] = set()
        self.counted: set[int] = set()  # a module called twice, or a tensor two modules tie, counts once
        self.in_aux = False

    def leaf(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self.ran.add(module)
        if isinstance(module, SKIPPED):
            return
        x = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
        out = output if isinstance(output, torch.Tensor) else next(iter(_tensors(output)), None)
        if x is None or out is None:
            return
        kind = kind_of(module)
        vin = Volume(x.shape[1], x.shape[2], x.shape[3]) if x.dim() == 4 else Volume(x[0].numel(), 1, 1, flat=True)
        params = weights = 0
        for name, p in module.named_parameters(recurse=False):
            if id(p) not in self.counted:
                self.counted.add(id(p))
                params += p.numel()
                weights += p.numel() if name != "bias" else 0
        primitive = primitive_of(module)
        allocates = primitive.allocates if primitive is not None else not getattr(module, "inplace", False)
        self.rows.append(
            Row(
                index=len(self.rows) + 1,
                name=name_of(module, vin),
                kind=kind,
                path=self.paths[module],
                output=_volume_text(out.shape),
                activations=sum(t.numel() for t in _tensors(output)),
                params=params,
                weights=weights,
                macs=_macs(module, x, out),
                allocates=allocates,
                aux=self.in_aux,
            )
        )

    def composite(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self.ran.add(module)

    def aux_tap(self, module: L.AuxTap, inputs: tuple[Any, ...], output: Any) -> None:
        """Run the auxiliary head where it taps the main path, as training would."""
        self.ran.add(module)
        self.in_aux = True
        try:
            module.head(output)
        finally:
            self.in_aux = False

    def leftover_rows(self, model: nn.Module, metas: dict[int, torch.Tensor]) -> Iterator[Row]:
        """Parameters no leaf row holds: on a composite that ran, or on modules that never ran. ``metas``
        maps each of the user's tensors to the meta tensor that stood in for it in the forward pass."""
        held_by_composites = never_ran = 0
        for module in model.modules():
            own = 0
            for p in module.parameters(recurse=False):
                stand_in = id(metas.get(id(p), p))
                if stand_in not in self.counted:
                    self.counted.add(stand_in)
                    own += p.numel()
            if not own:
                continue
            if module in self.ran:
                held_by_composites += own
            else:
                never_ran += own
        # Both count in the totals: they are the model's parameters (a module may use another's weights through
        # a functional call, as MultiheadAttention uses out_proj). Only their multiply-adds are unknown.
        extra = [("parameters of composite modules", held_by_composites, False),
                 ("parameters of modules that did not run as modules in eval mode", never_ran, False)]  # fmt: skip
        for label, count, aux in extra:
            if count:
                yield Row(len(self.rows) + 1, f"({label})", "PARAMS", "", "", 0, count, count, 0, False, aux)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the pass, then every submodule's own mode back (a frozen BN stays frozen)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextmanager
def _on_meta(model: nn.Module) -> Iterator[dict[int, torch.Tensor]]:
    """Each module's own parameters and buffers as meta tensors for the duration, then the user's again.

    Swapped per module (``modules()`` yields a shared module once), not by name: ``functional_call`` with
    a layer used twice (``Sequential(conv, relu, conv)``) restored its second name to the meta tensor it
    had just put in under the first, and the user's weights were gone.
    """
    saved = []
    metas: dict[int, torch.Tensor] = {}  # a tensor tied between modules stays one tensor (counted once)
    try:
        for module in model.modules():
            for store in (module._parameters, module._buffers):
                for name, tensor in list(store.items()):
                    if tensor is not None:
                        saved.append((store, name, tensor))
                        if id(tensor) not in metas:
                            meta = torch.empty_like(tensor, device="meta")
                            is_parameter = isinstance(tensor, nn.Parameter)
                            metas[id(tensor)] = nn.Parameter(meta, tensor.requires_grad) if is_parameter else meta
                        store[name] = metas[id(tensor)]
        yield metas
    finally:
        for store, name, tensor in reversed(saved):
            store[name] = tensor


def analyze_module(
    model: nn.Module, input_size: tuple[int, int, int] | Volume = (3, 224, 224), title: str = ""
) -> Report:
    """The report of any module, from one forward pass on the meta device (batch size 1)."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"expected an nn.Module, got {type(model).__name__}")
    volume = Volume.of(input_size)
    recorder = _Recorder(model)
    handles = []
    for module in model.modules():
        if isinstance(module, L.AuxTap):
            handles.append(module.register_forward_hook(recorder.aux_tap))
        elif next(module.children(), None) is None:
            handles.append(module.register_forward_hook(recorder.leaf))
        else:
            handles.append(module.register_forward_hook(recorder.composite))
    x = torch.empty(1, *volume.chw, device="meta")
    try:
        with _eval_mode(model), _on_meta(model) as metas, torch.no_grad():
            model(x)
    except ConvarchError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError) as error:
        raise SizingError(
            f"{type(model).__name__} does not run on a {volume} input (C, H, W = {volume.chw}): "
            f"{str(error).splitlines()[0]}. Give the input size it expects with input_size=(C, H, W)."
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    rows = recorder.rows + list(recorder.leftover_rows(model, metas))
    return Report(volume, rows, title or type(model).__name__, source="module")
