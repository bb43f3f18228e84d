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


def rewritten(path: Path, out: Path, *, dtype: torch.dtype | None = None, **fields: str | None) -> Path:
    """A copy of the checkpoint at ``path`` with header fields replaced (None drops one), floats in ``dtype``."""
    from safetensors.torch import save_file

    from convarch.weights.checkpoint import read_header, read_tensors

    header = {**read_header(path), **fields}
    tensors = {
        k: v.to(dtype) if dtype is not None and v.is_floating_point() else v for k, v in read_tensors(path).items()
    }
    save_file(tensors, str(out), metadata={k: v for k, v in header.items() if v is not None})
    return out


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model = ca.create_model("lenet5", weights=None)
    model.pretrained_cfg.update({"resize": 36, "crop": 32, "mean": [0.5], "std": [0.25], "interpolation": "bilinear"})
    return ca.save(model, tmp_path / "real.safetensors", class_names=[f"c{i}" for i in range(10)])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"class_names": "['a', 'b'"}, r"class_names is not valid JSON"),
        ({"class_names": '["a", "b", "c"]'}, r"class_names lists 3 names for 10 classes"),
        ({"class_names": '{"a": 1}'}, r"class_names is \{\"a\": 1\}, not a list of names"),
        ({"class_names": '["a", "b", "c"]', "num_classes": None}, r"class_names lists 3 names for 10 classes"),
        ({"num_classes": "3", "class_names": "null"}, r"num_classes is 3 but the network it describes has 10"),
        ({"num_classes": "ten"}, r"num_classes is 'ten', not a count"),
        ({"in_chans": "3"}, r"in_chans is 3 but the network it describes has 1"),
        ({"format_version": "v1"}, r"format_version is 'v1', not a version number"),
        ({"pretrained_cfg": "{not json"}, r"pretrained_cfg is not valid JSON"),
        ({"pretrained_cfg": "[1, 2]"}, r"pretrained_cfg is \[1, 2\], not a JSON object"),
        ({"pretrained_cfg": '{"resize": 36, "crop": 32}'}, r"pretrained_cfg records resize, crop but not mean, std"),
        (
            {"pretrained_cfg": '{"resize": 36, "crop": 32, "mean": [0.5], "std": "0.25"}'},
            r"pretrained_cfg has an unusable preprocessing \(std=\"0.25\"\)",
        ),
        (
            {"pretrained_cfg": '{"resize": 36, "crop": 32, "mean": [0.5], "std": [1, 1]}'},
            r"pretrained_cfg has an unusable preprocessing \(mean=\[0.5\], std=",
        ),
        (
            {"pretrained_cfg": '{"resize": 36, "crop": [32], "mean": [0.5], "std": [1], "interpolation": "cubic"}'},
            r"pretrained_cfg has an unusable preprocessing \(crop=\[32\], interpolation=\"cubic\"\)",
        ),
    ],
)
def test_a_damaged_header_field_is_named_with_the_file(saved: Path, tmp_path: Path, fields: dict, message: str) -> None:
    from convarch.weights.checkpoint import read_header

    path = rewritten(saved, tmp_path / "edited.safetensors", **fields)
    with pytest.raises(
        ca.WeightsError, match=rf"edited\.safetensors: the checkpoint header's {message}.*save the model again"
    ):
        ca.load(path)
    # read_header sees no network: it checks the fields against each other (class names against num_classes).
    if "network it describes" not in message and fields.get("num_classes", "") is not None:
        with pytest.raises(ca.WeightsError, match=message):
            read_header(path)


def test_a_checkpoint_from_a_newer_convarch_asks_for_an_upgrade(saved: Path, tmp_path: Path) -> None:
    path = rewritten(saved, tmp_path / "future.safetensors", format_version="99")
    with pytest.raises(
        ca.WeightsError, match=r"newer convarch \(checkpoint format 99; this version reads format 1.*upgrade"
    ):
        ca.load(path)


def test_the_untouched_header_loads_with_its_names_and_preprocessing(saved: Path, tmp_path: Path) -> None:
    loaded = ca.load(rewritten(saved, tmp_path / "same.safetensors"))
    assert loaded.class_names == [f"c{i}" for i in range(10)] and loaded.pretrained_cfg["std"] == [0.25]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_checkpoint_loads_as_float32(saved: Path, tmp_path: Path, dtype: torch.dtype) -> None:
    path = rewritten(saved, tmp_path / "half.safetensors", dtype=dtype)
    loaded = ca.load(path).eval()
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    x = torch.randn(2, 1, 32, 32)
    reference = ca.load(saved).eval()
    with torch.no_grad():  # the values are the file's, rounded once to half precision
        assert torch.allclose(loaded(x), reference(x), atol=0.05) and loaded(x).dtype == torch.float32


def test_integer_or_non_finite_weights_are_refused_with_the_key(saved: Path, tmp_path: Path) -> None:
    as_int = rewritten(saved, tmp_path / "int.safetensors", dtype=torch.int32)
    with pytest.raises(ca.WeightsError, match=r"int\.safetensors: [a-z0-9_.]+ holds int32 values where the network"):
        ca.load(as_int)
    from safetensors.torch import save_file

    from convarch.weights.checkpoint import read_header, read_tensors

    tensors = read_tensors(saved)
    tensors["classifier.weight"] = torch.full_like(tensors["classifier.weight"], float("nan"))
    save_file(tensors, str(tmp_path / "nan.safetensors"), metadata=read_header(saved))
    with pytest.raises(ca.WeightsError, match="classifier.weight holds NaN or infinite values.*earlier checkpoint"):
        ca.load(tmp_path / "nan.safetensors")


def test_create_model_refuses_a_network_too_big_to_allocate_before_allocating() -> None:
    with pytest.raises(ca.ConfigError, match="num_classes is too large: 1,000,000,000; the limit is 65,536"):
        ca.create_model("lenet5", num_classes=10**9)  # refused as a width before any parameter count
    with pytest.raises(ca.SizingError, match="over the build limit of 2,000,000,000"):
        ca.create_model("INPUT(224x224x3) -> CONV3-64 -> FC65536 -> FC10")  # 2.1 x 10^11 parameters: 841 GB


def test_save_refuses_weights_its_spec_cannot_rebuild_and_names_reset_classifier(tmp_path: Path) -> None:
    model = ca.create_model("resnet18")
    model.classifier = torch.nn.Linear(512, 3)
    with pytest.raises(ca.ConfigError, match=r"classifier.weight is \(3, 512\) but the spec gives \(1000, 512\).*"
                       r"model.reset_classifier\(3\)"):  # fmt: skip
        ca.save(model, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []
    model.reset_classifier(3)  # the way to do it: the spec follows, and the file loads
    assert ca.load(ca.save(model, tmp_path / "x.safetensors")).num_classes == 3
    grey = ca.create_model("lenet5")
    grey.features.conv1 = torch.nn.Conv2d(3, 6, 5, padding=2)
    with pytest.raises(ca.ConfigError, match="features.conv1.weight is .* make the change through the spec|in_chans"):
        ca.save(grey, tmp_path / "grey.safetensors")
    with pytest.raises(
        ca.ConfigError, match=r"features.conv1 is Conv2d\(3, 6"
    ):  # before any work, not at the first save
        ca.train(grey, "digits", epochs=1, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_save_and_train_refuse_a_swapped_module_without_weights(tmp_path: Path) -> None:
    model = ca.build("INPUT(28x28x1) -> CONV3-8 -> RELU -> POOL2 -> FC10")
    model.features.relu1 = torch.nn.Tanh()  # no weights: only the module's type tells it from the spec's
    model.features.pool1 = torch.nn.AvgPool2d(2)
    with pytest.raises(ca.ConfigError, match=r"features.relu1 is Tanh\(\) but the spec builds ReLU.*features.pool1 "
                       r"is AvgPool2d.* but the spec builds MaxPool2d.*through the spec"):  # fmt: skip
        ca.save(model, tmp_path / "act.safetensors")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ca.ConfigError, match=r"features.relu1 is Tanh\(\)"):  # the trainer's checkpoints too
        ca.train(model, "digits", epochs=1, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    strided = ca.build("INPUT(28x28x1) -> CONV3-8 -> RELU -> POOL2 -> FC10")
    strided.features.pool1 = torch.nn.MaxPool2d(2, stride=1)  # same type, other settings
    with pytest.raises(ca.ConfigError, match=r"features.pool1 is MaxPool2d\(.*stride=1"):
        ca.save(strided, tmp_path / "strided.safetensors")


def test_load_says_what_a_torch_file_or_a_directory_is(tmp_path: Path) -> None:
    torch.save(ca.create_model("lenet5").state_dict(), tmp_path / "lenet5.pth")
    with pytest.raises(ca.WeightsError, match=r"is a PyTorch file \(torch.save\).*ca.create_model\(name or pattern, "
                       r"weights='lenet5.pth'\)"):  # fmt: skip
        ca.load(tmp_path / "lenet5.pth")
    with pytest.raises(ca.WeightsError, match="is a directory, not a checkpoint"):
        ca.load(tmp_path)
