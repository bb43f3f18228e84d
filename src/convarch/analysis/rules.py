"""The sizing checker: CS231n's advice on sizing ConvNets, as rules run over a spec.

"Layer Sizing Patterns" (CS231n, ConvNet architectures): the input should be divisible by 2 many times;
CONVs use small filters (3x3, at most 5x5) with stride 1 and P = (F − 1)/2 so they keep the size; POOL
is 2x2/2 (3x3/2 at most, larger windows are too lossy); and the strides must "work out", so that
(W − F + 2P)/S + 1 is a whole number. GoogLeNet (§5) and ResNet (§3.4) add: average-pool the last
feature map rather than hand it whole to an FC layer that would hold most of the parameters.

The checker walks the spec like every other interpreter (``spec.walk``), with integer arithmetic only,
so it costs the same at any input size and never builds a module. Each ``Finding`` names the layer by
its built-module path, shows the arithmetic and suggests a fix. Rule ids live in ``findings.RULES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from convarch.analysis.findings import Finding
from convarch.analysis.nonlinearity_rules import linear_stack_findings, output_findings
from convarch.errors import SizingError
from convarch.spec.bind import DEFAULT_INPUT, bind, is_template
from convarch.spec.layers import FC, Conv, Pool
from convarch.spec.limits import MAX_BUILD_PARAMS
from convarch.spec.nodes import NetSpec, Node
from convarch.spec.volume import Volume, WindowSize, window_output
from convarch.spec.walk import Context, Interpreter, Step, walk_network

Factor = tuple[int, int]  # how much a node downsamples along H and W: the product of its strides
FC_SHARE = 0.5  # "most of the parameters"
MAX_SMALL_FILTER = 5  # after the first layer (CS231n: 3x3, at most 5x5)
MAX_FIRST_FILTER = 7  # the first layer may see raw pixels through a larger window (ResNet's 7x7/2)
MAX_POOL_WINDOW = 3  # CS231n: max-pooling windows larger than 3 are too lossy
COMMON_INPUTS = "32, 64, 96, 224, 384 or 512"  # CS231n's examples of sizes divisible by 2 many times
SEARCH_DISTANCE = 64  # how far from the input size to look for one at which every layer works out
SEARCH_STEPS = 5_000  # layer visits each of the four searches (H/W, below/above) may spend


class _Recorder(Interpreter[Factor]):
    """Records every primitive like ``walk.trace`` and returns how much each node downsamples.

    The steps survive a SizingError, so the rules still run on the layers before the failure.
    """

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def layer(self, layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> Factor:
        self.steps.append(Step(path, layer, vin, vout, ctx.aux))
        windows = layer.windows(vin)
        return (windows[0].stride, windows[1].stride) if windows else (1, 1)

    def sequence(self, named: list[tuple[str, Factor]], path: str) -> Factor:
        return (math.prod(f[0] for _, f in named), math.prod(f[1] for _, f in named))

    def combine(self, node: Node, parts: dict[str, Factor], vin: Volume, vout: Volume, path: str, ctx) -> Factor:
        # The parts in series from the input to the output's H x W (``Node.spine``); none: H x W is kept.
        spine = [parts[name] for name in node.spine() if name in parts]
        return (math.prod(f[0] for f in spine), math.prod(f[1] for f in spine))


@dataclass(frozen=True)
class _Net:
    """What the layer rules need to know about the whole network."""

    spec: NetSpec
    input: Volume
    steps: list[Step]
    first_conv: int  # the step index (1-based) of the first CONV, 0 if none
    params: int  # without auxiliary classifiers, as in the analysis totals
    cache: dict[str, list[str]] = field(default_factory=dict)

    def exact_images(self) -> list[str]:
        if "images" not in self.cache:
            self.cache["images"] = _exact_images(self.spec, len(self.steps))
        return self.cache["images"]


def _record(spec: NetSpec) -> tuple[_Recorder, Factor | None, SizingError | None]:
    recorder = _Recorder()
    try:
        results = walk_network(spec, recorder)
    except SizingError as error:
        return recorder, None, error
    return recorder, results["features"][0], None


# ---- the arithmetic ---------------------------------------------------------------------------------


def _lost_pixels(w: WindowSize) -> int:
    """Input pixels (not padding) that the floor throws away beyond those the stride skips anyway.

    The windows cover ``(out − 1)S + F`` of the ``W + 2P`` padded positions; the ``(W − F + 2P) mod S``
    left over sit at the end, where the last P are zeros. When S > F the stride already skips S − F
    pixels between windows, so losing as many at the end is no loss of its own.
    """
    left_over = (w.size + 2 * w.padding - w.span) % w.stride
    return left_over - w.padding - max(0, w.stride - w.span)


def _formula(windows: tuple[WindowSize, ...]) -> str:
    if windows[0] == windows[1]:
        return windows[0].formula("W")
    return "; ".join(w.formula(axis) for w, axis in zip(windows, "HW", strict=True))


def _head(step: Step) -> str:
    return f"{step.layer.text()} on {step.input}"


def _finding(rule: str, severity: str, index: int, step: Step, message: str) -> Finding:
    return Finding(severity, rule, step.path, f"{_head(step)}: {message}", index)


# ---- rules on one layer -----------------------------------------------------------------------------


def _window_rule(index: int, step: Step, net: _Net) -> Finding | None:
    """Strides must work out: (W − F + 2P)/S + 1 whole, or a floor that loses nothing."""
    windows = step.layer.windows(step.input)
    if not windows or all(w.exact for w in windows):
        return None
    arithmetic = _formula(windows)
    if isinstance(step.layer, Pool) and step.layer.ceil:
        return _finding("ceil-rounding", "info", index, step, f"{arithmetic}. ceil=true rounds up as Caffe did "
                        "(torchvision's GoogLeNet keeps it): intended, not an error.")  # fmt: skip
    if max(_lost_pixels(w) for w in windows) <= 0:
        return _finding("floor-in-padding", "info", index, step, f"{arithmetic}. {_harmless(windows)}")
    bad = next(w for w in windows if _lost_pixels(w) > 0)
    fixes = [*_padding_fix(step, bad), _size_fix(step, bad, net)]
    if isinstance(step.layer, Pool):
        fixes.append("ceil=true to round up as Caffe did")
    return _finding(
        "fractional-size", "error", index, step,
        f"{arithmetic}: not a whole number. PyTorch floors it and silently drops {_dropped(windows)} of the "
        f"input. Fix: {'; or '.join(fixes)}.",
    )  # fmt: skip


def _harmless(windows: tuple[WindowSize, ...]) -> str:
    """Why a floor loses nothing: what it drops is padding, or pixels the stride skips between windows."""
    w = max(windows, key=lambda w: (w.size + 2 * w.padding - w.span) % w.stride)
    left_over = (w.size + 2 * w.padding - w.span) % w.stride
    if left_over <= w.padding:
        return f"The floor drops {left_over} of the {w.padding} zero-padding rows/columns at the end: no input is lost."
    return (f"The floor drops {left_over} pixel(s) at the end, no more than the {w.stride - w.span} that stride "
            f"{w.stride} skips between its {w.span}-wide windows anyway: no extra input is lost.")  # fmt: skip


def _dropped(windows: tuple[WindowSize, ...]) -> str:
    """``the last 2 rows and the last column``: the input pixels a floor throws away, in words."""
    parts = []
    for w, (one, many) in zip(windows, (("row", "rows"), ("column", "columns")), strict=True):
        lost = _lost_pixels(w)
        if lost > 0:
            parts.append(f"the last {one}" if lost == 1 else f"the last {lost} {many}")
    return " and ".join(parts)


def _padding_fix(step: Step, w: WindowSize) -> list[str]:
    largest = w.kernel // 2 if isinstance(step.layer, Pool) else w.span - 1  # PyTorch pools allow P <= F/2
    paddings = [p for p in range(largest + 1) if (w.size + 2 * p - w.span) % w.stride == 0 and w.size + 2 * p >= w.span]
    if not paddings:
        return []
    p = min(paddings, key=lambda p: (abs(p - (w.span - 1) // 2), p))
    return [f"p={p}, which gives {window_output(w.size, w.kernel, w.stride, p).formula()}"]


def _size_fix(step: Step, w: WindowSize, net: _Net) -> str:
    images = net.exact_images()
    if images:
        return f"an input image of {' or '.join(images)}, at which every layer works out"
    below = w.size - (w.size + 2 * w.padding - w.span) % w.stride
    sizes = [n for n in (below, below + w.stride) if n + 2 * w.padding >= w.span]
    return f"an input of {' or '.join(map(str, sizes))} pixels to this layer"


def _exact_images(spec: NetSpec, steps: int) -> list[str]:
    """The nearest input sizes, below and above, at which no layer throws pixels away.

    H and W are independent (every window works along one axis), so each is searched on its own, walking
    the network once per size tried; a long network tries fewer sizes (``SEARCH_STEPS``).
    """
    v = spec.input
    tries = min(SEARCH_DISTANCE, SEARCH_STEPS // max(steps, 1))
    found = []
    for direction in (-1, 1):
        h = _lossless_size(spec, 0, direction, tries)
        w = _lossless_size(spec, 1, direction, tries)
        if h is not None and w is not None and (h, w) != (v.h, v.w):
            found.append(f"{h}x{w}")
    return found


def _lossless_size(spec: NetSpec, axis: int, direction: int, tries: int) -> int | None:
    """The nearest size along ``axis`` (going ``direction``) at which no layer loses input pixels on it."""
    size = (spec.input.h, spec.input.w)[axis]
    for distance in range(tries + 1):
        candidate = size + direction * distance
        if candidate < 1:
            return None
        if _lossless_at(spec, axis, candidate):
            return candidate
    return None


def _lossless_at(spec: NetSpec, axis: int, size: int) -> bool:
    """Whether every layer works out, losing no input pixel along ``axis``, when that axis is ``size``."""
    v = spec.input
    volume = Volume(v.c, size, v.w) if axis == 0 else Volume(v.c, v.h, size)
    recorder, _, error = _record(spec.with_input(volume))
    return error is None and all(
        getattr(s.layer, "ceil", False) or _lost_pixels(windows[axis]) <= 0
        for s in recorder.steps
        if (windows := s.layer.windows(s.input))
    )


def _filter_rule(index: int, step: Step, net: _Net) -> Finding | None:
    """Small filters: 3x3, at most 5x5 after the first layer (CS231n; VGG §2.3)."""
    layer = step.layer
    if not isinstance(layer, Conv) or min(layer.f) == 1:  # 1xN filters are the small factorised kind
        return None
    size = max(layer.f)
    if index == net.first_conv:
        if size <= MAX_FIRST_FILTER:
            return None
        return _finding("large-filter", "info", index, step, f"a {size}x{size} filter on the first layer, as "
                        "AlexNet (11x11/4) did: allowed where the net sees raw pixels, but ZFNet cut it to 7x7/2 "
                        "and ResNet uses 7x7/2 with padding 3.")  # fmt: skip
    if size <= MAX_SMALL_FILTER:
        return None
    c, k = step.input.c // layer.groups, step.output.c
    stack = math.ceil((size - 1) / 2)  # n stacked 3x3 convs see (2n + 1) x (2n + 1)
    rest = f" + {stack - 1}×3×3×{k}×{k}" if stack > 1 else ""
    return _finding(
        "large-filter", "warning", index, step,
        f"a {size}x{size} filter after the first layer has {size}×{size}×{c}×{k} = {size * size * c * k:,} "
        f"weights. A stack of {stack} CONV3 layers sees the same {size}x{size} with 3×3×{c}×{k}{rest} = "
        f"{9 * c * k + (stack - 1) * 9 * k * k:,} and adds non-linearities (VGG §2.3). "
        f"Use [CONV3-{k} -> RELU]*{stack}.",
    )  # fmt: skip


def _padding_rule(index: int, step: Step, net: _Net) -> Finding | None:
    """A stride-1 CONV should keep the size: P = (F − 1)/2."""
    layer, vin, vout = step.layer, step.input, step.output
    if not isinstance(layer, Conv) or layer.s != (1, 1) or (vout.h, vout.w) == (vin.h, vin.w):
        return None
    windows = layer.windows(vin)
    if (vout.h, vout.w) == (1, 1) and layer.p == (0, 0) and layer.f == (vin.h, vin.w):
        return _finding("padding-not-same", "info", index, step, f"{_formula(windows)}. The filter covers its "
                        "whole input, so this CONV is an FC layer written as a convolution (CS231n: converting FC "
                        "layers to CONV layers).")  # fmt: skip
    same = tuple((f - 1) // 2 for f in layer.f)
    if any(f % 2 == 0 for f in layer.f):
        fix = f"an even filter ({layer.f[0]}x{layer.f[1]}) cannot keep the size with equal padding; use an odd F"
    else:
        fix = f"p={same[0] if same[0] == same[1] else f'{same[0]}x{same[1]}'} = (F − 1)/2 keeps {vin.h}x{vin.w}"
    return _finding("padding-not-same", "warning", index, step,
                    f"{_formula(windows)}: a stride-1 CONV shrinks {vin.h}x{vin.w} to {vout.h}x{vout.w}, so the "
                    f"border shrinks away layer by layer. Fix: {fix}.")  # fmt: skip


def _pool_rule(index: int, step: Step, net: _Net) -> Finding | None:
    """Max pooling over windows larger than 3x3 is too lossy (CS231n); a global window is a GAP."""
    layer, vin, vout = step.layer, step.input, step.output
    if not isinstance(layer, Pool) or layer.adaptive or layer.type != "max" or max(layer.f) <= MAX_POOL_WINDOW:
        return None
    if layer.f[0] >= vin.h + 2 * layer.p[0] and layer.f[1] >= vin.w + 2 * layer.p[1]:
        return None  # one window over the whole map: a global pool
    kept, total = vout.h * vout.w, vin.h * vin.w
    return _finding(
        "large-pool", "warning", index, step,
        f"{_formula(layer.windows(vin))}; {vin.h}x{vin.w} -> {vout.h}x{vout.w} keeps {kept:,} of {total:,} "
        f"values per channel ({kept / total:.1%}), each the max of {layer.f[0] * layer.f[1]}. Max pooling over "
        "windows larger than 3 is too lossy; use POOL2 (2x2/2) or POOL3(s=2), or stride the CONVs.",
    )  # fmt: skip


def _upsample_rule(index: int, step: Step, net: _Net) -> Finding | None:
    """An adaptive pool to a size larger than its input copies values (torchvision's VGG on 32x32 inputs: the
    1x1x512 map becomes 7x7x512, and FC6 then holds 49 copies of each weight's input)."""
    layer, vin, vout = step.layer, step.input, step.output
    if not isinstance(layer, Pool) or not layer.adaptive or (vout.h <= vin.h and vout.w <= vin.w):
        return None
    copies = (vout.h * vout.w) / (vin.h * vin.w)
    after = next((s for s in net.steps[index:] if isinstance(s.layer, FC) and not s.aux), None)
    wasted = ""
    if after is not None and after.input.numel == vout.numel:
        needed = after.layer.params(Volume(vin.c, vin.h, vin.w))
        wasted = (f", and {after.layer.text()} after it takes {after.input.numel:,} inputs where "
                  f"{vin.numel:,} carry everything ({after.layer.params(after.input):,} params where {needed:,} "
                  "would do)")  # fmt: skip
    return _finding(
        "adaptive-upsample", "warning", index, step,
        f"an adaptive pool to {vout.h}x{vout.w} from a smaller map repeats each value {copies:g} times on average"
        f"{wasted}. The input is smaller than the network was "
        f"designed for: give a larger one, or pool to {min(vout.h, vin.h)}x{min(vout.w, vin.w)}.",
    )  # fmt: skip


def _fc_rule(index: int, step: Step, net: _Net) -> Finding | None:
    """An FC layer on the whole last feature map can hold most of the parameters (VGG's FC6)."""
    layer, vin = step.layer, step.input
    if not isinstance(layer, FC) or step.aux or net.params == 0:
        return None
    scores = not any(s.layer.classifier and not s.aux for s in net.steps[index:])  # no FC after it: the scores
    if scores and vin.h * vin.w == 1:
        return None  # its width is the class count and its input already pooled: nothing to make smaller
    params = layer.params(vin)
    if params <= FC_SHARE * net.params:
        return None
    bias = f" + {layer.out:,}" if layer.bias else ""
    arithmetic = f"{vin.numel:,} × {layer.out:,}{bias} = {params:,} params, {params / net.params:.1%} of {net.params:,}"
    if vin.h * vin.w > 1:
        pooled = layer.params(Volume(vin.c, 1, 1, flat=True))
        fix = (f"average-pool first, as GoogLeNet (§5) and ResNet (§3.4) do: GAP -> {layer.text()} needs "
               f"{vin.c:,} × {layer.out:,}{bias} = {pooled:,}")  # fmt: skip
    else:
        fix = "use fewer units here or in the layer before"
    return _finding("fc-dominates", "warning", index, step, f"{arithmetic}. Fix: {fix}.")


LAYER_RULES: tuple[Callable[[int, Step, _Net], Finding | None], ...] = (
    _window_rule,
    _filter_rule,
    _padding_rule,
    _pool_rule,
    _upsample_rule,
    _fc_rule,
)


# ---- rules on the whole network ---------------------------------------------------------------------


def _divisibility_rule(net: _Net, factor: Factor, findings: list[Finding]) -> Finding | None:
    """The input should be divisible by 2 as many times as the network downsamples (CS231n).

    The sizes it suggests are multiples of the downsampling factor at which every layer also works out,
    so following the advice never trades this note for a fractional-size error.
    """
    v = net.input
    bad = [(i, axis, n, r) for i, (axis, n, r) in enumerate((("H", v.h, factor[0]), ("W", v.w, factor[1])))
           if r > 1 and n % r]  # fmt: skip
    if not bad:
        return None
    index, axis, n, r = bad[0]
    power = f"2^{r.bit_length() - 1} = {r}" if r & (r - 1) == 0 else str(r)
    floors = any(f.rule == "fractional-size" for f in findings)
    if floors:
        sizes = _divisible_sizes(net.spec.with_input(v), index, n, r)
        tail = (
            f"Use {' or '.join(map(str, sizes))}, at which every layer works out too (at {n} the strides do not: "
            "see the fractional-size errors)."
            if sizes
            else f"No multiple of {r} near {n} makes every layer work out; the fractional-size errors suggest "
            "sizes that do."
        )
    else:
        tail = ("Every layer still works out at this size (the network was sized for it), so this is a note; "
                f"at a multiple of {r} the layers would need other paddings.")  # fmt: skip
    return Finding(
        "warning" if floors else "info",
        "input-divisibility",
        "INPUT",
        f"INPUT {v}: the features downsample by {power} (the product of their strides), but {axis} = {n} = "
        f"{n // r} × {r} + {n % r} is not divisible by {r} (CS231n: {COMMON_INPUTS}). {tail}",
    )


def _divisible_sizes(spec: NetSpec, axis: int, n: int, r: int) -> list[int]:
    """The nearest multiples of ``r`` below and above ``n`` at which every layer works out along ``axis``."""
    found = []
    for direction in (-1, 1):
        start = n - n % r if direction < 0 else n - n % r + r
        for k in range(max(1, SEARCH_DISTANCE // r) + 1):
            candidate = start + direction * k * r
            if candidate >= 1 and _lossless_at(spec, axis, candidate):
                found.append(candidate)
                break
    return found


def _build_rule(net: _Net) -> Finding | None:
    total = sum(step.layer.params(step.input) for step in net.steps)
    if total <= MAX_BUILD_PARAMS:
        return None
    return Finding(
        "error", "build-limit", "network",
        f"{total:,} parameters ({total * 4 / 1e9:,.1f} GB as float32) are over the build limit of "
        f"{MAX_BUILD_PARAMS:,}. Use a smaller input, fewer or narrower layers, or GAP before the first FC.",
    )  # fmt: skip


def failure_finding(error: SizingError, index: int = 0) -> Finding:
    """The finding for a volume that does not work out at all (the walk stops there); the error carries
    the rule it breaks from where it was raised."""
    path, _, layer = error.layer.partition(" ")
    message = f"{layer}: {error.reason}" if layer else error.reason
    return Finding("error", error.rule, path or "network", message, index if layer else 0)


# ---- entry points -----------------------------------------------------------------------------------


def check_spec(spec: NetSpec, *, scores: bool = True) -> list[Finding]:
    """Every finding for a concrete network (bound, with an INPUT volume), in layer order. ``scores=False``
    says the network ends in features, not class scores (``num_classes=0``): its last FC is a hidden layer,
    and the rules about what follows the class scores do not apply."""
    recorder, factor, failure = _record(spec)
    steps = recorder.steps
    first_conv = next((i for i, s in enumerate(steps, 1) if isinstance(s.layer, Conv) and not s.aux), 0)
    params = sum(s.layer.params(s.input) for s in steps if not s.aux) if failure is None else 0
    net = _Net(spec, spec.input, steps, first_conv, params)
    findings = [f for i, step in enumerate(steps, 1) for rule in LAYER_RULES if (f := rule(i, step, net))]
    if failure is not None:
        return [*findings, failure_finding(failure, len(steps) + 1)]
    for finding in (_divisibility_rule(net, factor, findings), _build_rule(net)):
        if finding is not None:
            findings.append(finding)
    rows = {step.path: i for i, step in enumerate(steps, 1)}
    findings += [*linear_stack_findings(spec, rows), *(output_findings(steps) if scores else [])]
    return sorted(findings, key=lambda f: f.index or len(steps) + 1)


def check_network(
    spec: NetSpec,
    *,
    input_size: tuple[int, int, int] | Volume | None = None,
    num_classes: int | None = None,
    scores: bool = True,
    **keywords: object,
) -> list[Finding]:
    """Bind a (possibly template) spec as ``build`` would, then check it. ``scores=False``: the spec ends in
    features already (a model built with ``num_classes=0``), as ``num_classes=0`` makes it end.

    A volume that fails while a template is being bound is reported as a finding; a concrete network is
    checked on its own, so the layers before the failure are checked too.
    """
    try:
        bound = bind(spec, input_size=input_size, num_classes=num_classes, **keywords)  # type: ignore[arg-type]
    except SizingError as error:
        if is_template(spec.layers):
            return [failure_finding(error)]
        volume = Volume.of(input_size) if input_size is not None else spec.input or Volume.of(DEFAULT_INPUT)
        bound = spec.with_input(volume)
    return check_spec(bound, scores=scores and num_classes != 0)
