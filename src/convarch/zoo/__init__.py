"""The model zoo: one file per family, and the registry that names them."""

from convarch.zoo.info import Figure, ModelInfo, Paper
from convarch.zoo.registry import (
    ModelEntry,
    get_entry,
    list_models,
    model_info,
    model_spec,
    register,
    spec_of,
)

__all__ = [
    "Figure",
    "ModelEntry",
    "ModelInfo",
    "Paper",
    "get_entry",
    "list_models",
    "model_info",
    "model_spec",
    "register",
    "spec_of",
]
