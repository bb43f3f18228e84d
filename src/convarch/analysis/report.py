"""Static complexity analysis: per-layer volumes, parameters, multiply-adds and memory, from the spec.

It walks the spec once with integer arithmetic and never builds a module or a tensor, so its cost does not
depend on the input resolution: ResNet-152 costs the same at 224x224 as at 4096x4096.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from convarch.spec.layers import Layer
from convarch.spec.nodes import NetSpec
from convarch.spec.volume import Volume
from convarch.spec.walk import Context, Interpreter, input_volume, walk_network

BYTES_PER_VALUE = 4  # float32
# Training keeps every activation for the backward pass and makes a gradient of the same size for each;
# the parameters come with their gradients and Adam's two moment estimates.
TRAINING_ACTIVATION_FACTOR = 2
TRAINING_PARAM_FACTOR = 4

CONVENTIONS = (
    "Volumes are H x W x C, for one image. MACs count the multiply-adds of CONV and FC layers (torchvision's "
    "_ops convention; LeNet-5's SUBSAMPLE and RBF too); FLOPs = 2 x MACs. params include biases, weights "
    "exclude them. activations are the input plus each layer's output elements; in-place and view layers "
    "(RELU, DROPOUT, FLATTEN) allocate none, and concatenation and residual-add outputs are not counted "
    "(combinators have no rows). Forward memory = 4 bytes per activation (float32). Parameter memory = "
    "4 bytes per param. Training memory (estimate) = 2 x forward memory x batch (activations kept for "
    "backward, and their gradients) + 4 x parameter memory (weights, gradients, Adam's two moments). "
    "Auxiliary classifiers (training only) are listed but left out of the totals."
)


@dataclass(frozen=True, slots=True)
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

    @property
    def activation_bytes(self) -> int:
        """Memory this layer's output adds in the forward pass (0 for in-place and view layers)."""
        return self.activations * BYTES_PER_VALUE if self.allocates else 0


@dataclass
class Report:
    """Per-layer rows and whole-network totals, for one input volume (batch size 1).

    ``source`` says how the rows were found: ``"spec"`` (the integer walk) or ``"module"`` (hooks on a
    forward pass on the meta device).
    """

    input: Volume
    rows: list[Row] = field(default_factory=list)
    title: str = ""
    source: str = "spec"

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
    def fc_params(self) -> int:
        """Parameters in fully connected layers: VGG's 124M of 138M sit there (CS231n)."""
        return sum(r.params for r in self.rows if r.kind == "FC" and not r.aux)

    @property
    def fc_share(self) -> float:
        return self.fc_params / self.params if self.params else 0.0

    @property
    def forward_bytes(self) -> int:
        return self.activations * BYTES_PER_VALUE

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_PER_VALUE

    def training_bytes(self, batch: int = 1) -> int:
        """Training memory estimate for a batch: see ``CONVENTIONS`` for the formula."""
        return TRAINING_ACTIVATION_FACTOR * self.forward_bytes * batch + TRAINING_PARAM_FACTOR * self.param_bytes

    def compact_rows(self) -> list[Row]:
        """Rows with weights or a new volume: the listing of the CS231n VGG-16 walk-through."""
        kept, previous = [], str(self.input)
        for row in self.rows:
            if row.params or row.output != previous:
                kept.append(row)
            previous = row.output
        return kept

    def totals(self) -> dict[str, int]:
        return {
            "params": self.params,
            "weights": self.weights,
            "macs": self.macs,
            "flops": self.flops,
            "activations": self.activations,
            "forward_bytes": self.forward_bytes,
            "training_bytes": self.training_bytes(),
            "param_bytes": self.param_bytes,
            "aux_params": self.aux_params,
            "fc_params": self.fc_params,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "input": str(self.input),
            "source": self.source,
            "conventions": CONVENTIONS,
            # Field by field: ``asdict`` deep-copies every value, 40x slower (ResNet-152's rows: 0.4 against 18 ms).
            "rows": [{name: getattr(r, name) for name in ROW_FIELDS} for r in self.rows],
            "totals": self.totals(),
        }

    def to_table(self, *, compact: bool = False) -> Any:
        """A rich Table; ``compact`` keeps only rows with weights or a new volume (CS231n's listing)."""
        from convarch.analysis.render import report_table

        return report_table(self, compact=compact)

    def to_json(self, *, indent: int | None = 2) -> str:
        from convarch.analysis.render import report_json

        return report_json(self, indent=indent)

    def to_csv(self) -> str:
        """One line per layer, after a ``#`` comment line with the conventions and a header."""
        from convarch.analysis.render import report_csv

        return report_csv(self)

    def _repr_html_(self) -> str:  # Jupyter
        from convarch.analysis.render import report_html

        return report_html(self)

    def __rich__(self) -> Any:  # ``rich.print(report)``
        return self.to_table()

    def __str__(self) -> str:  # ``print(report)``: the table, not the dataclass's fields
        return str(self.to_table())


ROW_FIELDS = tuple(f.name for f in fields(Row))


class _RowMaker(Interpreter[None]):
    """Collects one Row per primitive as the walk passes it; combinators add nothing."""

    def __init__(self, names: bool = True) -> None:
        self.rows: list[Row] = []
        self.names = names
        # One layer object often repeats (``[CONV3-64]*2``, blocks); it lives for the whole walk, so its id is a key.
        self._names: dict[tuple[int, int], str] = {}

    def layer(self, layer: Layer, vin: Volume, vout: Volume, path: str, ctx: Context) -> None:
        key = (id(layer), vin.c)  # a width relative to the input (CONV ratio=) names differently per input
        name = self._names.get(key, "")
        if not name and self.names:
            name = self._names[key] = layer.resolved(vin).text()
        self.rows.append(
            Row(
                index=len(self.rows) + 1,
                name=name,
                kind=layer.kind,
                path=path,
                output=str(vout),
                activations=vout.numel,
                params=layer.params(vin),
                weights=layer.weights(vin),
                macs=layer.macs(vin),
                allocates=layer.allocates,
                aux=ctx.aux,
            )
        )


def analyze_spec(spec: NetSpec, input_size: Volume | None = None, title: str = "", *, names: bool = True) -> Report:
    """The report of a concrete (bound) spec, in one walk. A volume that does not work out raises SizingError.

    ``names=False`` leaves the rows' names empty: printing each layer is the slowest part of a row, and a
    sweep needs only the totals.
    """
    volume = input_size or input_volume(spec)
    maker = _RowMaker(names)
    walk_network(spec, maker, volume)
    return Report(volume, maker.rows, title)
