"""A saved model computes, once loaded, exactly what it computed before it was saved: bit for bit.

safetensors hands out views into the file at unaligned offsets, and kernels take other paths for unaligned
data; ``read_tensors`` copies each tensor into memory torch allocates, so every family, a pattern net and
``create_model(weights=...)`` reproduce the saved outputs exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.family_samples import small_zoo_model, smallest_per_family

import convarch as ca
from convarch.spec.walk import input_volume
from convarch.weights.checkpoint import read_tensors

FAMILIES = smallest_per_family()


def _outputs(model: torch.nn.Module, size: tuple[int, int, int]) -> torch.Tensor:
    x = torch.randn(3, *size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_loads_bit_for_bit(family: str, tmp_path: Path) -> None:
    model = small_zoo_model(FAMILIES[family])
    size = input_volume(model.spec).chw
    before = _outputs(model, size)
    path = ca.save(model, tmp_path / "m.safetensors")
    assert torch.equal(_outputs(ca.load(path), size), before)


def test_a_pattern_net_and_create_model_from_a_file_load_bit_for_bit(tmp_path: Path) -> None:
    net = ca.build("INPUT(28x28x1) -> [CONV3-8 -> BN -> RELU -> POOL2]*2 -> FC33 -> RELU -> FC10")
    before = _outputs(net, (1, 28, 28))
    assert torch.equal(_outputs(ca.load(ca.save(net, tmp_path / "p.safetensors")), (1, 28, 28)), before)

    zoo = small_zoo_model("resnet20", num_classes=10)
    size = input_volume(zoo.spec).chw
    path = ca.save(zoo, tmp_path / "r.safetensors")
    assert torch.equal(_outputs(ca.create_model("resnet20", weights=str(path)), size), _outputs(zoo, size))


def test_loaded_tensors_own_aligned_memory(tmp_path: Path) -> None:
    path = ca.save(small_zoo_model("lenet5"), tmp_path / "l.safetensors")
    tensors = read_tensors(path)
    assert all(t.data_ptr() % 64 == 0 for t in tensors.values())
    path.unlink()  # nothing still maps the file: the tensors live on without it
    assert all(bool(torch.isfinite(t).all()) for t in tensors.values())
