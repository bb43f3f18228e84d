"""Binding turns a template into a concrete network.

A template is what the seed writes: ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC``.
Binding fills in, in one pass that follows the volume through the net:

* the INPUT volume (``input_size``; default 32x32x3, CIFAR-sized, when neither text nor caller gives one);
* template variables such as ``N``, ``M``, ``K`` (an unbound one is an error that names it);
* bare ``CONV``: a 3x3 conv whose width starts at ``base_width`` and doubles after each downsampling
  layer, capped at ``max_width`` (VGG's rule, Simonyan & Zisserman 2014 §2.1);
* bare ``FC``: ``hidden_width`` units, except the last layer, which gets ``num_classes``;
* ``X?``: with ``optional="auto"`` the element is kept when its windows fit exactly and the volume stays
  at least 1x1, and dropped otherwise; ``"keep"`` keeps every one, ``"drop"`` drops every one.

Keywords win over the text: ``num_classes`` replaces an explicit final FC width and ``input_size``
replaces an explicit INPUT. Repeats whose copies all come out the same stay repeats; the others are
unrolled.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from convarch.errors import ConfigError, PatternError, SizingError, advising
from convarch.spec.edit import check_num_classes, classifier_index, with_classifier
from convarch.spec.layers import FC, Conv, Layer
from convarch.spec.limits import MAX_DIM, MAX_LAYERS, MAX_REPEAT, expanded_size
from convarch.spec.nodes import NetSpec, Node, Opt, Repeat, Seq
from convarch.spec.volume import Volume
from convarch.spec.walk import output_of, trace

DEFAULT_INPUT = (3, 32, 32)
DEFAULT_NUM_CLASSES = 10
BASE_WIDTH = 32
HIDDEN_WIDTH = 256
MAX_WIDTH = 512
OPTIONAL_MODES = ("auto", "keep", "drop")


@dataclass
class _State:
    variables: dict[str, int]
    base_width: int
    hidden_width: int
    max_width: int
    optional: str
    downsamples: int = 0


def is_template(node: Node) -> bool:
    """Whether anything in the node still needs binding."""
    return node.unbound() or any(is_template(child) for child in node.children())


def variables_of(node: Node | NetSpec) -> set[str]:
    """The template variables a spec uses, e.g. {"N", "M", "K"}."""
    if isinstance(node, NetSpec):
        node = node.layers
    found = {node.times.upper()} if isinstance(node, Repeat) and isinstance(node.times, str) else set()
    for child in node.children():
        found |= variables_of(child)
    return found


BIND_OPTIONS = ("base_width", "hidden_width", "max_width", "optional")


def _unknown_variable(name: str, known: set[str], options: Sequence[str]) -> ConfigError:
    """A keyword that is neither a variable of the pattern nor an option: say what would be."""
    variables = sorted(known)
    close = difflib.get_close_matches(name.upper(), variables, n=1) or difflib.get_close_matches(name, options, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    have = f"its variables are {', '.join(variables)}" if variables else "it has no template variables"
    return ConfigError(
        f"{name!r} is not a template variable of this pattern ({have}) nor an option ({', '.join(options)}).{hint}"
    )


def check_names(spec: NetSpec, names: Iterable[str], *, also: Sequence[str] = ()) -> None:
    """Refuse a name that is neither a template variable of ``spec`` nor a binding option, with the closest.

    ``also`` names the caller's own keywords (``create_model``'s ``weights``, ...), so the refusal lists
    every keyword the call takes, not only the binding options."""
    known = variables_of(spec)
    options = (*also, *BIND_OPTIONS)
    for name in names:
        if name.upper() not in known and name not in options:
            raise _unknown_variable(name, known, options)


def bind(
    spec: NetSpec,
    *,
    input_size: tuple[int, int, int] | Volume | None = None,
    num_classes: int | None = None,
    base_width: int | None = None,
    hidden_width: int | None = None,
    max_width: int | None = None,
    optional: str | None = None,
    **variables: int,
) -> NetSpec:
    """A concrete copy of ``spec`` with every template part filled in (see the module docstring).

    ``num_classes`` sizes the final FC, auxiliary classifiers with it; 0 removes them (pooled features), so
    ``build``, ``analyze`` and ``check`` describe the same network for the same keywords. A binding option
    given to a network with nothing for it to fill in (``base_width`` for LeNet-5, whose every CONV has its
    width) is refused: accepted, it would change nothing and let the caller believe it had.
    """
    given = {"base_width": base_width, "hidden_width": hidden_width, "max_width": max_width, "optional": optional}
    base_width = BASE_WIDTH if base_width is None else base_width
    hidden_width = HIDDEN_WIDTH if hidden_width is None else hidden_width
    max_width = MAX_WIDTH if max_width is None else max_width
    optional = "auto" if optional is None else optional
    if optional not in OPTIONAL_MODES:
        raise ConfigError(f"optional must be one of {', '.join(OPTIONAL_MODES)}, got {optional!r}")
    for name, value in (("base_width", base_width), ("hidden_width", hidden_width), ("max_width", max_width)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DIM:
            raise ConfigError(f"{name} must be a whole number of units from 1 to {MAX_DIM:,}, got {value!r}")
    _refuse_unused_options(spec, {name for name, value in given.items() if value is not None})
    bound = _bind_network(spec, input_size, num_classes, base_width, hidden_width, max_width, optional, variables)
    return with_classifier(bound, num_classes) if num_classes is not None else bound


def _refuse_unused_options(spec: NetSpec, given: set[str]) -> None:
    """Refuse each binding option in ``given`` that ``spec`` has nothing to fill in for."""
    if not given:
        return
    items = list(spec.layers.items)
    last = classifier_index(items)
    hidden = [item for index, item in enumerate(items) if index != last]  # the classifier FC takes num_classes
    uses = {
        "base_width": _any(spec.layers, lambda node: isinstance(node, Conv) and node.unbound()),
        "hidden_width": any(_any(item, lambda node: isinstance(node, FC) and node.unbound()) for item in hidden),
        "optional": _any(spec.layers, lambda node: isinstance(node, Opt)),
    }
    uses["max_width"] = uses["base_width"]
    fills = {"base_width": "CONV without a width", "max_width": "CONV without a width",
             "hidden_width": "hidden FC without a width", "optional": "optional element (X?)"}  # fmt: skip
    for name in sorted(given):
        if not uses[name]:
            raise ConfigError(
                f"{name} changes nothing here: this network has no {fills[name]} for it to fill in. It binds "
                f"template patterns such as INPUT -> [CONV -> RELU -> POOL?]*3 -> [FC -> RELU]*2 -> FC; leave "
                f"{name} out"
            )


def _any(node: Node, test: Callable[[Node], bool]) -> bool:
    return test(node) or any(_any(child, test) for child in node.children())


def _bind_network(
    spec: NetSpec,
    input_size: tuple[int, int, int] | Volume | None,
    num_classes: int | None,
    base_width: int,
    hidden_width: int,
    max_width: int,
    optional: str,
    variables: dict[str, int],
) -> NetSpec:
    check_names(spec, variables, also=("input_size", "num_classes"))
    variables = {name.upper(): value for name, value in variables.items()}
    for name, value in variables.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_REPEAT:
            raise ConfigError(f"template variable {name} must be an integer from 0 to {MAX_REPEAT:,}, got {value!r}")
    missing = sorted(variables_of(spec) - set(variables))
    if missing:
        example = ", ".join(f"{m}=2" for m in missing)
        plural = len(missing) > 1
        message = (
            f"unbound template variable{'s' if plural else ''} {', '.join(missing)}: give {'them' if plural else 'it'} "
            f"a value, e.g. {example}, or write the numbers into the pattern"
        )
        raise advising(PatternError(message), f"set {missing[0]}=2")
    size = expanded_size(spec.layers, variables)
    if size > MAX_LAYERS:
        raise PatternError(f"with these values the network expands to {size:,} layers; the limit is {MAX_LAYERS:,}")
    if num_classes is not None:
        check_num_classes(num_classes)
    volume = Volume.of(input_size) if input_size is not None else spec.input or Volume.of(DEFAULT_INPUT)
    state = _State(dict(variables), base_width, hidden_width, max_width, optional)
    items = list(spec.layers.items)
    last = classifier_index(items)
    if last is not None:
        items[last] = _size_classifier(items[last], num_classes)
    if not any(is_template(item) for item in items):
        concrete = NetSpec(Seq(tuple(items), label=spec.layers.label), volume)
        trace(concrete)  # raises a SizingError that names the layer where the volume fails
        return concrete
    bound: list[Node] = []
    v = volume
    for item in items:
        try:
            node, v = _bind(item, v, state)
        except SizingError:
            # Re-walk what is bound so far plus this item, to name the layer by its place in the network.
            if not is_template(item):
                trace(NetSpec(Seq((*bound, item)), volume))
            raise
        _append(bound, node)
    return NetSpec(Seq(tuple(bound), label=spec.layers.label), volume)


def _append(items: list[Node], node: Node | None) -> None:
    """Add a bound node, splicing an unlabelled sequence so unrolled repeats read as a flat chain."""
    if isinstance(node, Seq) and node.label is None:
        items.extend(node.items)
    elif node is not None:
        items.append(node)


def _size_classifier(layer: Node, num_classes: int | None) -> Node:
    if num_classes is not None and num_classes > 0:
        return replace(layer, out=num_classes)
    if layer.out is None:  # type: ignore[attr-defined]
        return replace(layer, out=DEFAULT_NUM_CLASSES)
    return layer


def _bind(node: Node, v: Volume, state: _State) -> tuple[Node | None, Volume]:
    if not is_template(node):
        out = _volume_after(node, v)
        if (out.h, out.w) != (v.h, v.w) and not out.flat:
            state.downsamples += 1
        return node, out
    if isinstance(node, Conv | FC):
        width = state.hidden_width
        if isinstance(node, Conv):
            width = min(state.base_width * 2**state.downsamples, state.max_width)
        return _bind(replace(node, out=width), v, state)
    if isinstance(node, Repeat):
        times = state.variables[node.times.upper()] if isinstance(node.times, str) else node.times
        copies: list[Node] = []
        for _ in range(times):
            copy, v = _bind(node.body, v, state)
            if copy is not None:
                copies.append(copy)
        if len(copies) > 1 and all(c == copies[0] for c in copies) and len(copies) == times:
            body = copies[0]
            if isinstance(body, Seq) and body.label is None and len(body.items) == 1:
                body = body.items[0]
            return Repeat(body, times, label=node.label), v
        unrolled: list[Node] = []
        for copy in copies:
            _append(unrolled, copy)
        return Seq(tuple(unrolled), label=node.label), v
    if isinstance(node, Seq):
        items: list[Node] = []
        for item in node.items:
            bound, v = _bind(item, v, state)
            _append(items, bound)
        return Seq(tuple(items), label=node.label), v
    if isinstance(node, Opt):
        return _bind_optional(node, v, state)
    # Composites (branches, residuals, dense, blocks): bind their insides, then follow the volume.
    bound_node = _bind_children(node, v, state)
    return bound_node, _volume_after(bound_node, v)


def _volume_after(node: Node, v: Volume) -> Volume:
    """The output volume of one concrete node: a layer's own formula, or one walk of a composite."""
    if isinstance(node, Layer):
        return node.output(v)
    return output_of(node, v)


def _bind_optional(node: Opt, v: Volume, state: _State) -> tuple[Node | None, Volume]:
    if state.optional == "drop":
        return None, v
    if state.optional == "keep":
        return _bind(node.body, v, state)
    saved = state.downsamples
    try:
        bound, out = _bind(node.body, v, state)
        fits = bound is not None and _fits(bound, v)
    except SizingError:
        fits = False
    if fits:
        return bound, out
    state.downsamples = saved
    return None, v


def _fits(node: Node, v: Volume) -> bool:
    return all(step.layer.exact(step.input) for step in trace(NetSpec(Seq((node,)), v)))


def _bind_children(node: Node, v: Volume, state: _State) -> Node:
    def sub(child: Node) -> Node:
        bound, _ = _bind(child, v, state)
        return bound if bound is not None else Seq(())

    return node.map_children(sub)
