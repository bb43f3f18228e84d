"""evaluate (the held-out split a run recorded, per-class accuracy, confusion) and predict; the charts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from tests.train.helpers import TINY, write_class_folder, write_image

import convarch as ca
from convarch.data import load_data
from convarch.viz.training import comparison_chart, confusion_chart, learning_curves


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ca.TrainResult:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("eval") / "run"
    return ca.train(TINY, "digits", out=out, epochs=2, quiet=True, labels_per_class=30, split_seed=4)


def test_evaluate_finds_the_held_out_images_of_the_run(run: ca.TrainResult) -> None:
    result = ca.evaluate(run.out / "last.safetensors", "digits", device="cpu")
    assert result.stats.count == 1797 - 300  # the run's own split (30 per class, seed 4), from the checkpoint
    assert result.top1 == pytest.approx(run.final_top1)  # what the trainer measured on the same images
    confusion = result.stats.confusion
    assert int(confusion.sum()) == result.stats.count and confusion.shape == (10, 10)
    assert result.stats.per_class == pytest.approx((confusion.diagonal() / confusion.sum(1)).tolist())
    assert result.top5 >= result.top1
    everything = ca.evaluate(run.out / "last.safetensors", "digits", split="all", device="cpu")
    assert everything.stats.count == 1797


def test_evaluate_refuses_data_with_unknown_classes(run: ca.TrainResult, tmp_path: Path) -> None:
    root = write_class_folder(tmp_path / "letters", {"a": 2, "b": 2})
    with pytest.raises(ca.DataError, match="classes the model does not know: a, b"):
        ca.evaluate(run.out / "last.safetensors", root, device="cpu")


def test_predict_gives_sorted_top_k_and_reports_bad_files(run: ca.TrainResult, tmp_path: Path) -> None:
    good = write_image(tmp_path / "digit.png", "L", size=(28, 28))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n")
    first, second = ca.predict(run.out / "best.safetensors", [good, bad], topk=3)
    assert [name for name, _ in first.top] and len(first.top) == 3
    probabilities = [p for _, p in first.top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
    assert {name for name, _ in first.top} <= {str(d) for d in range(10)}
    assert second.top == [] and second.error == "not an image PIL can read"


def test_charts_are_written(run: ca.TrainResult, tmp_path: Path) -> None:
    curves = learning_curves({"run": run.history}, tmp_path / "curves.png", title="t")
    confusion = confusion_chart(torch.eye(3, dtype=torch.long) * 4, ["a", "b", "c"], tmp_path / "c.svg")
    bars = comparison_chart([{"seed": 0, "scratch": 0.8, "finetuned": 0.95}], tmp_path / "bars.png")
    for path in (curves, confusion, bars):
        assert path.stat().st_size > 1000
    assert confusion.read_text().startswith("<?xml")
    with pytest.raises(ca.ConfigError, match="must end in"):
        learning_curves({"run": run.history}, tmp_path / "curves.txt")


def test_checkpoint_arguments_that_are_not_convarch_checkpoints(tmp_path) -> None:
    import torch

    plain = tmp_path / "resnet.pth"
    torch.save({"w": torch.zeros(1)}, plain)
    with pytest.raises(ca.WeightsError, match="plain state dict.*export its network with these weights"):
        ca.evaluate(plain, "digits")
    whole = tmp_path / "whole.pt"
    torch.save(ca.create_model("lenet5"), whole)  # a pickled module is no state dict: said, and not unpickled
    with pytest.raises(ca.WeightsError, match="holds a pickled convarch.nn.model.ConvNet object"):
        ca.evaluate(whole, "digits")
    with pytest.raises(ca.WeightsError, match="directory without best.safetensors"):
        ca.evaluate(tmp_path, "digits")


def rewritten(path: Path, out: Path, *, dtype: torch.dtype | None = None, **fields: str) -> Path:
    """A copy of the checkpoint at ``path`` with header fields replaced and floats stored in ``dtype``."""
    from safetensors.torch import save_file

    from convarch.weights.checkpoint import read_tensors

    with safe_open(str(path), framework="pt") as handle:  # the raw header: read_header would check it
        header = {**handle.metadata(), **fields}
    tensors = {k: v.to(dtype) if dtype and v.is_floating_point() else v for k, v in read_tensors(path).items()}
    save_file(tensors, str(out), metadata=header)
    return out


def test_a_half_precision_checkpoint_predicts_evaluates_and_finetunes(run: ca.TrainResult, tmp_path: Path) -> None:
    half = rewritten(run.out / "last.safetensors", tmp_path / "half.safetensors", dtype=torch.float16)
    image = write_image(tmp_path / "digit.png", "L", size=(28, 28))
    [prediction] = ca.predict(half, [image], topk=2)
    [reference] = ca.predict(run.out / "last.safetensors", [image], topk=2)
    assert [name for name, _ in prediction.top] == [name for name, _ in reference.top]
    assert ca.evaluate(half, "digits", device="cpu").top1 == pytest.approx(run.final_top1, abs=0.01)
    tuned = ca.finetune(data="digits", weights=half, freeze_epochs=0, epochs=1, labels_per_class=5, quiet=True)
    assert {p.dtype for p in tuned.model.parameters()} == {torch.float32}


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"class_names": '["0", "1"'}, "class_names is not valid JSON"), ({"class_names": '["0", "1"]'}, "2 names")],
)
def test_damaged_class_names_are_a_clear_error_everywhere(
    run: ca.TrainResult, tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    damaged = rewritten(run.out / "last.safetensors", tmp_path / "damaged.safetensors", **fields)
    image = write_image(tmp_path / "digit.png", "L", size=(28, 28))
    with pytest.raises(ca.WeightsError, match=message):
        ca.predict(damaged, [image])
    with pytest.raises(ca.WeightsError, match=message):
        ca.evaluate(damaged, "digits", device="cpu")
    with pytest.raises(ca.WeightsError, match=message):
        ca.finetune(data="digits", weights=damaged, freeze_epochs=0, epochs=1, labels_per_class=5, quiet=True)


def test_a_damaged_data_record_stops_evaluate_but_not_predict(run: ca.TrainResult, tmp_path: Path) -> None:
    damaged = rewritten(run.out / "last.safetensors", tmp_path / "damaged.safetensors", data="{oops")
    with pytest.raises(ca.WeightsError, match="header's data field, which records the images its run held out"):
        ca.evaluate(damaged, "digits", device="cpu")  # which images are held out is unknown: no silent guess
    [prediction] = ca.predict(damaged, [write_image(tmp_path / "digit.png", "L", size=(28, 28))])
    assert prediction.top and not prediction.error


def test_evaluate_lists_the_files_it_skipped(tmp_path: Path) -> None:
    root = write_class_folder(tmp_path / "shapes", {"a": 4, "b": 4})
    model = ca.build("INPUT(16x16x1) -> CONV3-4 -> RELU -> POOL2 -> FC2")
    model.pretrained_cfg.update(load_data(root, model).preprocessing.to_cfg())
    checkpoint = ca.save(model, tmp_path / "m.safetensors", class_names=["a", "b"])
    (root / "a" / "empty.png").write_bytes(b"")
    (root / "b" / "fake.png").write_text("not a png")
    result = ca.evaluate(checkpoint, root, split="all", device="cpu")
    assert result.stats.count == 8
    assert [Path(path).name for path, _ in result.skipped] == ["empty.png", "fake.png"]
    assert [Path(row["path"]).name for row in result.to_dict()["skipped"]] == ["empty.png", "fake.png"]


def test_a_single_path_is_one_file_not_its_characters(run: ca.TrainResult, tmp_path: Path) -> None:
    good = write_image(tmp_path / "digit.png", "L", size=(28, 28))
    for single in (str(good), good, bytes(good)):  # bytes: a path as os.fsencode gives it
        (prediction,) = ca.predict(run.out / "best.safetensors", single, topk=2)
        assert prediction.path == str(good) and len(prediction.top) == 2 and not prediction.error
    # The sibling in save: a string of class names would have named the classes after its characters.
    with pytest.raises(ca.ConfigError, match="a list of names, one per class, got the string '0123456789'"):
        ca.save(run.model, tmp_path / "m.safetensors", class_names="0123456789")
    # And in input_size: "224" would have been the volume (2, 2, 4).
    with pytest.raises(ca.SizingError, match="a \\(C, H, W\\) tuple of integers, got the string '224'"):
        ca.analyze("lenet5", input_size="224")
