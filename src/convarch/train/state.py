"""Training state in a safe format: tensors for safetensors, everything else as JSON. Nothing is pickled.

``flatten`` walks a nested state (an optimizer's ``state_dict``, a scaler's, RNG states, the run's history)
and takes every tensor out under a path-like key; what is left (numbers, strings, lists, dicts with int or
str keys, tuples) is plain JSON. ``unflatten`` puts the two back together exactly: dict keys keep their
type (an optimizer's state is keyed by int) and tuples stay tuples (Adam's ``betas``).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from convarch.errors import ConfigError

TENSOR, TUPLE, DICT = "__tensor__", "__tuple__", "__dict__"


def flatten(state: Any, prefix: str) -> tuple[dict[str, torch.Tensor], Any]:
    """``(tensors, structure)``: the tensors keyed ``prefix/...`` and a JSON structure that refers to them."""
    tensors: dict[str, torch.Tensor] = {}

    def encode(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            key = f"{prefix}{path}"
            tensors[key] = value.detach().cpu().clone().contiguous()  # a clone: safetensors refuses shared storage
            return {TENSOR: key}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if not isinstance(k, str | int) or isinstance(k, bool):
                    raise ConfigError(f"cannot store a state key of type {type(k).__name__} at {prefix}{path}")
                items.append([k, encode(v, f"{path}/{k}")])
            return {DICT: items}
        if isinstance(value, tuple):
            return {TUPLE: [encode(v, f"{path}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, f"{path}/{i}") for i, v in enumerate(value)]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise ConfigError(
            f"cannot store a {type(value).__name__} at {prefix}{path} safely (only tensors, numbers, strings, "
            "lists and dicts are kept, never pickles)"
        )

    return tensors, encode(state, "")


def unflatten(structure: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(structure, dict):
        if TENSOR in structure:
            return tensors[structure[TENSOR]]
        if TUPLE in structure:
            return tuple(unflatten(v, tensors) for v in structure[TUPLE])
        if DICT in structure:
            return {k: unflatten(v, tensors) for k, v in structure[DICT]}
        raise ConfigError(f"unexpected entry in a training state: {sorted(structure)}")
    if isinstance(structure, list):
        return [unflatten(v, tensors) for v in structure]
    return structure


def capture_rng() -> dict[str, Any]:
    """Every random stream a training step may draw from: torch (CPU and each GPU), NumPy and Python."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": _python_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].to(torch.uint8))
    numpy = state["numpy"]
    np.random.set_state(
        (numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"], numpy["has_gauss"], numpy["cached"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in state["cuda"]])


def _python_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]
