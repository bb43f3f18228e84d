"""Static complexity analysis: per-layer volumes, parameters, multiply-adds and memory, from the spec.

It walks the spec with integer arithmetic and never builds a module or a tensor, so its cost does not
depend on the input resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from convarch.spec.nodes import NetSpec
from convarch.spec.volume import Volume
from convarch.spec.walk import Step, input_volume, trace

BYTES_PER_VALUE = 4  # float32

CONVENTIONS = (
    "Volumes are H x W x C. MACs count the multiply-adds of CONV and FC layers (torchvision's _ops "
    "convention); FLOPs = 2 x MACs. params include biases, weights exclude them. activations are output "
    "elements; in-place and view layers (RELU, DROPOUT, FLATTEN) allocate none. Forward memory is 4 bytes "
    "per activation (float32), for one image; training roughly doubles it. Auxiliary classifiers (training only) "
    "are listed but left out of the totals."
)

# Layers whose output shares its input's memory in a built model (in-place ReLU, eval-mode dropout, views).
NO_NEW_MEMORY = frozenset({"RELU", "DROPOUT", "FLATTEN"})


@dataclass(frozen=True)
class Row:
    """One vocabulary layer. ``name`` is seed notation (``CONV3-64``); ``path`` the built module."""

    index: int
    name: str
    kind: str
    path: str
    output: str
    activations: int
    params: int
    weights: int
    macs: int
    allocates: bool = True
    aux: bool = False  # an auxiliary classifier's layer: training only, left out of the totals

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass
class Report:
    """Per-layer rows and whole-network totals, for one input volume (batch size 1)."""

    input: Volume
    rows: list[Row] = field(default_factory=list)
    title: str = ""

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows if not r.aux)

    @property
    def weights(self) -> int:
        return sum(r.weights for r in self.rows if not r.aux)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows if not r.aux)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activations(self) -> int:
        """The input plus every allocated layer output."""
        return self.input.numel + sum(r.activations for r in self.rows if r.allocates and not r.aux)

    @property
    def aux_params(self) -> int:
        """Parameters of the auxiliary classifiers (GoogLeNet), which exist only for training."""
        return sum(r.params for r in self.rows if r.aux)

    @property
    def forward_bytes(self) -> int:
        return self.activations * BYTES_PER_VALUE

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_PER_VALUE

    def totals(self) -> dict[str, int]:
        return {
            "params": self.params,
            "weights": self.weights,
            "macs": self.macs,
            "flops": self.flops,
            "activations": self.activations,
            "forward_bytes": self.forward_bytes,
            "param_bytes": self.param_bytes,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "input": str(self.input),
            "conventions": CONVENTIONS,
            "rows": [asdict(r) for r in self.rows],
            "totals": self.totals(),
        }

    def to_table(self, *, compact: bool = False) -> Any:
        """A rich Table; ``compact`` keeps only rows with weights or a new volume (CS231n's listing)."""
        from convarch.analysis.render import report_table

        return report_table(self, compact=compact)


def _row(index: int, step: Step) -> Row:
    layer, vin, vout = step.layer, step.input, step.output
    return Row(
        index=index,
        name=layer.text(),
        kind=layer.kind,
        path=step.path,
        output=str(vout),
        activations=vout.numel,
        params=layer.params(vin),
        weights=layer.weights(vin),
        macs=layer.macs(vin),
        allocates=layer.kind not in NO_NEW_MEMORY,
        aux=step.aux,
    )


def analyze_spec(spec: NetSpec, input_size: Volume | None = None, title: str = "") -> Report:
    volume = input_size or input_volume(spec)
    steps = trace(spec, volume)
    return Report(volume, [_row(i, step) for i, step in enumerate(steps, 1)], title)
