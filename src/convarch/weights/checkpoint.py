"""Self-describing checkpoints: safetensors weights plus a header that says how to rebuild the model.

``save(model, path)`` writes the state dict as safetensors and puts the spec (lossless JSON and, where it
has one, the pattern text), the classes, the input channels, the class names and the preprocessing in the
file's metadata header. ``load(path)`` rebuilds the model from that header alone, so a checkpoint never
needs the caller to name its architecture. Nothing is unpickled: safetensors holds only tensors.

``read_header`` checks the header's own fields (format version, classes, class names, preprocessing) and
``load`` checks them against the tensors, so a damaged or hand-edited header is a WeightsError naming the
field, not a JSON traceback or an IndexError in the middle of a prediction.
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
from convarch.weights.sources import INTERPOLATIONS

FORMAT = "convarch"
FORMAT_VERSION = "1"
PREPROCESS_REQUIRED = ("resize", "crop", "mean", "std")  # what a recorded preprocessing cannot do without


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
    advice: str | None = None,
    then: str | None = None,
) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``) atomically, with the header ``load`` needs.

    A write that fails (full disk, read-only directory) raises ``error`` naming the file, ``advice`` (by
    default what fits the reason) and ``then``, the caller's next step.
    """
    from safetensors.torch import save_file

    if not isinstance(model, ConvNet):
        raise ConfigError(
            f"save() writes convarch models; got {type(model).__name__}. For another module, save its "
            "state_dict with safetensors.torch.save_file."
        )
    if class_names is not None:
        if isinstance(class_names, str):  # its characters would become the class names
            raise ConfigError(f"class_names takes a list of names, one per class, got the string {class_names!r}")
        if len(class_names) != model.num_classes:
            raise ConfigError(f"{len(class_names)} class names for a {model.num_classes}-class model")
        model.class_names = list(class_names)
    path = Path(path)
    state = {key: value.detach().contiguous().cpu() for key, value in model.state_dict().items()}
    check_state_matches_spec(model, state)
    atomic_write(path, lambda temp: save_file(state, temp, metadata=header_of(model, extra)), error=error,
                 advice=advice, then=then)  # fmt: skip
    return path


SPEC_FIX = ("a module was changed without changing model.spec, which is what load rebuilds. Make the change "
            "through the spec: ca.create_model(name, num_classes=..., in_chans=...), model.reset_classifier(n), "
            "or ca.build on edited pattern text")  # fmt: skip


def check_state_matches_spec(model: ConvNet, state: dict[str, torch.Tensor]) -> None:
    """Refuse a model that the header's spec cannot rebuild, naming the way to make the change.

    ``load`` (and the trainer's checkpoints) build the network from ``model.spec``, so a module swapped in by
    hand must be caught here. Two checks against the spec built on the meta device (nothing is allocated):
    every module's type and settings by path (``model.features.relu1 = nn.Tanh()`` has no weights to
    differ, but ``load`` would give ReLU back and other outputs), then the weights' shapes
    (``model.classifier = nn.Linear(512, 3)``), whose error names ``reset_classifier``.
    """
    with torch.device("meta"):
        rebuilt = ConvNet(model.spec)
    _check_modules_match(model, rebuilt)
    expected = {key: tuple(t.shape) for key, t in rebuilt.state_dict().items()}
    actual = {key: tuple(t.shape) for key, t in state.items()}
    if actual == expected:
        return
    differ = [f"{key} is {actual[key]} but the spec gives {expected[key]}"
              for key in actual if key in expected and actual[key] != expected[key]]  # fmt: skip
    differ += [f"{key} is not in the spec" for key in actual if key not in expected]
    differ += [f"the spec's {key} is missing" for key in expected if key not in actual]
    wrong = {key for key in actual.keys() | expected.keys() if actual.get(key) != expected.get(key)}
    head = actual.get("classifier.weight")
    if head and all(key.startswith("classifier.") for key in wrong):
        fix = (f"model.classifier was replaced without changing model.spec. Call model.reset_classifier({head[0]}) "
               "instead: it edits the spec and builds the new head (copy your head's weights into it if it has "
               f"any), or build the model with num_classes={head[0]}")  # fmt: skip
    else:
        fix = SPEC_FIX
    shown = "; ".join(differ[:3]) + (f"; and {len(differ) - 3} more" if len(differ) > 3 else "")
    raise ConfigError(f"the model's weights do not match its spec ({shown}), so ca.load could not rebuild it from "
                      f"a file: {fix}.")  # fmt: skip


def _check_modules_match(model: ConvNet, rebuilt: ConvNet) -> None:
    """Refuse a module whose type or settings (its ``extra_repr``: kernel, stride, padding, ``p``...) differ
    from the one the spec builds at the same path. A swapped classifier is left to the shape check, which
    names ``reset_classifier``."""
    built = {name: _described(module) for name, module in rebuilt.named_modules()}
    held = {name: _described(module) for name, module in model.named_modules()}
    differ = [f"{name or 'the model'} is {held[name]} but the spec builds {built[name]}"
              for name in held if name in built and held[name] != built[name]]  # fmt: skip
    differ += [f"{name} ({held[name]}) is not in the spec" for name in held if name not in built]
    differ += [f"the spec's {name} ({built[name]}) is missing" for name in built if name not in held]
    differ = [line for line in differ if not line.startswith("classifier")]
    if differ:
        shown = "; ".join(differ[:3]) + (f"; and {len(differ) - 3} more" if len(differ) > 3 else "")
        raise ConfigError(f"the model's modules do not match its spec ({shown}), so ca.load would rebuild a "
                          f"different network from a file: {SPEC_FIX}.")  # fmt: skip


def _described(module: torch.nn.Module) -> str:
    settings = module.extra_repr()
    return f"{type(module).__name__}({settings})"


def read_header(path: str | os.PathLike) -> dict[str, str]:
    """The metadata header of a safetensors file, with clear errors for a missing or corrupt file.

    A convarch header's fields are checked (see ``check_header``); other files' metadata is returned as is.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a directory, not a checkpoint: pass the .safetensors file inside it")
    if not path.is_file():
        raise WeightsError(f"no checkpoint at {path}: the file does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as error:
        raise _not_safetensors(path, error) from None
    if header.get("format") == FORMAT:
        check_header(header, path)
    return header


def file_kind(path: Path) -> str | None:
    """What the file's first bytes say it is: ``"pickle"`` (torch.save writes a zip archive, or before
    PyTorch 1.6 a bare pickle), ``"safetensors"`` (an 8-byte header length, then JSON), an image format,
    or None for anything else."""
    try:
        with path.open("rb") as handle:
            start = handle.read(9)
    except OSError:
        return None
    if start[:4] == b"PK\x03\x04" or start[:1] == b"\x80":
        return "pickle"
    if len(start) == 9 and start[8:9] == b"{":
        return "safetensors"
    images = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"BM": "a BMP image"}
    return next((kind for magic, kind in images.items() if start.startswith(magic)), None)


def _not_safetensors(path: Path, error: Exception) -> WeightsError:
    """Why a file that safetensors cannot open is not a checkpoint, by what its bytes say it is."""
    kind = file_kind(path)
    if kind == "safetensors":
        return WeightsError(f"{path} is not a readable safetensors file ({error}); it may be truncated or corrupt")
    if kind == "pickle":
        from convarch.weights.reader import read_pickle  # reader imports this module

        read_pickle(path)  # a pickled model object, or a damaged file, is refused there with its own reason
        renamed = path.with_suffix(".pth").name
        named = (f" despite its .safetensors name (rename it to {renamed})"
                 if path.suffix.lower() == ".safetensors" else "")  # fmt: skip
        return WeightsError(
            f"{path} is a PyTorch file (torch.save){named}, not a convarch checkpoint: a plain state dict does not "
            f"say which network it holds. Load it into a model you build: ca.create_model(name or pattern, "
            f"weights={renamed if named else path.name!r})."
        )
    what = f"it is {kind}" if kind else "it is neither a safetensors nor a PyTorch file, or it is corrupt"
    return WeightsError(
        f"{path} is not a checkpoint: {what}. ca.load reads the .safetensors files that ca.save and convarch "
        "export write."
    )


def check_header(header: dict[str, str], path: str | os.PathLike) -> None:
    """Refuse a convarch header written by a newer version, or with a field that does not parse as ``save``
    writes it; the error names the field and the file."""
    version = header.get("format_version", FORMAT_VERSION)
    if not version.isdigit():
        raise _damaged(path, "format_version", f"is {version!r}, not a version number")
    if int(version) > int(FORMAT_VERSION):
        raise WeightsError(
            f"{path} was written by a newer convarch (checkpoint format {version}; this version reads format "
            f"{FORMAT_VERSION} and older). Upgrade convarch to load it: pip install --upgrade convarch"
        )
    counts = {key: _count(header, key, path) for key in ("num_classes", "in_chans")}
    names = header_json(header, "class_names", path)
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise _damaged(path, "class_names", f"is {_short(names)}, not a list of names")
        if counts["num_classes"] is not None and len(names) != counts["num_classes"]:
            raise _damaged(path, "class_names", f"lists {len(names)} names for {counts['num_classes']} classes")
    cfg = header_json(header, "pretrained_cfg", path)
    if cfg is not None and not isinstance(cfg, dict):
        raise _damaged(path, "pretrained_cfg", f"is {_short(cfg)}, not a JSON object")
    _check_preprocess(cfg or {}, path)


def header_json(header: dict[str, str], key: str, path: str | os.PathLike) -> Any:
    """A header field that holds JSON, parsed; None when the field is absent or empty."""
    text = header.get(key)
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _damaged(path, key, f"is not valid JSON ({error})") from None


def _count(header: dict[str, str], key: str, path: str | os.PathLike) -> int | None:
    text = header.get(key)
    if text is None:
        return None
    if not text.isdigit():
        raise _damaged(path, key, f"is {text!r}, not a count")
    return int(text)


def _check_preprocess(cfg: dict[str, Any], path: str | os.PathLike) -> None:
    """A recorded preprocessing is whole and well-typed, or absent: half of one would pass for "none"."""
    recorded = [key for key in (*PREPROCESS_REQUIRED, "interpolation") if key in cfg]
    if not recorded:
        return
    missing = [key for key in PREPROCESS_REQUIRED if key not in cfg]
    if missing:
        raise _damaged(path, "pretrained_cfg", f"records {', '.join(recorded)} but not {', '.join(missing)}")
    crop = cfg["crop"]
    crop_sides = crop if isinstance(crop, list) and len(crop) == 2 else [crop]
    problems = {
        "resize": not _positive_int(cfg["resize"]),
        "crop": not all(_positive_int(side) for side in crop_sides),
        "mean": not _numbers(cfg["mean"]),
        "std": not _numbers(cfg["std"]) or any(value <= 0 for value in cfg["std"]),
        "interpolation": cfg.get("interpolation", "bilinear") not in INTERPOLATIONS,
    }
    bad = [key for key, wrong in problems.items() if wrong]
    if not bad and len(cfg["mean"]) != len(cfg["std"]):
        bad = ["mean", "std"]
    if bad:
        shown = ", ".join(f"{key}={_short(cfg.get(key))}" for key in bad)
        raise _damaged(path, "pretrained_cfg", f"has an unusable preprocessing ({shown})")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _numbers(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _damaged(path: str | os.PathLike, field: str, problem: str) -> WeightsError:
    return WeightsError(
        f"{path}: the checkpoint header's {field} {problem}. The file is damaged or was edited; save the model "
        "again (ca.save or convarch export) from where it came from."
    )


def read_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, each in memory of its own that torch allocated.

    safetensors hands out views into the file's mapped bytes, at whatever offset each tensor starts (often
    not 64-byte aligned). Kernels pick other code paths for unaligned data, so a model holding such views
    computes results that differ from the saved model's in the last bits (~1e-7). A copy made by torch's
    allocator is aligned as the saved model's tensors were, and a loaded model computes bit for bit what
    it computed before it was saved. It also releases the mapping, so the file can be replaced afterwards.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return {key: tensor.clone() for key, tensor in load_file(str(path)).items()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise WeightsError(
            f"{path} could not be read as safetensors ({error}); it may be truncated or corrupt"
        ) from None


def load(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> ConvNet:
    """Rebuild the model saved by ``save`` at ``path``; the caller does not name the architecture.

    The model is float32 whatever precision the file stores (a half-precision export loads as float32, so
    float32 inputs work); call ``.half()`` or ``.to(dtype)`` on the result for another precision.
    """
    header = read_header(path)
    if header.get("format") != FORMAT or "spec" not in header:
        raise WeightsError(
            f"{path} has no convarch header, so it does not say which network it holds. Load it into a model "
            "you build yourself: ca.create_model(name, weights=path)."
        )
    return model_from_header(header, read_tensors(path), path).to(device)


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


def model_from_header(header: dict[str, str], state: dict[str, torch.Tensor], path: str | os.PathLike) -> ConvNet:
    """The float32 model a convarch header describes, holding ``state``; ``path`` names the file in errors.

    ``load`` uses it for checkpoints, and the trainer for its resume state, which carries the same header.
    """
    try:
        spec = spec_from_json(header["spec"])
        with torch.device("meta"):
            model = ConvNet(spec)
    except ConvarchError as error:
        raise WeightsError(f"{path}: its header does not describe a network that builds: {error}") from None
    for key, value in (("num_classes", model.num_classes), ("in_chans", model.in_chans)):
        if key in header and int(header[key]) != value:
            raise _damaged(path, key, f"is {header[key]} but the network it describes has {value}")
    expected = model.state_dict()
    for key, tensor in state.items():
        if key in expected and expected[key].is_floating_point() and not tensor.is_floating_point():
            raise WeightsError(
                f"{path}: {key} holds {str(tensor.dtype).removeprefix('torch.')} values where the network needs "
                "floating point; the file is damaged or was edited"
            )
        if key in expected and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise WeightsError(
                f"{path}: {key} holds NaN or infinite values, so every prediction would be NaN; the weights "
                "diverged or the file is damaged. Use an earlier checkpoint."
            )
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{path} does not match the network its header describes: {key} has shape {tuple(tensor.shape)} "
                f"in the file but {tuple(expected[key].shape)} in the network; the file is damaged or was edited"
            )
    # assign=True keeps the file's tensors (no copy into a meta model) and so their dtype: cast floats to the
    # model's float32 first, or a float16 file gives a half model that float32 inputs cannot run through.
    state = {
        key: tensor.to(expected[key].dtype)
        if key in expected and tensor.is_floating_point() and expected[key].is_floating_point()
        else tensor
        for key, tensor in state.items()
    }
    result = model.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"{path} does not match the network its header describes: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    materialise_buffers(model, spec)
    model.pretrained_cfg = header_json(header, "pretrained_cfg", path) or {}
    model.class_names = header_json(header, "class_names", path)
    if model.class_names is not None and len(model.class_names) != model.num_classes:
        raise _damaged(path, "class_names", f"lists {len(model.class_names)} names for {model.num_classes} classes")
    return model
