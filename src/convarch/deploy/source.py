"""What ``convarch export SOURCE`` exports: a zoo name, pattern text or a convarch checkpoint, with weights.

A zoo name takes ``--weights`` as ``create_model`` does (a source tag, a file or a URL). Pattern text is
built and takes a weights file (a checkpoint trained from that pattern, say). A convarch checkpoint holds
its network and weights already. In each case ``num_classes`` and ``in_chans`` re-head or re-channel the
model as ``create_model`` does; left out, a trained checkpoint keeps its own classes and class names,
since that head is the point of exporting it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convarch.api import build, create_model, is_model_name, resolve
from convarch.errors import ConfigError, WeightsError, advising
from convarch.nn.model import ConvNet
from convarch.spec.serialize import spec_from_json
from convarch.weights.checkpoint import FORMAT, header_json, load, read_header
from convarch.zoo.registry import get_entry


@dataclass
class ExportSource:
    model: ConvNet
    label: str  # "lenet5 with weights W", for messages
    kept_classes: int | None = None  # the classes a trained checkpoint's head brought along


def model_for_export(
    source: str,
    *,
    weights: str | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    out: str | os.PathLike | None = None,
    bindings: dict[str, Any] | None = None,
) -> ExportSource:
    """The model ``source`` names, with ``weights`` loaded; ``out`` is refused where it is the weights file.
    ``bindings`` bind a template pattern as ``build`` does (``N=2``, ``base_width=16``)."""
    checkpoint = _checkpoint_path(source)
    if checkpoint is not None:
        if weights is not None:
            raise advising(ConfigError(f"{source} is a checkpoint and holds its weights; leave weights out"), "weights")
        weights = str(checkpoint)
    weights_file = _local_weights(source, weights)
    if weights_file is not None and out is not None and Path(out).exists() and os.path.samefile(weights_file, out):
        message = f"{out} is the weights file being exported ({weights}): writing it would replace those weights"
        raise advising(WeightsError(f"{message}; export to another path"), "out")
    kept = checkpoint_classes(weights_file) if num_classes is None and weights_file is not None else None
    if kept is not None:
        num_classes = kept[0]
    if checkpoint is not None and in_chans is None and kept is not None:  # exported as it was saved
        model, label = load(checkpoint), str(checkpoint)
    elif checkpoint is None and is_model_name(source):
        name = get_entry(source).name
        model = create_model(name, weights=weights, num_classes=num_classes, in_chans=in_chans)
        label = f"{name}" + (f" with weights {weights}" if weights else " (random weights)")
    else:
        spec = spec_from_json(read_header(checkpoint)["spec"]) if checkpoint is not None else resolve(source)
        if in_chans is not None and spec.input is None:
            message = "in_chans needs a pattern with an INPUT size; write INPUT(HxWxC) first"
            raise advising(ConfigError(message), "in_chans")
        size = (in_chans, spec.input.h, spec.input.w) if in_chans is not None and spec.input else None
        model = build(spec, input_size=size, num_classes=num_classes, **(bindings or {}))
        if weights is not None:
            from convarch.weights.pretrained import load_weights

            load_weights(model, weights)
        label = str(checkpoint) if checkpoint is not None else "the pattern"
        label += f" with weights {weights}" if weights and checkpoint is None else ""
    if kept is not None:
        model.class_names = kept[1]
    return ExportSource(model.eval(), label, kept[0] if kept else None)


def _checkpoint_path(source: str) -> Path | None:
    """``source`` as a convarch checkpoint file, or None where it names a model or is pattern text."""
    if is_model_name(source) or "\n" in source or "->" in source:
        return None
    path = Path(source).expanduser()
    if not path.is_file():
        if path.suffix.lower() == ".safetensors":
            raise WeightsError(f"no checkpoint at {path}: the file does not exist")
        return None
    header = read_header(path) if path.suffix.lower() == ".safetensors" else {}
    if header.get("format") != FORMAT:
        message = (f"{path} is not a convarch checkpoint, so it does not say which network it holds; name the "
                   "network and pass the file as its weights")  # fmt: skip
        raise advising(WeightsError(message), "weights")
    return path


def _local_weights(source: str, weights: str | None) -> Path | None:
    if weights is None:
        return None
    from convarch.weights.pretrained import local_weights_file

    return local_weights_file(get_entry(source).name if is_model_name(source) else None, weights)


def checkpoint_classes(path: Path) -> tuple[int, list[str] | None] | None:
    """The classes and class names a convarch checkpoint records; None for any other file."""
    if path.suffix.lower() != ".safetensors":
        return None
    header = read_header(path)
    if header.get("format") != FORMAT or "num_classes" not in header:
        return None
    return int(header["num_classes"]), header_json(header, "class_names", path)
