"""Read a weights file safely: safetensors, or a PyTorch pickle with ``weights_only=True``; nothing else.

A pickle can run arbitrary code when it is loaded. ``torch.load(weights_only=True)`` only rebuilds tensors,
containers and numbers, and refuses every other object before constructing it, so a crafted file fails
without side effects. Any other format (``.pkl``, ``.npz``, ``.h5``, ...) is refused outright.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from convarch.errors import WeightsError
from convarch.weights.checkpoint import file_kind, read_header, read_tensors

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
WEIGHTS_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES
# Checkpoints often wrap the state dict: {"state_dict": ...} (Lightning), {"model": ...} (torchvision's
# reference scripts, DeiT), {"model_state_dict": ...}. One level is unwrapped, in this order.
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module", "net")


def file_format(path: Path) -> str:
    """``"safetensors"`` or ``"pickle"``, from the suffix; a file without one (a download from a URL that
    names none) by its first bytes. Any other suffix is refused."""
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return "safetensors"
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if not suffix:
        with open(path, "rb") as handle:
            head = handle.read(9)
        if head[:2] == b"PK":  # torch.save's zip container
            return "pickle"
        if len(head) == 9 and head[8:9] == b"{":  # safetensors: an 8-byte header length, then JSON
            return "safetensors"
    raise WeightsError(
        f"{path}: unsupported weights format {suffix or '(no suffix)'!r}. convarch reads .safetensors and PyTorch "
        f"{'/'.join(PICKLE_SUFFIXES)} files (loaded with weights_only=True); convert other formats first."
    )


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors of a weights file and its metadata header (empty for pickles), on the CPU."""
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a directory, not a weights file: pass the file inside it")
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}: it does not exist")
    if file_format(path) == "safetensors":
        if file_kind(path) == "pickle":
            raise WeightsError(
                f"{path} is a PyTorch file (torch.save) with a .safetensors name, not safetensors: rename it to "
                f"{path.with_suffix('.pth').name} and pass that"
            )
        header = read_header(path)
        return read_tensors(path), header
    return read_pickle(path), {}


def read_pickle(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in a torch.save file, loaded with ``weights_only=True``; anything else is refused."""
    if file_kind(path) != "pickle":
        raise WeightsError(
            f"{path} is not a PyTorch file: its bytes are not what torch.save writes, so it is unreadable, "
            "corrupt or in another format. Check the path, or download or export the weights again."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "detected pickle protocol N": noise for the user
            with path.open("rb") as handle:  # a handle: torch.load reads a path named .safetensors as safetensors
                loaded = torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" in str(error).lower():
            found = re.search(r"GLOBAL ([\w.]+)", str(error))
            held = f"a pickled {found.group(1)} object" if found else "pickled Python objects other than tensors"
            raise WeightsError(
                f"refused to load {path}: it holds {held} (a whole model saved with torch.save(model) is one), "
                "not a state dict, and unpickling it could run code, so only weights_only=True loading is "
                "allowed. If you trust the file, load it yourself and save its weights: "
                "torch.save(model.state_dict(), 'weights.pth'), or ca.save(model, 'model.safetensors') for a "
                "convarch model."
            ) from None
        raise WeightsError(f"{path} is not a readable PyTorch file ({error}); it may be truncated or corrupt") from None
    except Exception as error:  # torch.load reports damaged files with many exception types
        raise WeightsError(
            f"{path} is not a readable PyTorch file ({type(error).__name__}: {str(error)[:120]}); "
            "it may be truncated or corrupt"
        ) from None
    return _state_dict_in(loaded, path)


def _state_dict_in(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a loaded checkpoint, unwrapping one level of the usual containers."""
    if isinstance(loaded, Mapping) and not _all_tensors(loaded):
        for key in WRAPPER_KEYS:
            inner = loaded.get(key)
            if isinstance(inner, Mapping) and inner and _all_tensors(inner):
                return dict(inner)
    if isinstance(loaded, Mapping) and loaded and _all_tensors(loaded):
        return dict(loaded)
    raise WeightsError(
        f"{path} holds no state dict (a mapping of names to tensors): found {type(loaded).__name__}"
        + (f" with keys {list(loaded)[:6]}" if isinstance(loaded, Mapping) else "")
        + ". Save model.state_dict(), not the model object."
    )


def _all_tensors(mapping: Mapping) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in mapping.items())
