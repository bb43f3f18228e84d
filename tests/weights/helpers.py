"""Helpers shared by the weights and CLI tests: local sources, file listings, digests."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch

from convarch.weights import sources as sources_module
from convarch.weights.sources import Preprocess, WeightSource, sources_for


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def randomise_batch_norm(model: torch.nn.Module) -> None:
    """Non-trivial running statistics, so that a mix-up of BN tensors would show in the outputs."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)


def serve_locally(
    monkeypatch: pytest.MonkeyPatch, model: str, path: Path, *, sha256: str | None = "prefix"
) -> WeightSource:
    """Point ``model``'s default source at ``path`` (a file:// URL); ``"prefix"`` records the file's real
    SHA-256 prefix, torchvision-style. The other facts of the registered source are kept."""
    digest = sha256_of(path)
    recorded = digest[:8] if sha256 == "prefix" else sha256
    registered = sources_for(model)
    if registered:
        source = dataclasses.replace(registered[0], url=path.as_uri(), sha256=recorded)
    else:
        source = WeightSource(model, "local", path.as_uri(), "convarch", model, Preprocess(crop=32, resize=36),
                              sha256=recorded, num_classes=10, aliases=("test",))  # fmt: skip
    monkeypatch.setitem(sources_module._SOURCES, model, [source, *registered[1:]])
    return source
