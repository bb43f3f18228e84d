"""What each publisher's weight files have in common, so a zoo variant lists only its own files.

A variant names its weights beside its figures (``@RESNET.model(..., weights=Torchvision(...))``); the
objects here turn those few facts into ``WeightSource`` records once the variant's name and metadata are
known. The facts are read from the publishers' own code:

torchvision: URLs, accuracies and transforms from torchvision 0.29.1's ``*_Weights`` enums
(``torchvision/models/<module>.py``). Each file name ends in the first hex digits of the file's SHA-256, which
``torch.hub`` checks with ``check_hash=True``: that prefix is the published hash, and we verify it on
download. The transforms are ``ImageClassification(crop_size=224)`` (resize 256) or, for the "V2" recipe,
``resize_size=232``; both use bilinear interpolation and the ImageNet mean/std.

timm: the files timm 1.0.31's ``default_cfgs`` point at (its Hugging Face hub repo ``timm/<model>.<tag>``,
file ``model.safetensors``, or the release URL where the config names no hub repo), with the preprocessing
of that config (input size, crop_pct, interpolation, mean/std) and the accuracy of timm's
``results/results-imagenet.csv`` where it lists the weights. No SHA-256 is recorded for them: timm's
registry carries none, and we record only published hashes.

One place per figure: accuracy that the zoo metadata already states for these very weights (torchvision's
IMAGENET1K_V1, or a ``ModelInfo.top1`` whose source names the timm weights) is cited, not copied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convarch.weights.sources import IMAGENET_MEAN, IMAGENET_STD, Preprocess, WeightSource
from convarch.zoo.info import TIMM_RESULTS, Figure, ModelInfo

TORCHVISION_ORIGIN = "torchvision 0.29.1 source, torchvision/models/{file}.py, {enum}.IMAGENET1K_{version}"
TORCHVISION_URL = "https://download.pytorch.org/models/{file}"
TORCHVISION_METRICS = "torchvision weights metadata, {enum}.IMAGENET1K_{version}"
TIMM_URL = "https://huggingface.co/timm/{repo}/resolve/main/model.safetensors"
TIMM_NO_HASH = "No SHA-256 is published in timm's registry."


def published_hash_prefix(file_name: str) -> str:
    """The SHA-256 prefix a torchvision file name carries (``resnet50-0676ba61.pth`` -> ``0676ba61``)."""
    match = re.search(r"-([0-9a-f]{8,})\.", file_name)
    if match is None:
        raise ValueError(f"{file_name} carries no hash prefix")
    return match.group(1)


@dataclass(frozen=True)
class Torchvision:
    """A model's ``IMAGENET1K_V1`` file in torchvision (its figures are the metadata's), and the ``V2`` file
    with its own accuracy where torchvision publishes one; V2 is then the DEFAULT."""

    module: str  # torchvision/models/<module>.py
    enum: str  # the weights enum, ResNet50_Weights
    v1: str  # file name
    v2: tuple[str, float, float] | None = None  # (file name, top-1, top-5), resize 232
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    notes: tuple[str, ...] = ()

    def sources(self, model: str, info: ModelInfo) -> list[WeightSource]:
        versions = [("V1", self.v1, info.top1, info.top5, 256)]
        if self.v2 is not None:
            file, top1, top5 = self.v2
            metrics = TORCHVISION_METRICS.format(enum=self.enum, version="V2")
            v2 = Figure(top1, metrics, 0.001, "%"), Figure(top5, metrics, 0.001, "%")
            versions.insert(0, ("V2", file, *v2, 232))
        return [self._source(model, i == 0, *version) for i, version in enumerate(versions)]

    def _source(
        self, model: str, default: bool, version: str, file: str, top1: Figure | None, top5: Figure | None, resize: int
    ) -> WeightSource:
        metrics = TORCHVISION_METRICS.format(enum=self.enum, version=version)
        return WeightSource(
            model=model,
            tag=f"torchvision.{version.lower()}",
            url=TORCHVISION_URL.format(file=file),
            layout="torchvision",
            upstream=model,
            preprocess=Preprocess(
                crop=224,
                resize=resize,
                mean=self.mean,
                std=self.std,
                interpolation="bilinear",
                source=f"torchvision ImageClassification, {metrics}",
            ),
            sha256=published_hash_prefix(file),
            top1=top1,
            top5=top5,
            origin=TORCHVISION_ORIGIN.format(file=self.module, enum=self.enum, version=version),
            aliases=("torchvision",) if default else (),
            notes=self.notes,
        )


@dataclass(frozen=True)
class Timm:
    """One timm weights file, ``<architecture>.<tag>`` as timm's registry names it."""

    repo: str  # timm's pretrained name, inception_v4.tf_in1k
    size: int
    crop_pct: float
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    note: str
    accuracy: tuple[float, float] | None = None  # results-imagenet.csv, unless the metadata cites these weights
    url: str | None = None  # the release URL, where timm's config names no hub repo

    def sources(self, model: str, info: ModelInfo) -> list[WeightSource]:
        cfg = f"timm 1.0.31 default_cfgs['{self.repo}']"
        architecture, _, tag = self.repo.partition(".")
        top1, top5 = self._accuracy(info)
        where = f"url {self.url}" if self.url else f"hf_hub_id timm/{self.repo}"
        source = WeightSource(
            model=model,
            tag=f"timm.{tag}",
            url=self.url or TIMM_URL.format(repo=self.repo),
            layout="timm",
            upstream=architecture,
            preprocess=Preprocess.from_crop_pct(
                self.size,
                self.crop_pct,
                mean=self.mean,
                std=self.std,
                interpolation=self.interpolation,
                source=f"{cfg}: input {self.size}, crop_pct {self.crop_pct}",
            ),
            top1=top1,
            top5=top5,
            origin=f"{cfg}, {where}",
            aliases=("timm",),
            notes=(self.note, TIMM_NO_HASH),
        )
        return [source]

    def _accuracy(self, info: ModelInfo) -> tuple[Figure | None, Figure | None]:
        if info.top1 is not None and self.repo in info.top1.source:
            return info.top1, info.top5
        if self.accuracy is None:
            return None, None
        results = f"{TIMM_RESULTS}, {self.repo}"
        return Figure(self.accuracy[0], results, 0.001, "%"), Figure(self.accuracy[1], results, 0.001, "%")
