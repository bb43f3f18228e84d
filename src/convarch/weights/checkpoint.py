"""Self-describing checkpoints: safetensors weights plus a header that says how to rebuild the model.

``save(model, path)`` writes the state dict as safetensors and puts the spec (lossless JSON and, where it
has one, the pattern text), the classes, the input channels, the class names and the preprocessing in the
file's metadata header. ``load(path)`` rebuilds the model from that header alone, so a checkpoint never
needs the caller to name its architecture. Nothing is unpickled: safetensors holds only tensors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from convarch.errors import ConfigError, ConvarchError, WeightsError
from convarch.io import atomic_write
from convarch.nn.model import ConvNet
from convarch.pattern.printer import to_pattern_text
from convarch.spec.serialize import spec_from_json, spec_to_json

FORMAT = "convarch"
FORMAT_VERSION = "1"


def header_of(model: ConvNet, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The metadata header that lets ``load`` rebuild ``model``."""
    try:
        pattern = to_pattern_text(model.spec)
    except ConvarchError:
        pattern = ""  # a spec with no pattern notation; the JSON spec is always there
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": spec_to_json(model.spec),
        "pattern": pattern,
        "num_classes": str(model.num_classes),
        "in_chans": str(model.in_chans),
        "class_names": json.dumps(getattr(model, "class_names", None)),
        "pretrained_cfg": json.dumps(model.pretrained_cfg, default=str),
    }
    header.update(extra or {})
    return header


def save(
    model: ConvNet,
    path: str | os.PathLike,
    *,
    class_names: list[str] | None = None,
    extra: dict[str, str] | None = None,
    error: type[ConvarchError] = WeightsError,
    advice: str = "choose another location or free some space",
) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``) atomically, with the header ``load`` needs.

    A write that fails (full disk, read-only directory) raises ``error`` naming the file and ``advice``.
    """
    from safetensors.torch import save_file

    if not isinstance(model, ConvNet):
        raise ConfigError(
            f"save() writes convarch models; got {type(model).__name__}. For another module, save its "
            "state_dict with safetensors.torch.save_file."
        )
    if class_names is not None:
        if len(class_names) != model.num_classes:
            raise ConfigError(f"{len(class_names)} class names for a {model.num_classes}-class model")
        model.class_names = list(class_names)
    path = Path(path)
    state = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    atomic_write(path, lambda temp: save_file(state, temp, metadata=header_of(model, extra)), error=error,
                 advice=advice)  # fmt: skip
    return path


def read_header(path: str | os.PathLike) -> dict[str, str]:
    """The metadata header of a safetensors file, with clear errors for a missing or corrupt file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no checkpoint at {path}: the file does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(
            f"{path} is not a readable safetensors file ({error}); it may be truncated or corrupt"
        ) from None


def read_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise WeightsError(
            f"{path} could not be read as safetensors ({error}); it may be truncated or corrupt"
        ) from None


def load(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> ConvNet:
    """Rebuild the model saved by ``save`` at ``path``; the caller does not name the architecture."""
    header = read_header(path)
    if header.get("format") != FORMAT or "spec" not in header:
        raise WeightsError(
            f"{path} has no convarch header, so it does not say which network it holds. Load it into a model "
            "you build yourself: ca.create_model(name, weights=path)."
        )
    try:
        spec = spec_from_json(header["spec"])
        with torch.device("meta"):
            model = ConvNet(spec)
    except ConvarchError as error:
        raise WeightsError(f"{path}: its header does not describe a network that builds: {error}") from None
    state = read_tensors(path)
    expected = model.state_dict()
    for key, tensor in state.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{path} does not match the network its header describes: {key} has shape {tuple(tensor.shape)} "
                f"in the file but {tuple(expected[key].shape)} in the network; the file is damaged or was edited"
            )
    result = model.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"{path} does not match the network its header describes: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    materialise_buffers(model, spec)
    model.pretrained_cfg = json.loads(header.get("pretrained_cfg") or "{}")
    model.class_names = json.loads(header.get("class_names") or "null")
    return model.to(device)


def materialise_buffers(model: ConvNet, spec: Any) -> None:
    """Non-persistent buffers (e.g. a connection table's index) are not saved: take them from a fresh build.

    Only the rare networks that have such buffers pay for building one (LeNet-5's C3 table).
    """
    missing = [name for name, buffer in model.named_buffers() if buffer.is_meta]
    if not missing:
        return
    fresh = dict(ConvNet(spec).named_buffers())
    for name in missing:
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name) if module_name else model
        module._buffers[attr] = fresh[name]
