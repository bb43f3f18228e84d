"""ca.save / ca.load: a checkpoint describes itself, round-trips exactly, and fails clearly when damaged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import convarch as ca


def test_zoo_model_round_trip(tmp_path: Path) -> None:
    model = ca.create_model("lenet5_paper").eval()
    path = ca.save(model, tmp_path / "lenet.safetensors", class_names=[str(d) for d in range(10)])
    loaded = ca.load(path).eval()
    x = torch.randn(3, 1, 32, 32)
    assert torch.equal(loaded(x), model(x))
    assert loaded.spec == model.spec and loaded.class_names == [str(d) for d in range(10)]
    assert loaded.pretrained_cfg["architecture"] == "lenet5_paper"


def test_pattern_model_round_trip(tmp_path: Path) -> None:
    model = ca.build("INPUT(16x16x3) -> [CONV3-8 -> BN -> RELU -> POOL2]*2 -> FC5").eval()
    loaded = ca.load(ca.save(model, tmp_path / "net.safetensors")).eval()
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(loaded(x), model(x))


def test_missing_directory_and_file(tmp_path: Path) -> None:
    model = ca.create_model("lenet5")
    with pytest.raises(ca.WeightsError, match="does not exist; create it first"):
        ca.save(model, tmp_path / "nope" / "m.safetensors")
    with pytest.raises(ca.WeightsError, match="does not exist"):
        ca.load(tmp_path / "absent.safetensors")


def test_truncated_file_is_refused_and_nothing_partial_is_left(tmp_path: Path) -> None:
    path = ca.save(ca.create_model("lenet5"), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ca.WeightsError, match="truncated or corrupt"):
        ca.load(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_a_plain_state_dict_file_is_not_a_convarch_checkpoint(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ca.WeightsError, match="no convarch header"):
        ca.load(tmp_path / "plain.safetensors")


def test_tensors_that_do_not_match_the_header_are_a_weights_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from convarch.weights.checkpoint import header_of

    five = ca.build("INPUT(8x8x3) -> CONV3-4 -> RELU -> GAP -> FC5")
    seven = ca.build("INPUT(8x8x3) -> CONV3-4 -> RELU -> GAP -> FC7")
    path = tmp_path / "edited.safetensors"
    save_file({k: v.contiguous() for k, v in five.state_dict().items()}, str(path), metadata=header_of(seven))
    with pytest.raises(ca.WeightsError, match=r"classifier\.(weight|bias) has shape \(5(, 4)?,?\) in the file but \(7"):
        ca.load(path)
