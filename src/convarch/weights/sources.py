"""The weight-source registry: which published files exist for a zoo model, and what is known about each.

A ``WeightSource`` records facts, each with where it comes from: the URL, the published hash (when there
is one), the ImageNet accuracy, the preprocessing the weights were trained with, and the state-dict layout
of the file (``"torchvision"``, ``"timm"`` or ours, ``"convarch"``). Each zoo variant declares its files
beside its figures (``convarch.weights.catalog`` holds what a publisher's files share); this module stores
and finds them.

Tags: each source has one (``"torchvision.v1"``, ``"timm.tf_in1k"``) and may have aliases
(``"torchvision"`` for torchvision's DEFAULT weights, ``"timm"``). ``"imagenet"`` always means the model's
default source, the first one registered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from convarch.errors import ConfigError, WeightsError
from convarch.zoo.info import Figure

DEFAULT_TAG = "imagenet"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # TF-slim's Inception preprocessing: scale pixels to [-1, 1]
INCEPTION_STD = (0.5, 0.5, 0.5)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocess:
    """How images were prepared for the weights: resize the shorter side, center-crop, normalise."""

    crop: int
    resize: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    source: str = ""

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if not 0 < self.crop <= self.resize:
            raise ConfigError(f"the crop ({self.crop}) must be positive and no larger than the resize ({self.resize})")
        if len(self.mean) != len(self.std):
            raise ConfigError(f"mean has {len(self.mean)} values but std has {len(self.std)}")

    @classmethod
    def from_crop_pct(cls, crop: int, crop_pct: float, **kwargs: Any) -> Preprocess:
        """timm's convention: the resize is ``floor(crop / crop_pct)``."""
        return cls(crop=crop, resize=math.floor(crop / crop_pct), **kwargs)

    @property
    def crop_pct(self) -> float:
        return self.crop / self.resize

    def describe(self, short: bool = False) -> str:
        named = {(IMAGENET_MEAN, IMAGENET_STD): "ImageNet", (INCEPTION_MEAN, INCEPTION_STD): "0.5"}
        stats = named.get((tuple(self.mean), tuple(self.std)))
        norm = f"mean/std {stats}" if stats else f"mean {tuple(self.mean)} std {tuple(self.std)}"
        if short:
            return f"{self.resize}->{self.crop} {self.interpolation}, {norm}"
        return f"resize {self.resize} {self.interpolation}, crop {self.crop}, {norm}"

    def to_cfg(self) -> dict[str, Any]:
        """The keys ``model.pretrained_cfg`` uses (timm's names where timm has one)."""
        return {
            "resize": self.resize,
            "crop": self.crop,
            "crop_pct": round(self.crop_pct, 4),
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "preprocess_source": self.source,
        }


@dataclass(frozen=True)
class WeightSource:
    """One published weights file for one zoo model."""

    model: str  # our zoo name
    tag: str
    url: str
    layout: str  # the file's state-dict layout: "torchvision", "timm" or "convarch"
    upstream: str  # the architecture's name in the library that publishes the file
    preprocess: Preprocess
    sha256: str | None = None  # the full digest, or the published prefix of it (torchvision's filenames)
    num_classes: int = 1000
    top1: Figure | None = None
    top5: Figure | None = None
    origin: str = ""  # where the URL and hash come from
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.sha256 is not None and not (
            8 <= len(self.sha256) <= 64 and all(c in "0123456789abcdef" for c in self.sha256)
        ):
            raise ConfigError(
                f"{self.model}/{self.tag}: sha256 must be 8 to 64 lowercase hex digits, got {self.sha256!r}"
            )

    @property
    def names(self) -> tuple[str, ...]:
        return (self.tag, *self.aliases)

    def accuracy(self) -> str:
        if self.top1 is None:
            return "-"
        top5 = f" / {self.top5.value:g}" if self.top5 is not None else ""
        return f"{self.top1.value:g}{top5}"

    def to_cfg(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "url": self.url,
            "layout": self.layout,
            "num_classes": self.num_classes,
            "top1": None if self.top1 is None else self.top1.value,
            "top5": None if self.top5 is None else self.top5.value,
            **self.preprocess.to_cfg(),
        }


_SOURCES: dict[str, list[WeightSource]] = {}


def register_source(source: WeightSource) -> WeightSource:
    """Add a source for ``source.model``; the first one registered for a model is its default."""
    known = _SOURCES.setdefault(source.model, [])
    taken = {name for other in known for name in other.names}
    clash = taken.intersection(source.names) | ({DEFAULT_TAG} & set(source.names))
    if clash:
        raise ConfigError(f"{source.model}: weight tag {', '.join(sorted(clash))} is already taken; pick another")
    known.append(source)
    return source


_LOADED: list[bool] = []


def _ensure_catalog() -> None:
    """Register the weights every zoo variant declares, once."""
    if _LOADED:
        return
    from convarch.zoo.registry import entries  # the weights package builds on the zoo

    _LOADED.append(True)
    for entry in entries():
        for source in entry.weights:
            register_source(source)


def sources_for(model: str) -> list[WeightSource]:
    """The registered sources of ``model``, its default first (empty when it has none)."""
    _ensure_catalog()
    return list(_SOURCES.get(model.lower(), []))


def models_with_sources() -> list[str]:
    _ensure_catalog()
    return sorted(name for name, sources in _SOURCES.items() if sources)


def is_source_tag(model: str, tag: str) -> bool:
    sources = sources_for(model)
    return bool(sources) and (tag == DEFAULT_TAG or any(tag in s.names for s in sources))


def find_source(model: str, tag: str = DEFAULT_TAG) -> WeightSource:
    """The source ``tag`` (or alias) of ``model``; ``"imagenet"`` is the default one."""
    sources = sources_for(model)
    if not sources:
        raise WeightsError(
            f"{model} has no registered pretrained weights. Pass a local file or URL instead "
            "(weights='path/to/file.safetensors'), or see `convarch weights list` for the models that have some."
        )
    if tag == DEFAULT_TAG:
        return sources[0]
    for source in sources:
        if tag in source.names:
            return source
    known = ", ".join([DEFAULT_TAG, *(name for s in sources for name in s.names)])
    raise WeightsError(f"{model} has no weights tagged {tag!r}; its tags are: {known}")
