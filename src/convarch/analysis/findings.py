"""What the sizing checker reports: findings, and the catalogue of rules they come from.

Each rule turns one piece of CS231n's advice on sizing ConvNets into a check with an id and a usual
severity. ``docs/pattern-language.md`` lists them with real output; a test keeps the two in step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One result of ``ca.check``.

    ``layer`` is the built module's path (``features.conv1``; ``model.get_submodule`` finds it), or
    ``INPUT`` / ``network`` for whole-network rules. ``message`` starts with the layer in pattern notation
    and its input volume, shows the arithmetic and ends with a fix. ``index`` is the layer's row in the
    analysis table (``convarch show``), 0 for whole-network findings.
    """

    severity: str
    rule: str
    layer: str
    message: str
    index: int = 0

    def __str__(self) -> str:
        where = f"#{self.index} {self.layer}" if self.index else self.layer
        return f"{self.severity} [{self.rule}] {where}: {self.message}"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # the usual severity; a few rules soften it where the seed allows the exception
    summary: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("fractional-size", "error",
             "(W − F + 2P)/S + 1 is not a whole number and the floor throws away pixels of the input"),
        Rule("floor-in-padding", "info",
             "the output size is floored, but only zero padding (or pixels the stride skips anyway) is lost"),
        Rule("ceil-rounding", "info", "an explicit POOL(ceil=true) rounds up, as Caffe did: intended"),
        Rule("collapsed-volume", "error", "the volume shrinks to zero or below: the input is too small"),
        Rule("channel-mismatch", "error",
             "channels or sizes that cannot be added or grouped: a residual body without a projection, "
             "a shortcut that does not match, groups that do not divide the channels"),
        Rule("branch-mismatch", "error",
             "parallel or dense branches whose H x W differ, so they cannot be concatenated"),
        Rule("spatial-after-flat", "error",
             "a CONV, POOL or GAP after the volume was flattened by an FC, FLATTEN or GAP"),
        Rule("volume-error", "error", "any other volume that does not work out"),
        Rule("input-divisibility", "warning",
             "the input is not divisible by 2 as many times as the network downsamples"),
        Rule("large-filter", "warning",
             "a filter larger than 5 after the first layer (larger than 7 on the first layer is noted)"),
        Rule("padding-not-same", "warning", "a stride-1 CONV that changes the size because P is not (F − 1)/2"),
        Rule("large-pool", "warning", "a max POOL window larger than 3, which is too lossy"),
        Rule("adaptive-upsample", "warning",
             "an adaptive POOL(out=HxW) on a smaller map repeats its values to fill the size, adding parameters "
             "after it but no information"),
        Rule("fc-dominates", "warning", "one FC layer holds most of the parameters; GAP before it saves them"),
        Rule("build-limit", "error", "more parameters than a build may allocate"),
        Rule("linear-stack", "info",
             "two CONV/FC layers with nothing nonlinear between them: one linear map (intended in a linear "
             "bottleneck)"),
        Rule("activation-on-scores", "warning",
             "an activation after the last FC (RELU, RELU6, SIGMOID, TANH) clips or squashes the class scores"),
        Rule("softmax-output", "info",
             "the network ends in SOFTMAX: training's cross-entropy needs the scores before it"),
    )
}  # fmt: skip


def counts(findings: list[Finding]) -> dict[str, int]:
    """How many findings of each severity, in the order error, warning, info."""
    tally = Counter(f.severity for f in findings)
    return {severity: tally[severity] for severity in SEVERITIES}


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
