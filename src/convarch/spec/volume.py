"""Volumes and the window arithmetic of CS231n: ``(W - F + 2P)/S + 1``, checked exactly in integers."""

from __future__ import annotations

from dataclasses import dataclass

from convarch.errors import SizingError

IMAGE_CHANNELS = (1, 3, 4)  # grey, RGB, RGBA
MIN_IMAGE_SIDE = 28  # MNIST's, the smallest common image side


@dataclass(frozen=True)
class Volume:
    """An activation volume. Text uses the seed's ``H x W x C`` order; tuples use PyTorch's ``(C, H, W)``.

    ``flat`` marks a vector (the output of FC, FLATTEN or GAP). It prints as ``1x1xC`` as in the CS231n
    tables, but a CONV or POOL cannot follow it.
    """

    c: int
    h: int
    w: int
    flat: bool = False

    @classmethod
    def of(cls, size: tuple[int, int, int] | Volume) -> Volume:
        """Build from a PyTorch ``(C, H, W)`` tuple."""
        if isinstance(size, Volume):
            return size
        if isinstance(size, str):  # "224" would be read digit by digit as (2, 2, 4)
            raise SizingError(
                f"input size must be a (C, H, W) tuple of integers, got the string {size!r}; the text form "
                "H x W x C is for pattern text (INPUT(224x224x3))"
            )
        try:
            c, h, w = (int(v) for v in size)
        except (TypeError, ValueError):
            raise SizingError(f"input size must be (C, H, W), got {size!r}") from None
        if min(c, h, w) < 1:
            raise SizingError(f"input size must be positive, got (C, H, W) = ({c}, {h}, {w})")
        volume = cls(c, h, w)
        mistake = volume.order_mistake(f"input_size {size!r}", text=False)
        if mistake:
            raise SizingError(mistake)
        return volume

    def order_mistake(self, given: str, *, text: bool) -> str | None:
        """Why this input looks like the other order, or None: the one check every entry point makes.

        Text writes ``H x W x C`` and tuples PyTorch's ``(C, H, W)``, and users mix them up: ``3x224x224``
        reads as 224 channels 3 pixels high, ``(224, 224, 3)`` as 224 channels 3 pixels wide. An image has
        1, 3 or 4 channels (grey, RGB, RGBA), so a side of 1, 3 or 4 next to a channel count equal to the
        other side, and at least MNIST's 28, is a square image in the wrong order. (A 1 x L x C input of a
        text CNN, with its embeddings as channels, has C unrelated to L, so it passes.)
        """
        small, other = (self.h, self.w) if text else (self.w, self.h)
        if small not in IMAGE_CHANNELS or self.c != other or self.c < MIN_IMAGE_SIDE:
            return None
        if text:  # C x H x W typed where H x W x C was meant
            meant, order = f"{self.w}x{self.c}x{self.h}", "the text order is H x W x C"
        else:  # (H, W, C) typed where (C, H, W) was meant
            meant, order = f"({self.w}, {self.c}, {self.h})", "tuples are PyTorch's (C, H, W)"
        return (f"{given} reads as {self.c} channels of {self.h}x{self.w} pixels, but {order}: an image with "
                f"{small} channel{'s' if small > 1 else ''} is {meant}")  # fmt: skip

    @property
    def numel(self) -> int:
        return self.c * self.h * self.w

    @property
    def chw(self) -> tuple[int, int, int]:
        return (self.c, self.h, self.w)

    def __str__(self) -> str:
        return f"{self.h}x{self.w}x{self.c}"


@dataclass(frozen=True)
class WindowSize:
    """The output size of one spatial axis of a sliding window, with the arithmetic behind it."""

    size: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    ceil: bool
    out: int
    exact: bool  # True when (W - F + 2P) is divisible by S: nothing is floored away

    @property
    def span(self) -> int:
        """The effective filter size F, which dilation widens."""
        return self.dilation * (self.kernel - 1) + 1

    def formula(self, axis: str = "W") -> str:
        """The CS231n formula with the numbers filled in, e.g. ``(15 − 3 + 0)/2 + 1 = 7``."""
        top = self.size - self.span + 2 * self.padding
        value = f"{top / self.stride + 1:g}" if not self.exact else str(self.out)
        rounding = ""
        if not self.exact:
            rounding = f" -> {'ceil' if self.ceil else 'floor'} {self.out}"
        return (
            f"({axis} − F + 2P)/S + 1 = ({self.size} − {self.span} + {2 * self.padding})/{self.stride} + 1 "
            f"= {value}{rounding}"
        )


def window_output(
    size: int, kernel: int, stride: int, padding: int = 0, *, dilation: int = 1, ceil: bool = False
) -> WindowSize:
    """Output length of a conv/pool window along one axis, exactly as PyTorch computes it.

    ``out`` may be zero or negative; callers decide whether that is an error (see ``check_positive``).
    With ``ceil`` PyTorch drops a last window that would start inside the right padding.
    """
    span = dilation * (kernel - 1) + 1
    top = size + 2 * padding - span
    exact = top % stride == 0
    out = (-(-top // stride) if ceil else top // stride) + 1
    if ceil and out > 0 and (out - 1) * stride >= size + padding:
        out -= 1
    return WindowSize(size, kernel, stride, padding, dilation, ceil, out, exact)


def check_positive(calc: WindowSize, layer: str, axis: str = "W") -> int:
    """Return the output size, or raise a SizingError that shows the arithmetic and a fix."""
    if calc.out >= 1:
        return calc.out
    raise SizingError(
        f"the volume collapses: {calc.formula(axis)}. The input is too small for this layer; "
        f"use a larger input (at least {calc.span - 2 * calc.padding}), more padding, or fewer "
        "downsampling layers before it.",
        layer=layer,
        rule="collapsed-volume",
    )
