"""The base of every primitive, the registry of primitives, and the helpers they share.

A primitive knows four things for a given input volume: its output volume, its parameter count (and
weights, i.e. parameters without biases), its multiply-adds, and how to build its torch module. It also
prints itself in pattern notation (``CONV3-64``, ``POOL3(s=2)``), and it carries the facts readers ask
about it, as class attributes, so no reader keeps a list of kinds:

* ``allocates``: its output takes new memory in a built model (not an in-place ReLU, an eval-mode
  dropout or a view), for the memory figures of ``analysis/report.py``;
* ``hands_on_input``: its output *is* its input tensor, so the next layer does not own it (``spec/walk.py``);
* ``overwritable``: autograd does not need its output, so a residual sum may be added into it in place;
* ``starts_head()`` / ``classifier``: the head of the network starts at it / it can end the head as the
  classifier (``walk.split``);
* ``torch_types`` and ``from_module``: the torch modules it stands for, for ``analyze(nn.Module)``;
* ``linear``, ``affine`` / ``is_affine()`` and ``on_scores``: whether it is a learned linear map (CONV, FC),
  keeps such a map linear (a scale, shift, reshape, padding or average), and what it does wrong to class
  scores after the classifier, for the checker's nonlinearity rules (``analysis/nonlinearity_rules.py``).

Defining a subclass with a ``kind`` registers it under its pattern ``token`` (the kind by default) in
``PRIMITIVES``: a new primitive is one class in one file (imported by ``spec.layers``) and its test.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from torch import nn

from convarch.errors import ConfigError, SizingError
from convarch.spec.nodes import Node
from convarch.spec.volume import Volume, WindowSize, check_positive

Pair = tuple[int, int]


def pair(value: Any, what: str, minimum: int = 1) -> Pair:
    """Normalise ``3`` or ``(1, 7)`` to a pair of ints, refusing anything else with a clear message."""
    items = value if isinstance(value, tuple | list) else (value, value)
    if len(items) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ConfigError(f"{what} must be an integer or HxW pair, got {value!r}")
    if min(items) < minimum:
        raise ConfigError(f"{what} must be at least {minimum}, got {value!r}")
    return (int(items[0]), int(items[1]))


def positive_int(value: Any, what: str) -> int:
    """``value`` as an int (NumPy's integers too) if it is a whole number >= 1, else a ConfigError that names
    ``what``: so a bad spec, batch or opset fails where it is written, not in a walk or a kernel."""
    try:
        whole = operator.index(value) if not isinstance(value, bool) else 0
    except TypeError:
        whole = 0
    if whole < 1:
        raise ConfigError(f"{what} must be a positive whole number (at least 1), got {value!r}")
    return whole


def format_value(value: Any) -> str:
    """Pattern text for an argument value: ``3``, ``1x7``, ``true``, ``0.5``, ``avg``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def need_spatial(layer: Layer, v: Volume) -> None:
    if v.flat:
        raise SizingError(
            f"needs a spatial input, but receives the flat vector {v} (an FC, FLATTEN or GAP came "
            "before it). Move it before the first FC or GAP.",
            layer=layer.text(),
            rule="spatial-after-flat",
        )


def window_sizes(layer: Layer, v: Volume) -> tuple[int, int]:
    """Output H and W of a windowed layer, or a SizingError that shows the arithmetic.

    The layer's text is made only for the error: making it for every call dominated the cost of a walk.
    """
    h, w = (calc.out if calc.out >= 1 else check_positive(calc, layer.text(), axis)
            for calc, axis in zip(layer.windows(v), "HW", strict=True))  # fmt: skip
    return h, w


PRIMITIVES: dict[str, type[Layer]] = {}
"""Every primitive by its pattern token, filled as the classes are defined (``Layer.__init_subclass__``)."""


@dataclass(frozen=True)
class Layer(Node):
    """Base of the primitives. Defaults describe an elementwise layer: same volume, no weights."""

    kind: ClassVar[str]  # the vocabulary kind: report rows, module names (conv1), the checker
    token: ClassVar[str] = ""  # the pattern word; the kind unless a class says otherwise (DWCONV is a CONV)
    shorthand: ClassVar[tuple[str, ...]] = ()  # fields written inline: CONV{f}-{out}, FC{out}
    positional: ClassVar[tuple[str, ...]] = ()  # fields accepted without a name: DROPOUT(0.5)
    # Facts readers ask (see the module docstring).
    allocates: ClassVar[bool] = True
    overwritable: ClassVar[bool] = False
    classifier: ClassVar[bool] = False
    torch_types: ClassVar[tuple[type, ...]] = ()
    linear: ClassVar[bool] = False
    affine: ClassVar[bool] = False
    on_scores: ClassVar[str] = ""  # completes "after the last FC, which gives the class scores, it ..."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        token = cls.__dict__.get("token") or cls.__dict__.get("kind")
        if token:
            if PRIMITIVES.get(token, cls).__qualname__ != cls.__qualname__:
                raise ConfigError(f"the pattern token {token} is already taken by {PRIMITIVES[token].__name__}")
            cls.token = token
            PRIMITIVES[token] = cls

    def starts_head(self) -> bool:
        """Whether the network's head (``pre_logits``, classifier) starts at this layer."""
        return False

    def output_overwritable(self) -> bool:
        return self.overwritable

    def is_affine(self) -> bool:
        """Whether a linear map stays linear through this layer (a POOL is, when it averages)."""
        return self.affine

    @classmethod
    def from_module(cls, module: nn.Module, v: Volume) -> Layer:
        """The primitive a torch module of ``torch_types`` is, on input ``v`` (``analyze(nn.Module)``).

        A ConfigError where the module has no pattern notation (a dilated conv)."""
        return cls()

    @classmethod
    def module_macs(cls, module: nn.Module, x: Any, out: Any) -> int:
        """Multiply-adds of one call of such a module on one sample, from the tensor shapes alone."""
        return 0

    def output(self, v: Volume) -> Volume:
        return v

    def params(self, v: Volume) -> int:
        return 0

    def weights(self, v: Volume) -> int:
        return 0

    def macs(self, v: Volume) -> int:
        return 0

    def windows(self, v: Volume) -> tuple[WindowSize, ...]:
        """The sliding-window arithmetic along H and W (empty for layers without a window)."""
        return ()

    def resolved(self, v: Volume) -> Layer:
        """This layer with every size that depends on the input written out (for listings)."""
        return self

    def exact(self, v: Volume) -> bool:
        """True when every window fits exactly: nothing is floored or rounded away."""
        return all(w.exact for w in self.windows(v))

    def module(self, v: Volume, inplace: bool = False) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__}.module")

    # ---- pattern text -------------------------------------------------------------------------
    def defaults(self) -> dict[str, Any]:
        """Each field's default for this instance (some depend on others, e.g. padding on F)."""
        return {f.name: f.default for f in fields(self) if f.name != "label"}

    def text(self) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "label"}
        defaults = self.defaults()
        head = self.token
        for i, name in enumerate(self.shorthand):
            if values[name] is None:
                break
            head += ("-" if i else "") + format_value(values[name])
        extra = [f"{k}={format_value(v)}" for k, v in values.items() if k not in self.shorthand and v != defaults[k]]
        return f"{head}({', '.join(extra)})" if extra else head
