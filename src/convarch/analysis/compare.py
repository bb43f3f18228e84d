"""Models side by side: the seed's "Model Complexity Comparison", computed rather than quoted.

CS231n sums it up: VGG has the most memory and the most operations, GoogLeNet is the most efficient,
ResNet is moderate and Inception-v4 the most accurate. The figure it cites (Canziani, Paszke &
Culurciello 2016, arXiv 1605.07678, Fig. 2) plots top-1 accuracy against operations with bubble area
proportional to parameters; ``convarch.viz`` draws it from these rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from convarch.analysis.report import Report
from convarch.errors import ConfigError
from convarch.zoo.info import Figure
from convarch.zoo.registry import list_models

# The networks the seed's comparison discusses, in its order (ResNet at both depths), then MobileNetV2, which
# came after them and sits at the efficient corner of Canziani et al.'s chart. (SE-ResNet-50's bubble would
# cover ResNet-50's: same cost, one point more.)
SEED_LINEUP = ("alexnet", "vgg16", "googlenet", "resnet50", "resnet152", "inception_v4", "mobilenet_v2")


@dataclass
class Comparison:
    """One model's row: computed counts, published accuracy with its source, measured latency if any."""

    name: str
    year: int | None
    report: Report
    top1: Figure | None = None
    top5: Figure | None = None
    latency: dict[int, float] = field(default_factory=dict)  # batch size -> median seconds per batch

    @property
    def gmacs(self) -> float:
        return self.report.macs / 1e9

    def to_dict(self) -> dict[str, Any]:
        def figure(f: Figure | None) -> dict[str, Any] | None:
            return None if f is None else {"value": f.value, "source": f.source}

        r = self.report
        return {
            "name": self.name,
            "year": self.year,
            "input": str(r.input),
            "params": r.params,
            "gmacs": self.gmacs,
            "activations": r.activations,
            "forward_bytes_per_image": r.forward_bytes,
            "param_bytes": r.param_bytes,
            "fc_share": r.fc_share,
            "top1": figure(self.top1),
            "top5": figure(self.top5),
            "latency_s": {str(b): t for b, t in sorted(self.latency.items())},
        }


def seed_lineup() -> tuple[list[str], list[str]]:
    """The seed's lineup split into (registered, not yet registered) names."""
    known = set(list_models())
    return [n for n in SEED_LINEUP if n in known], [n for n in SEED_LINEUP if n not in known]


def compare(
    sources: str | list[str], input_size: tuple[int, int, int] | None = None, **keywords: Any
) -> list[Comparison]:
    """A row per zoo name or pattern text; each model at its own default input unless ``input_size``.
    ``keywords`` bind the template patterns among them, as ``build`` does (``N=2``, ``base_width=16``).
    One string is one model (its characters are not a list of names)."""
    from convarch.api import analyze, is_model_name
    from convarch.zoo.registry import model_info

    if isinstance(sources, str):
        sources = [sources]

    if keywords and all(is_model_name(source) for source in sources):
        raise ConfigError(f"{', '.join(sorted(keywords))} bind template patterns, but every model given is a zoo name")
    rows = []
    for source in sources:
        report = analyze(source, input_size=input_size, **({} if is_model_name(source) else keywords))
        if is_model_name(source):
            info = model_info(source)
            rows.append(Comparison(info.name, info.year, report, info.top1, info.top5))
        else:
            rows.append(Comparison(source, None, report))
    return rows
