"""A clear SizingError instead of a torch shape error when a batch does not fit the network.

``ConvNet.forward`` calls ``check_input`` once per new input size (a cache makes later calls a tuple
comparison). The check walks the spec with integer arithmetic at the batch's size, so it names the
layer where the volume collapses, and it compares what each FC layer would receive with what it was built
for, since an FC fixed to one feature-map size cannot take another.
"""

from __future__ import annotations

import torch

from convarch.errors import SizingError
from convarch.spec.edit import with_input
from convarch.spec.nodes import NetSpec
from convarch.spec.walk import trace


def tracing() -> bool:
    """Whether the forward pass is being compiled, scripted or traced (checks would not be graph code)."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting()


def check_input(spec: NetSpec, shape: tuple[int, ...]) -> None:
    """Raise a SizingError naming the problem if a batch of ``shape`` cannot run through ``spec``'s network."""
    if len(shape) != 4:
        raise SizingError(f"the network takes a batch of images (N, C, H, W); got a tensor of shape {tuple(shape)}")
    _, c, h, w = shape
    built = spec.input
    if c != built.c:
        raise SizingError(
            f"the network takes {built.c}-channel images but the batch has {c} channels; build it with "
            f"in_chans={c} (create_model(name, in_chans={c})) or convert the images"
        )
    if (h, w) == (built.h, built.w):
        return
    at_size = trace(with_input(spec, size=(h, w)))  # names the layer where the volume collapses
    for expected, got in zip(trace(spec), at_size, strict=True):
        if expected.layer.kind == "FC" and expected.input.numel != got.input.numel:
            raise SizingError(
                f"it was built for {expected.input} = {expected.input.numel:,} inputs, but a {h}x{w} image "
                f"gives it {got.input} = {got.input.numel:,}. Feed {built.h}x{built.w} images, or build the "
                f"network for this size (ca.build(..., input_size=({c}, {h}, {w}))).",
                layer=f"{got.path} {got.layer.text()}",
            )
