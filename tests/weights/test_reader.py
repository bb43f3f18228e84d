"""Safe reading: a malicious pickle is refused without running, damaged files fail clearly, wrappers unwrap."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import convarch as ca
from convarch.weights.layout import unwrap_keys
from convarch.weights.reader import read_state_dict


class WritesAFile:
    """Unpickling this calls open(marker, "w"): a stand-in for any code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("suffix", [".pth", ".pt"])
def test_a_malicious_pickle_is_refused_and_does_not_run(tmp_path: Path, suffix: str) -> None:
    # The crafted file really is malicious: plain pickle.load runs it.
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(WritesAFile(probe)))
    assert probe.exists()

    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    torch.save({"features.conv1.weight": torch.zeros(1), "payload": WritesAFile(marker)}, path)
    with pytest.raises(ca.WeightsError, match="refused to load"):
        ca.create_model("lenet5", weights=str(path))
    assert not marker.exists()


def test_truncated_files_are_refused(tmp_path: Path) -> None:
    model = ca.create_model("lenet5")
    for suffix, write in ((".safetensors", lambda p: save_file(model.state_dict(), str(p))),
                          (".pth", lambda p: torch.save(model.state_dict(), p))):  # fmt: skip
        path = tmp_path / f"lenet{suffix}"
        write(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.raises(ca.WeightsError, match="truncated or corrupt"):
            ca.create_model("lenet5", weights=str(path))


def test_garbage_and_unsupported_formats(tmp_path: Path) -> None:
    (tmp_path / "noise.pth").write_bytes(b"this is not a checkpoint")
    with pytest.raises(ca.WeightsError, match="is not a PyTorch file.*unreadable, corrupt"):
        read_state_dict(tmp_path / "noise.pth")
    (tmp_path / "weights.npz").write_bytes(b"PK-not-really")
    with pytest.raises(ca.WeightsError, match="unsupported weights format '.npz'"):
        read_state_dict(tmp_path / "weights.npz")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "no_tensors.pth")
    with pytest.raises(ca.WeightsError, match="holds no state dict"):
        read_state_dict(tmp_path / "no_tensors.pth")


def test_each_wrong_file_is_named_for_what_it_is(tmp_path: Path) -> None:
    noise = tmp_path / "model-2025.pth"
    noise.write_bytes(bytes(range(256)) * 16)  # not a pickle at all: no talk of Python objects or trust
    with pytest.raises(ca.WeightsError, match=r"model-2025.pth is not a PyTorch file.*corrupt") as caught:
        ca.create_model("resnet18", weights=str(noise))
    assert "Python objects" not in str(caught.value)
    misnamed = tmp_path / "x.safetensors"
    torch.save(ca.create_model("lenet5").state_dict(), misnamed)
    with pytest.raises(ca.WeightsError, match=r"x.safetensors is a PyTorch file \(torch.save\) with a .safetensors "
                       r"name.*rename it to x.pth"):  # fmt: skip
        ca.create_model("lenet5", weights=str(misnamed))
    with pytest.raises(ca.WeightsError, match=r"rename it to x.pth.*weights='x.pth'"):
        ca.load(misnamed)
    torch.save(ca.create_model("lenet5"), tmp_path / "whole.pt")  # a whole pickled module, not a state dict
    for call in (
        lambda: ca.load(tmp_path / "whole.pt"),
        lambda: ca.create_model("lenet5", weights=str(tmp_path / "whole.pt")),
    ):
        with pytest.raises(ca.WeightsError, match=r"holds a pickled convarch.nn.model.ConvNet object.*could run code"
                           r".*torch.save\(model.state_dict\(\)"):  # fmt: skip
            call()
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    with pytest.raises(ca.WeightsError, match=r"x.png is not a checkpoint: it is a PNG image"):
        ca.load(tmp_path / "x.png")


def test_missing_path_and_unknown_text(tmp_path: Path) -> None:
    with pytest.raises(ca.WeightsError, match="no weights file at"):
        ca.create_model("lenet5", weights=str(tmp_path / "absent.safetensors"))
    with pytest.raises(ca.WeightsError, match="lenet5 has no registered pretrained weights"):
        ca.create_model("lenet5", weights="imagenet")
    with pytest.raises(ca.WeightsError, match="no weights tagged 'timm'.*torchvision.v1"):
        ca.create_model("alexnet", weights="timm")


def test_a_mistyped_tag_a_foreign_url_and_a_directory_are_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(ca.WeightsError, match=r"no weights tagged 'torchvision.v3'; its tags are: imagenet, torch"):
        ca.create_model("alexnet", weights="torchvision.v3")  # a dotted tag is not taken for a file name
    with pytest.raises(ca.WeightsError, match=r"ftp://x/y.pth: unsupported URL scheme 'ftp'.*http://, https://"):
        ca.create_model("alexnet", weights="ftp://x/y.pth")
    with pytest.raises(ca.WeightsError, match="is a directory, not a weights file"):
        ca.create_model("alexnet", weights=str(tmp_path) + "/")
    with pytest.raises(ca.WeightsError, match="is a directory, not a weights file"):
        ca.create_model("alexnet", weights=tmp_path)


def test_checkpoint_wrappers_and_ddp_prefixes_are_undone(tmp_path: Path) -> None:
    state = {"features.conv1.weight": torch.randn(2, 1, 3, 3)}
    torch.save({"epoch": 7, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "ckpt.pt")
    loaded, header = read_state_dict(tmp_path / "ckpt.pt")
    assert header == {}
    unwrapped = unwrap_keys(loaded)
    assert list(unwrapped) == ["features.conv1.weight"]
    assert torch.equal(unwrapped["features.conv1.weight"], state["features.conv1.weight"])


def test_legacy_densenet_names_are_repaired() -> None:
    layer = "features.denseblock1.denselayer1"
    old = {f"{layer}.norm.1.weight": torch.zeros(1), f"{layer}.conv.2.weight": torch.zeros(1),
           "features.norm5.weight": torch.zeros(1)}  # fmt: skip
    assert sorted(unwrap_keys(old)) == [
        "features.denseblock1.denselayer1.conv2.weight",
        "features.denseblock1.denselayer1.norm1.weight",
        "features.norm5.weight",
    ]


def test_suffixless_cached_files_are_recognised_by_content(tmp_path: Path) -> None:
    tensors = {"w": torch.arange(3.0)}
    save_file(tensors, str(tmp_path / "blob_a"))
    torch.save(tensors, tmp_path / "blob_b")
    for name in ("blob_a", "blob_b"):
        loaded, _ = read_state_dict(tmp_path / name)
        assert torch.equal(loaded["w"], tensors["w"])


def test_a_directory_is_named_as_one_not_as_missing(tmp_path) -> None:
    with pytest.raises(ca.WeightsError, match="is a directory, not a weights file"):
        read_state_dict(tmp_path)
