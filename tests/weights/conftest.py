"""Weights tests make their own sources: random-weight models saved to local files, served by file:// URLs
or a local HTTP server. Nothing touches the network or the user's real cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from tests.weights.helpers import Server, running_server


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty CONVARCH_HOME for each test, online."""
    home = tmp_path / "convarch-home"
    monkeypatch.setenv("CONVARCH_HOME", str(home))
    monkeypatch.delenv("CONVARCH_OFFLINE", raising=False)
    return home


@pytest.fixture(scope="session")
def alexnet_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    """torchvision's AlexNet with random weights, saved as torchvision saves its files (a .pth state dict)."""
    torch.manual_seed(1)
    model = torchvision.models.alexnet().eval()
    path = tmp_path_factory.mktemp("alexnet") / "alexnet-random.pth"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture
def server() -> Iterator[Server]:
    """A local HTTP server (see ``helpers.Server``): what the cache keeps, a file:// URL is read in place."""
    with running_server() as served:
        yield served
