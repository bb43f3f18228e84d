"""evaluate (the held-out split a run recorded, per-class accuracy, confusion) and predict; the charts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.train.helpers import TINY, write_class_folder, write_image

import convarch as ca
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
    with pytest.raises(ca.WeightsError, match="plain state dict.*convarch export MODEL --weights"):
        ca.evaluate(plain, "digits")
    with pytest.raises(ca.WeightsError, match="directory without best.safetensors"):
        ca.evaluate(tmp_path, "digits")
