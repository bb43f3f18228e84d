"""Rules about where the nonlinearities sit: between linear layers, and after the classifier.

CS231n's pattern puts a RELU after every CONV and every hidden FC, and none after the last FC, whose
outputs are the class scores. Three departures are worth a word:

- two CONV/FC layers with nothing nonlinear between them compose into one linear map. That is a note,
  not a mistake: MobileNetV2's linear bottleneck (Sandler et al. 2018, §3.2) projects with a 1x1 CONV
  and BN on purpose, and a depthwise-separable conv is two linear CONVs by design;
- a RELU, RELU6, SIGMOID or TANH after the last FC clips or squashes the class scores (a warning);
- a trailing SOFTMAX makes the network output probabilities. A cross-entropy loss applies log-softmax
  itself, so the SOFTMAX belongs to inference only (a note).

The stack rule follows the data, not the order of the layers: it walks the spec (``spec.walk``) and
combines what each node's input meets first and what its output last came from. A residual add ends
a linear chain (the sum is not the conv's output), as do branches and dense blocks. Which layers are
linear maps, which keep one linear, and what each does to class scores are facts of the primitives
(``Layer.linear``, ``Layer.is_affine()``, ``Layer.on_scores``), so a new primitive needs no edit here.
"""

from __future__ import annotations

from dataclasses import dataclass

from convarch.analysis.findings import Finding
from convarch.spec.layers import Layer
from convarch.spec.nodes import NetSpec, Node
from convarch.spec.volume import Volume
from convarch.spec.walk import Context, Interpreter, Step, walk_network


@dataclass(frozen=True)
class _Ends:
    """What a node's input meets first and where its output last came from, through affine layers only."""

    first: Step | None  # the CONV/FC its input reaches before anything nonlinear
    last: Step | None  # the CONV/FC whose output reaches the node's output through affine layers only
    affine: bool  # the node holds only affine layers (no CONV/FC, nothing nonlinear): it passes both on


_OPAQUE = _Ends(None, None, False)  # a node that ends any linear chain: an add, a concat, a nonlinearity


class _Stacks(Interpreter[_Ends]):
    """Records each pair of CONV/FC layers with only affine layers between them."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Step, Step]] = []

    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> _Ends:
        if layer.linear:
            step = Step(path, layer, vin, vout, ctx.aux)
            return _Ends(step, step, False)
        return _Ends(None, None, True) if layer.is_affine() else _OPAQUE

    def sequence(self, named: list[tuple[str, _Ends]], path: str) -> _Ends:
        first = last = None
        affine = True
        for _, ends in named:
            if last is not None and ends.first is not None:
                self.pairs.append((last, ends.first))
            if ends.affine:
                continue
            if affine:
                first = ends.first
            last, affine = ends.last, False
        return _Ends(first, last, affine)

    def combine(self, node: Node, parts: dict[str, _Ends], vin: Volume, vout: Volume, path: str, ctx: Context) -> _Ends:
        if not node.joins:
            return parts[""]  # a named block is its body
        if node.joins == "tap":
            return _Ends(None, None, True)  # the main path passes through an auxiliary tap unchanged
        # An add, a concatenation or a gate's product ends the chain: a linear bottleneck before a residual
        # add is intended (MobileNetV2 §3.2).
        return _OPAQUE


def linear_stack_findings(spec: NetSpec, rows: dict[str, int]) -> list[Finding]:
    """An info for each CONV/FC that follows another with nothing nonlinear between them.

    ``rows`` maps a layer's path to its row in the analysis table (``Finding.index``).
    """
    stacks = _Stacks()
    parts = walk_network(spec, stacks)
    stacks.sequence([(name, result) for name, (result, _) in parts.items()], "")  # features -> head chain
    findings = []
    for before, after in stacks.pairs:
        if after.layer.kind == "CONV":
            intent = ("Intended in a linear bottleneck (MobileNetV2 projects with a 1x1 CONV and BN and no "
                      "activation, Sandler et al. §3.2) or a depthwise-separable conv; otherwise put a RELU "
                      "between them.")  # fmt: skip
        else:
            intent = "Put a RELU between them unless a low-rank linear map is what you want."
        findings.append(Finding(
            "info", "linear-stack", after.path,
            f"{after.layer.text()} on {after.input}: follows {before.layer.text()} ({before.path}) with nothing "
            "nonlinear between them, so the two compose into one linear map: the pair adds parameters but no "
            f"expressive power. {intent}",
            rows.get(after.path, 0),
        ))  # fmt: skip
    return findings


def output_findings(steps: list[Step]) -> list[Finding]:
    """A squashing activation (``Layer.on_scores``) or a SOFTMAX after the last FC (or RBF) of the main path."""
    main = [(i, s) for i, s in enumerate(steps, 1) if not s.aux]
    last = max((i for i, s in main if s.layer.classifier), default=0)
    if not last:
        return []
    findings = []
    classifier = steps[last - 1]
    for index, step in main:
        if index <= last:
            continue
        where = f"{step.layer.text()} on {step.input}: after the last {classifier.layer.kind} ({classifier.path})"
        if step.layer.on_scores:
            findings.append(Finding(
                "warning", "activation-on-scores", step.path,
                f"{where}, which gives the class scores, it {step.layer.on_scores}. "
                f"Fix: remove the {step.layer.kind}; a nonlinearity belongs after hidden layers only.",
                index,
            ))  # fmt: skip
        elif step.layer.kind == "SOFTMAX":
            findings.append(Finding(
                "info", "softmax-output", step.path,
                f"{where}: the network outputs probabilities, not logits. A cross-entropy loss applies "
                "log-softmax itself, so the SOFTMAX belongs to inference: convarch trains on the scores before "
                "it (model.forward_logits) and predict applies it once; a training loop of your own must too.",
                index,
            ))  # fmt: skip
    return findings
