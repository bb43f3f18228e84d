"""``ca.evaluate`` and ``ca.predict``: a trained checkpoint on a dataset, or on a few image files.

A checkpoint written by a run carries its class names, its preprocessing and where its held-out images
came from, so evaluating it on the same data finds exactly the images it never trained on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from convarch.data.builtin import BUILTIN
from convarch.data.datasets import DataBundle, Side, load_data
from convarch.data.images import BadImage, read_image
from convarch.data.preprocess import Preprocessing, model_preprocessing
from convarch.errors import ConfigError, DataError, WeightsError, advising
from convarch.nn.model import ConvNet
from convarch.train.distributed import Distributed, pick_device
from convarch.train.evaluate import EvalStats, class_scores, evaluate_loader
from convarch.train.memory import check_inference_memory
from convarch.weights.checkpoint import load, read_header

SPLITS = ("val", "train", "all")


@dataclass
class Evaluation:
    stats: EvalStats
    class_names: list[str]
    data: str
    split: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason): unreadable, not evaluated
    runtime: str = "torch eager"  # or the path ca.optimize chose ("torch optimized: ...", "onnxruntime ...")

    @property
    def top1(self) -> float:
        return self.stats.top1

    @property
    def top5(self) -> float | None:
        return self.stats.top5

    def to_dict(self) -> dict[str, Any]:
        skipped = [{"path": path, "reason": reason} for path, reason in self.skipped]
        return {"data": self.data, "split": self.split, **self.stats.to_dict(self.class_names), "skipped": skipped,
                "runtime": self.runtime}  # fmt: skip


def _model_and_header(checkpoint: str | Path | ConvNet) -> tuple[ConvNet, dict[str, str]]:
    if isinstance(checkpoint, ConvNet):
        return checkpoint, {}
    path = Path(checkpoint)
    if path.is_dir():  # a training run: its best checkpoint
        if not (path / "best.safetensors").is_file():
            raise WeightsError(f"{path} is a directory without best.safetensors; give a checkpoint file or a run")
        path = path / "best.safetensors"
    elif path.suffix.lower() in (".pth", ".pt", ".bin", ".ckpt"):
        from convarch.weights.reader import read_pickle

        read_pickle(path)  # a pickled whole model or a corrupt file is refused there, for what it is
        raise WeightsError(
            f"{path} is a plain state dict, which does not say which network it holds. Make a self-describing "
            "checkpoint first: export its network with these weights to a .safetensors file "
            f"(ca.export(ca.create_model(MODEL, weights={str(path)!r}), 'model.safetensors'))"
        )
    header = read_header(path)
    return load(path), header


def _trained_on(header: dict[str, str], checkpoint: str | Path | ConvNet) -> dict[str, Any]:
    """Where the checkpoint's run took its data (``{}`` when it does not say), to hold out the same images."""
    try:
        record = json.loads(header.get("data") or "{}")
    except json.JSONDecodeError as error:
        record = error
    if not isinstance(record, dict):
        raise WeightsError(
            f"{checkpoint}: the checkpoint header's data field, which records the images its run held out, is "
            f"damaged ({record}), so those images are unknown. The file was damaged or edited; take the "
            "checkpoint again from its run directory (predict does not need the field)"
        )
    return record


def evaluate(
    checkpoint: str | Path | ConvNet,
    data: str | Path,
    *,
    split: str = "val",
    batch_size: int = 256,
    device: str = "auto",
    labels_per_class: int | None = None,
    split_seed: int | None = None,
    runtime: str = "torch",
    optimize: bool = False,
) -> Evaluation:
    """Top-1, top-5, per-class accuracy and the confusion matrix of a checkpoint (or model) on ``data``.

    ``split="val"`` is the held-out side: the same images the run held out when ``data`` is what it trained
    on (the checkpoint records the split), a val/ folder, or mnist5k's fixed 1,000. ``labels_per_class``
    and ``split_seed`` choose another split (the rest of digits after 10 labels per class, say).
    ``optimize`` (or ``runtime="onnxruntime"``) evaluates what ``ca.optimize`` makes of the model: the fast path.
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if batch_size < 1:
        raise ConfigError(f"the batch size must be at least 1, got {batch_size}")
    model, header = _model_and_header(checkpoint)
    preprocessing = _preprocessing(model)  # before memory: a smaller batch would not get past this
    target = pick_device(device)
    try:
        check_inference_memory(model, batch_size, target, "Use a smaller batch_size.")
    except ConfigError as error:
        raise advising(error, "batch_size") from None
    trained_on = _trained_on(header, checkpoint)
    options: dict[str, Any] = {}
    if trained_on.get("source") == _source_key(data):  # the data it trained on: hold out the same images
        options = {
            "split_seed": trained_on.get("split_seed", 0),
            "labels_per_class": trained_on.get("labels_per_class"),
        }
    if labels_per_class is not None:
        options["labels_per_class"] = labels_per_class
    if split_seed is not None:
        options["split_seed"] = split_seed
    bundle = load_data(data, model, preprocessing=preprocessing, **options)
    labels_map = _label_map(model, bundle)
    side = _side(bundle, split)
    bundle.val = Side(labels_map[side.labels], side.images, side.paths)
    dist = Distributed(0, 1, 0, target, owns_group=False)  # one process
    loader = bundle.loader("val", batch_size=batch_size, device=dist.device)
    scorer = deployed(model.to(dist.device), runtime=runtime, optimize=optimize, device=dist.device,
                      batch_size=max(1, min(batch_size, len(side))))  # the batches it will see  # fmt: skip
    stats = evaluate_loader(scorer, loader, model.num_classes, dist)
    if stats.count == 0:  # every file of the side failed while streamed: a 0% would pass for a result
        raise DataError(
            f"no image of {data} ({split}) could be read, so nothing was evaluated; "
            f"{len(getattr(loader, 'skipped', {}))} file(s) were skipped as unreadable. Check the data"
        )
    skipped = sorted(set(bundle.skipped) | set(getattr(loader, "skipped", {}).items()))  # streamed: found while read
    runtime = scorer.describe() if hasattr(scorer, "describe") else "torch eager"
    return Evaluation(stats, list(model.class_names or bundle.class_names), str(data), split, skipped, runtime)


def _source_key(data: str | Path) -> str:
    """How a dataset is named in a run's record: the built-in name, or the folder path."""
    text = str(data)
    return text.lower() if text.lower() in BUILTIN else str(Path(text))


def _preprocessing(model: ConvNet) -> Preprocessing:
    prep = model_preprocessing(model)
    if prep is None:
        raise DataError(
            "this model records no preprocessing (input size, mean, std), so its inputs cannot be prepared as in "
            "training; evaluate a checkpoint written by `convarch train` or loaded with pretrained weights"
        )
    return prep


def _label_map(model: ConvNet, bundle: DataBundle) -> torch.Tensor:
    """Data label -> model output index, by class name."""
    names = model.class_names or [str(i) for i in range(model.num_classes)]
    missing = [n for n in bundle.class_names if n not in names]
    if missing:
        raise DataError(
            f"the data has classes the model does not know: {', '.join(missing[:8])}; the model's classes are "
            f"{', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
        )
    return torch.tensor([names.index(n) for n in bundle.class_names], dtype=torch.long)


def _side(bundle: DataBundle, split: str) -> Side:
    if split != "all":
        return getattr(bundle, split)
    train, val = bundle.train, bundle.val
    images = torch.cat([train.images, val.images]) if train.images is not None and val.images is not None else None
    paths = (train.paths or []) + (val.paths or []) if images is None else None
    return Side(torch.cat([train.labels, val.labels]), images, paths)


@dataclass
class Prediction:
    path: str
    top: list[tuple[str, float]]  # (class name, probability), best first
    error: str = ""


@torch.no_grad()
def predict(
    checkpoint: str | Path | ConvNet,
    images: str | bytes | os.PathLike | Sequence[str | bytes | os.PathLike],
    *,
    topk: int = 5,
    device: str = "cpu",
    runtime: str = "torch",
    optimize: bool = False,
) -> list[Prediction]:
    """The ``topk`` classes and probabilities for each image file (one path, or a list of them); an unreadable
    file gets an error, not a crash. ``optimize`` or ``runtime="onnxruntime"`` runs ``ca.optimize``'s path."""
    if isinstance(images, str | bytes | os.PathLike):  # one file, not the characters (or bytes) of its name
        images = [images]
    images = [os.fsdecode(path) if isinstance(path, bytes) else path for path in images]
    if topk < 1:
        raise ConfigError(f"topk must be at least 1, got {topk}")
    model, _ = _model_and_header(checkpoint)
    prep = _preprocessing(model)
    target = pick_device(device)
    check_inference_memory(model, 1, target, "This network is too large for this machine at its INPUT size.")
    model = model.to(target).eval()
    scorer = deployed(model, runtime=runtime, optimize=optimize, device=target, batch_size=1)  # one image a call
    names = model.class_names or [str(i) for i in range(model.num_classes)]
    k = min(topk, model.num_classes)
    results = []
    for path in images:
        try:
            image = read_image(path)
        except BadImage as error:
            results.append(Prediction(str(path), [], str(error)))
            continue
        logits = class_scores(scorer, prep(image.unsqueeze(0)).to(target))  # a trailing SOFTMAX is not applied twice
        probabilities = logits.softmax(dim=1)[0].float().cpu()
        values, indices = probabilities.topk(k)
        results.append(
            Prediction(str(path), [(names[i], float(v)) for v, i in zip(values, indices.tolist(), strict=True)])
        )
    return results


def deployed(model: ConvNet, *, runtime: str, optimize: bool, device: torch.device, batch_size: int) -> torch.nn.Module:
    """``model`` as evaluation and prediction call it: itself, or ``ca.optimize``'s fast path, chosen for
    their ``batch_size``, with ``optimize`` or ``runtime="onnxruntime"`` (class scores before any trailing
    SOFTMAX, as ``class_scores`` gives)."""
    if not optimize and runtime == "torch":
        return model
    from convarch.deploy.optimize import optimize as optimized

    return optimized(model, device=device, runtime=runtime, logits=True, batch_size=batch_size)
