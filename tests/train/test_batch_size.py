"""Small batches: one image trains a net whose BatchNorms see maps, is refused for one that sees vectors, and
a run that makes no step never reports success."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from tests.train.helpers import TINY, write_class_folder

import convarch as ca
from convarch.data import load_data


def count_steps() -> tuple[dict[str, int], object]:
    seen = {"steps": 0, "images": 0}

    def hook(epoch: int, index: torch.Tensor) -> None:
        seen["steps"] += 1
        seen["images"] += len(index)

    return seen, hook


def test_batch_size_one_trains_a_net_whose_batchnorm_sees_maps(tmp_path: Path) -> None:
    seen, hook = count_steps()
    result = ca.train(TINY, "digits", epochs=1, batch_size=1, labels_per_class=3, threads=1, quiet=True,
                      on_batch=hook)  # fmt: skip
    assert seen == {"steps": 30, "images": 30}  # every one of the 30 training images, one step each
    assert result.history[0]["train_loss"] > 0 and result.history[0]["images_per_s"] > 0


@pytest.mark.parametrize(
    ("pattern", "where"),
    [
        ("INPUT(16x16x1) -> CONV3-8 -> POOL2 -> FC32 -> BN -> RELU -> FC10", "pre_logits.bn1 is a BN on a 1x1x32"),
        ("INPUT(16x16x1) -> CONV3-8(s=16) -> BN -> RELU -> GAP -> FC10", "features.bn1 is a BN on a 1x1x8"),
    ],
)
def test_batch_size_one_is_refused_before_loading_when_a_batchnorm_sees_one_value(
    tmp_path: Path, monkeypatch, pattern: str, where: str
) -> None:
    def no_loading(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the data was loaded before the batch size was checked")

    monkeypatch.setattr(sys.modules["convarch.train.run"], "load_data", no_loading)  # ca.train hides the module
    with pytest.raises(ca.ConfigError, match=f"batch size 1 cannot train this network: {where}.*batch_size=2"):
        ca.train(pattern, "digits", out=tmp_path / "run", epochs=1, batch_size=1, quiet=True)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("min_batch", [1, 2])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
def test_a_loader_yields_as_many_batches_as_its_length_says(batch_size: int, min_batch: int) -> None:
    model = ca.build(TINY)
    bundle = load_data("digits", model, labels_per_class=2)  # 20 training images
    loader = bundle.loader("train", batch_size=batch_size, min_batch=min_batch)
    batches = list(loader)
    assert len(batches) == len(loader)
    assert all(len(b.y) >= min_batch for b in batches)
    dropped = 20 % batch_size if 20 % batch_size < min_batch else 0
    assert sum(len(b.y) for b in batches) == (20 - dropped if batch_size >= min_batch else 0)


def test_a_run_whose_epoch_makes_no_step_fails_instead_of_reporting_success(tmp_path: Path, monkeypatch) -> None:
    root = write_class_folder(tmp_path / "shapes", {"a": 6, "b": 6})
    # Every file passes the scan and the statistics sample, then fails while streamed (a disk gone bad).
    monkeypatch.setattr(sys.modules["convarch.data.loader"], "decode", lambda path, **_: (None, "unreadable"))
    with pytest.raises(ca.ConfigError, match=r"epoch 1 made no training step.*\d+ unreadable file"):
        ca.train(TINY, root, out=tmp_path / "run", epochs=1, batch_size=4, cache=False, threads=1, quiet=True)
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_an_evaluation_that_reads_no_image_fails_instead_of_reporting_zero(tmp_path: Path, monkeypatch) -> None:
    root = write_class_folder(tmp_path / "shapes", {"a": 6, "b": 6})
    result = ca.train(TINY, root, epochs=1, batch_size=4, threads=1, quiet=True)
    monkeypatch.setattr("convarch.data.datasets.CACHE_LIMIT_BYTES", 0)  # streamed from disk
    monkeypatch.setattr(sys.modules["convarch.data.loader"], "decode", lambda path, **_: (None, "unreadable"))
    with pytest.raises(ca.DataError, match=r"no image of .* \(val\) could be read, so nothing was evaluated"):
        ca.evaluate(result.model, root, device="cpu")


def test_a_batch_larger_than_the_training_set_is_cut_to_it_and_says_so() -> None:
    """The run once took one short batch at the rate scaled for the batch asked for (7.8 for 5000 on digits);
    now it trains on the whole set per step at the rate of the batch it uses, and says so."""
    from io import StringIO

    from rich.console import Console

    seen, hook = count_steps()
    shown = StringIO()
    result = ca.train(TINY, "digits", epochs=1, batch_size=5000, labels_per_class=3, threads=1, quiet=True,
                      on_batch=hook, console=Console(file=shown, width=200))  # fmt: skip
    assert seen == {"steps": 1, "images": 30}
    rate = 0.1 * 30 / 64  # the default SGD rate for the 30 images used (the linear scaling rule), not for 5000
    assert f"batch size 5000 is more than the 30 training images; training on batches of 30, at the learning " \
           f"rate of that batch ({rate:.3g})" in shown.getvalue()  # fmt: skip
    assert result.history[0]["lr"] <= rate
    shown.truncate(0)
    ca.train(TINY, "digits", epochs=1, batch_size=5000, lr=0.5, labels_per_class=3, quiet=True,
             console=Console(file=shown, width=200))  # fmt: skip
    assert "training on batches of 30\n" in shown.getvalue()  # a rate given by hand is kept
