"""Load pretrained weights into a model: a pipeline of small steps, in the spirit of timm's loader.

1. resolve: a tag, a path or a URL becomes a local file (downloaded into the cache if needed);
2. read: safetensors, or a pickle with ``weights_only=True``;
3. unwrap the DDP/compile prefixes and legacy names, detect the layout, rename the keys to ours;
4. adapt the first conv to ``in_chans``;
5. drop the classifiers if the class counts differ, and say so;
6. check: missing and unexpected keys, then shapes (a WeightsError names the key and both shapes);
7. assign the tensors, and initialise afresh whatever the file did not provide (the new heads);
8. record ``model.pretrained_cfg``: the source, the layout and the preprocessing.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from convarch.errors import ConfigError, WeightsError
from convarch.nn.model import ConvNet
from convarch.spec.edit import with_classifier
from convarch.spec.nodes import NetSpec
from convarch.weights.adapt import Heads, adapt_in_chans, drop_heads, first_conv
from convarch.weights.download import URL_SCHEMES, discard_unreadable, fetch, is_url, local_file
from convarch.weights.layout import OUR_LAYOUT, detect_layout, unwrap_keys
from convarch.weights.preprocess import PREPROCESS_KEYS, default_cfg
from convarch.weights.reader import WEIGHTS_SUFFIXES, read_state_dict
from convarch.weights.sources import WeightSource, find_source, is_source_tag, sources_for
from convarch.zoo.keymaps import squeeze_linear
from convarch.zoo.registry import get_entry, is_model, model_spec

logger = logging.getLogger("convarch.weights")
SHOWN_KEYS = 6  # how many keys an error message lists


@dataclass
class LoadReport:
    """What loading did: where the weights came from, their layout, and every key it changed or skipped."""

    source: str
    file: Path
    layout: str
    adapted: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def create_with_weights(
    name: str, weights: str | os.PathLike, *, num_classes: int | None, in_chans: int | None, **options: Any
) -> ConvNet:
    """``create_model(name, weights=...)``: build on the meta device (no wasted init), then load."""
    entry = get_entry(name)
    spec = model_spec(name, num_classes=num_classes, in_chans=in_chans, **options)
    # The key maps see the network as published (default classes, auxiliary heads kept), whatever we build.
    key_spec = model_spec(name, in_chans=in_chans, **options)
    with torch.device("meta"):
        model = ConvNet(spec, pretrained_cfg={"architecture": entry.name})
    load_weights(model, weights, key_spec=key_spec)
    return model


def load_weights(
    model: ConvNet,
    weights: str | os.PathLike,
    *,
    strict: bool = True,
    key_spec: NetSpec | None = None,
    progress: bool = True,
) -> LoadReport:
    """Load ``weights`` (a source tag, a path or a URL) into ``model`` in place.

    ``strict`` (default) refuses a file that leaves any of the model's tensors unset (other than a dropped
    classifier) or holds tensors the model lacks; with ``strict=False`` they are reported and logged.
    """
    if not isinstance(model, ConvNet):
        raise ConfigError(f"load_weights takes a convarch model, got {type(model).__name__}")
    name = _architecture(model)
    if key_spec is None:  # the key maps expect a classifier: give a headless model its default one back
        key_spec = (
            model.spec
            if model.num_classes or not name
            else with_classifier(model.spec, get_entry(name).info.num_classes)
        )
    path, source, label = resolve_weights(name, weights, progress=progress)
    try:
        raw, header = read_state_dict(path)
    except WeightsError as error:
        raise discard_unreadable(path, error) from None
    expected = {key: tensor for key, tensor in model.state_dict().items()}
    key_maps = get_entry(name).key_maps if name else {}
    match = detect_layout(unwrap_keys(raw), expected, key_maps, key_spec, where=label)
    report = LoadReport(label, path, match.layout)

    conv = first_conv(model.spec)
    state, adapted = adapt_in_chans(match.state, conv, model.in_chans)
    if adapted:
        report.adapted.append(f"{conv}.weight")
        report.messages.append(adapted)
    state, pointwise = squeeze_linear(state, key_spec)
    report.adapted += pointwise
    heads = Heads.of(key_spec)
    state, report.dropped, dropped = drop_heads(state, heads, model.num_classes, set(expected))
    if dropped:
        report.messages.append(dropped)
        logger.warning("%s: %s", label, dropped)
    # Tensors the file may leave to a fresh start: a dropped classifier, and auxiliary heads (training only).
    fresh = {key for key in expected if heads.is_classifier_key(key)} if dropped else set()
    aux_missing = {key for key in expected if heads.is_aux_key(key) and key not in state} - fresh
    if aux_missing:
        report.messages.append("the file has no weights for the auxiliary classifiers: they start fresh")
    state.update(_batch_counters(expected, state))
    report.missing = sorted(set(expected) - set(state) - fresh - aux_missing)
    report.unexpected = sorted(set(state) - set(expected))
    _check_keys(report, label, strict)
    _check_shapes(state, expected, label)

    model.load_state_dict(_placed(state, expected), strict=False, assign=True)
    _initialise_the_rest(model)
    model.pretrained_cfg = _pretrained_cfg(model, name, source, header, report)
    for message in report.messages:
        if message != dropped:
            logger.info("%s: %s", label, message)
    return report


def resolve_weights(
    name: str | None, weights: str | os.PathLike, *, progress: bool = True
) -> tuple[Path, WeightSource | None, str]:
    """The local file for ``weights`` (a tag of ``name``, a URL or a path), its source if registered, a label."""
    if not isinstance(weights, str | os.PathLike):
        raise ConfigError(
            f"weights must be a source tag ('imagenet', 'torchvision', 'timm'), a file path or a URL, "
            f"got {type(weights).__name__}"
        )
    text = os.fspath(weights)
    if isinstance(weights, str) and is_url(text):
        return fetch(text, progress=progress), None, text
    if isinstance(weights, str) and "://" in text:  # Path() would fold it into a mangled path ("ftp:/x/y.pth")
        raise WeightsError(
            f"{text}: unsupported URL scheme {text.partition('://')[0]!r}; convarch reads "
            f"{', '.join(scheme + '://' for scheme in URL_SCHEMES)} URLs. Download the file yourself and pass its path."
        )
    if isinstance(weights, str) and name and is_source_tag(name, text):
        source = find_source(name, text)
        return fetch(source.url, sha256=source.sha256, progress=progress), source, f"{name} ({source.tag})"
    path = Path(text).expanduser()
    if path.is_file():
        return path, None, str(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a directory, not a weights file: pass the file inside it")
    # A weights suffix or a directory part means a path; anything else ("torchvision.v3") may be a mistyped tag.
    if path.suffix.lower() in WEIGHTS_SUFFIXES or os.sep in text or "/" in text or not isinstance(weights, str):
        raise WeightsError(f"no weights file at {path}: it does not exist")
    if name:
        try:
            find_source(name, text)  # raises: the model has no registered weights, or these are its tags
        except WeightsError as error:
            raise WeightsError(f"{str(error).rstrip('.')}; no file {str(path)!r} exists either.") from None
    raise WeightsError(
        f"{text!r} is neither a weights file nor a URL, and a model built from a pattern has no registered "
        "weights. Pass a path or a URL."
    )


def local_weights_file(name: str | None, weights: str | os.PathLike) -> Path | None:
    """The local file ``weights`` names (a path, a file:// URL or a tag whose source is one), found as
    ``resolve_weights`` finds it but without downloading; None for remote weights or a missing file."""
    text = os.fspath(weights)
    if isinstance(weights, str) and is_url(text):
        return local_file(text)
    if isinstance(weights, str) and name and is_source_tag(name, text):
        return local_file(find_source(name, text).url)
    path = Path(text).expanduser()
    return path if path.is_file() else None


def _architecture(model: ConvNet) -> str | None:
    """The zoo name the model was created from, if it is registered (its key maps apply)."""
    name = model.pretrained_cfg.get("architecture")
    return name if isinstance(name, str) and is_model(name) and name == name.strip().lower() else None


def _batch_counters(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BatchNorm's ``num_batches_tracked`` is only a training counter; older files lack it."""
    return {
        key: torch.zeros((), dtype=torch.long)
        for key in expected
        if key.endswith(".num_batches_tracked") and key not in state
    }


def _check_keys(report: LoadReport, label: str, strict: bool) -> None:
    if not report.missing and not report.unexpected:
        return
    parts = []
    if report.missing:
        parts.append(f"{len(report.missing)} of the model's tensors are not in the file ({_some(report.missing)})")
    if report.unexpected:
        parts.append(
            f"{len(report.unexpected)} of the file's tensors are not in the model ({_some(report.unexpected)})"
        )
    text = f"{label} (read in the {report.layout} layout): {'; '.join(parts)}"
    if strict:
        raise WeightsError(
            f"{text}. The file is for a differently configured network; check the model name and options."
        )
    report.messages.append(text)
    logger.warning("%s", text)


def _check_shapes(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], label: str) -> None:
    for key, tensor in state.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{label}: shape mismatch for {key}: the file has {tuple(tensor.shape)}, the model "
                f"{tuple(expected[key].shape)}. The weights belong to a differently configured network."
            )


def _placed(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each tensor in the model's dtype and on its device (the CPU for a model built on ``meta``)."""
    placed = {}
    for key, tensor in state.items():
        if key not in expected:
            continue
        target = expected[key]
        device = torch.device("cpu") if target.is_meta else target.device
        dtype = target.dtype if tensor.is_floating_point() and target.is_floating_point() else tensor.dtype
        placed[key] = tensor.to(device=device, dtype=dtype)
    return placed


def _initialise_the_rest(model: ConvNet) -> None:
    """Give every tensor still on ``meta`` (a new head, a non-persistent buffer) its normal initial value."""
    fresh: ConvNet | None = None
    for module_name, module in model.named_modules():
        own = {**dict(module.named_parameters(recurse=False)), **dict(module.named_buffers(recurse=False))}
        if not any(t is not None and t.is_meta for t in own.values()):
            continue
        loaded_params = {n: p for n, p in module._parameters.items() if p is not None and not p.is_meta}
        loaded_buffers = {n: b for n, b in module._buffers.items() if b is not None and not b.is_meta}
        if hasattr(module, "reset_parameters"):
            module.to_empty(device="cpu", recurse=False)
            module.reset_parameters()
        else:  # no initialiser of its own: take the values a fresh build gives (built once, only if needed)
            if fresh is None:
                fresh = ConvNet(model.spec)
            source = fresh.get_submodule(module_name)
            module._parameters.update({n: source._parameters[n] for n in module._parameters})
            module._buffers.update({n: source._buffers[n] for n in module._buffers})
        module._parameters.update(loaded_params)  # keep what the file provided
        module._buffers.update(loaded_buffers)


def _pretrained_cfg(
    model: ConvNet, name: str | None, source: WeightSource | None, header: dict[str, str], report: LoadReport
) -> dict[str, Any]:
    """``model.pretrained_cfg``: the weights' source and the preprocessing they expect."""
    cfg: dict[str, Any] = {"architecture": name} if name else {}
    if source is not None:
        cfg.update(source.to_cfg())
    else:
        cfg.update(_preprocess_for_file(model, name, header, report.layout))
        cfg["layout"] = report.layout
    crop = cfg.get("crop", 224)
    h, w = (crop, crop) if isinstance(crop, int) else crop
    cfg.update({"source": report.source, "file": str(report.file), "input_size": [model.in_chans, h, w],
                "first_conv": first_conv(model.spec), "classifier": "classifier"})  # fmt: skip
    return cfg


def _preprocess_for_file(model: ConvNet, name: str | None, header: dict[str, str], layout: str) -> dict[str, Any]:
    """A plain file does not say how its images were prepared: use what it records, else the best guess."""
    saved = json.loads(header.get("pretrained_cfg") or "{}") if header else {}
    if all(key in saved for key in PREPROCESS_KEYS):
        return {key: saved[key] for key in (*PREPROCESS_KEYS, "crop_pct", "preprocess_source") if key in saved}
    same_layout = [s for s in sources_for(name) if s.layout == layout] if name and layout != OUR_LAYOUT else []
    if same_layout:
        cfg = same_layout[0].preprocess.to_cfg()
        cfg["preprocess_source"] = f"assumed from {same_layout[0].tag} (the file does not say)"
        return cfg
    spec_input = model.spec.input
    return default_cfg((model.in_chans, spec_input.h, spec_input.w) if spec_input else (model.in_chans, 224, 224))


def _some(keys: list[str]) -> str:
    more = f", ... {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(keys[:SHOWN_KEYS]) + more
