"""Model metadata: the paper, the published figures with their sources, and the known deviations.

Published figures live here and only here. Tests compute the real model's numbers and compare them with
these; nothing else stores a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paper:
    authors: str
    year: int
    title: str
    arxiv: str | None = None
    venue: str | None = None

    def cite(self) -> str:
        where = f"arXiv:{self.arxiv}" if self.arxiv else (self.venue or "")
        return f"{self.authors} ({self.year}). {self.title}. {where}".strip()


@dataclass(frozen=True)
class Figure:
    """A published number and where it comes from.

    ``precision`` is the rounding of the published value: 1 for an exact count, 1e6 for "133M",
    0.001 for a GMACs figure given to three decimals. ``matches`` asks whether a computed value rounds
    to the published one.
    """

    value: float
    source: str
    precision: float = 1
    unit: str = ""

    def matches(self, actual: float) -> bool:
        return abs(actual - self.value) <= self.precision / 2 + 1e-9 * max(1.0, abs(self.value))

    def __str__(self) -> str:
        whole = float(self.value).is_integer() and abs(self.value) >= 1000
        value = f"{int(self.value):,}" if whole else f"{self.value:g}"
        return f"{value}{(' ' + self.unit) if self.unit else ''} ({self.source})"


# Sources quoted by many entries.
TORCHVISION = "torchvision model metadata (docs.pytorch.org/vision/stable/models)"
TIMM = "timm model metadata (huggingface.co/timm)"
TIMM_RESULTS = "timm results/results-imagenet.csv (github.com/huggingface/pytorch-image-models)"
CS231N = "CS231n notes, 'Convolutional Neural Networks' (cs231n.github.io/convolutional-networks)"


def torchvision_figures(params: int, gmacs: float, top1: float, top5: float) -> dict[str, Figure]:
    """ModelInfo's published figures for a torchvision model: ``num_params``, ``_ops`` (GMACs to three
    decimals) and the acc@1/acc@5 of its IMAGENET1K_V1 weights."""
    weights = f"{TORCHVISION}, IMAGENET1K_V1"
    return {
        "params": Figure(params, TORCHVISION),
        "gmacs": Figure(gmacs, TORCHVISION, 0.001, "GMACs"),
        "top1": Figure(top1, weights, 0.001, "%"),
        "top5": Figure(top5, weights, 0.001, "%"),
    }


@dataclass(frozen=True)
class ModelInfo:
    """What a user wants to know about a zoo model before building it."""

    name: str
    family: str
    paper: Paper
    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000
    ilsvrc: str | None = None
    params: Figure | None = None
    gmacs: Figure | None = None
    top1: Figure | None = None
    top5: Figure | None = None
    deviations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)  # further published tables (per layer, ...)

    @property
    def year(self) -> int:
        return self.paper.year

    def to_dict(self) -> dict[str, Any]:
        def fig(f: Figure | None) -> dict[str, Any] | None:
            return None if f is None else {"value": f.value, "source": f.source, "precision": f.precision}

        return {
            "name": self.name,
            "family": self.family,
            "paper": self.paper.cite(),
            "year": self.year,
            "input_size": list(self.input_size),
            "num_classes": self.num_classes,
            "ilsvrc": self.ilsvrc,
            "params": fig(self.params),
            "gmacs": fig(self.gmacs),
            "top1": fig(self.top1),
            "top5": fig(self.top5),
            "deviations": list(self.deviations),
            "notes": list(self.notes),
        }
