"""Runs that cannot fit in memory are refused before any work, with the estimate and the fix (bench's check)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from tests.train.helpers import TINY, write_image

import convarch as ca
from convarch.data import load_data
from convarch.train.memory import eval_batch_size, inference_bytes

MiB = 2**20


@pytest.fixture
def memory(monkeypatch):  # type: ignore[no-untyped-def]
    """Set how much memory the device reports as available."""

    def set_available(size: int) -> None:
        monkeypatch.setattr(sys.modules["convarch.analysis.measure"], "available_memory", lambda device: size)

    return set_available


def test_training_that_cannot_fit_is_refused_before_the_data_is_loaded(tmp_path: Path, memory, monkeypatch) -> None:
    memory(64 * MiB)
    monkeypatch.setattr(sys.modules["convarch.train.run"], "load_data", None)  # loading would be a TypeError
    wide = "INPUT(64x64x1) -> CONV3-64 -> RELU -> GAP -> FC10"
    expected = r"training at batch 64 on 64x64x1 inputs needs about \d+ MiB, over the 51 MiB allowed \(80% of "
    with pytest.raises(ca.ConfigError, match=expected + r"the 64 MiB the cpu has available\)\. Use a network"):
        ca.train(wide, "digits", out=tmp_path / "run", epochs=1, quiet=True)
    assert not (tmp_path / "run").exists()


def test_evaluation_during_training_shrinks_its_batch_to_fit(memory) -> None:
    """Evaluating at 256 needs more than training at batch 2 here; a smaller batch could never pass the check,
    so the evaluations take a batch that fits (in eval mode the batch does not change the numbers)."""
    net = "INPUT(64x64x1) -> CONV3-16 -> RELU -> GAP -> FC10"
    report = ca.analyze(net)
    memory(int(inference_bytes(report, 40) / 0.8) + 1)  # batch 2's steps fit, evaluating at 256 would not
    assert report.training_bytes(2) < inference_bytes(report, 40) < inference_bytes(report, 256)
    result = ca.train(net, "digits", epochs=1, batch_size=2, labels_per_class=2, quiet=True)
    assert result.history[0]["val_top1"] >= 0
    model = ca.build(net)
    assert eval_batch_size(model, 2, torch.device("cpu")) == 40
    assert eval_batch_size(model, 64, torch.device("cpu")) == 64  # never below the training batch
    memory(2**40)
    assert eval_batch_size(model, 2, torch.device("cpu")) == 256


def test_a_dataset_that_cannot_be_held_at_the_input_size_is_refused_before_resizing(memory) -> None:
    memory(32 * MiB)  # the network fits; digits at 128x128 (1,797 x 16 KiB = 28 MiB) does not
    with pytest.raises(ca.ConfigError, match=r"holding digits \(1,797 images\) at 128x128x1 in memory needs about "
                       r"28 MiB, over the 26 MiB allowed.*smaller INPUT: the images of digits are 28x28"):  # fmt: skip
        ca.train("INPUT(128x128x1) -> GAP -> FC10", "digits", epochs=1, batch_size=2, quiet=True)


def test_evaluate_and_predict_refuse_a_forward_pass_that_cannot_fit(tmp_path: Path, memory) -> None:
    model = ca.build(TINY)
    model.pretrained_cfg.update(load_data("digits", model).preprocessing.to_cfg())
    memory(inference_bytes(ca.analyze(model), 256) * 2)  # batch 256 fits with room to spare; 4096 does not
    with pytest.raises(ca.ConfigError, match=r"a forward pass of 4096 image\(s\) at 16x16x1.*batch_size"):
        ca.evaluate(model, "digits", batch_size=4096)
    assert ca.evaluate(model, "digits", batch_size=256).stats.count > 0
    memory(1000)
    image = write_image(tmp_path / "x.png", size=(16, 16))
    with pytest.raises(ca.ConfigError, match=r"a forward pass of 1 image\(s\) at 16x16x1 needs about"):
        ca.predict(model, image)


def test_evaluate_names_missing_preprocessing_before_memory(memory) -> None:
    """Advising a smaller batch first was a dead end: at batch 1 the missing preprocessing refused it anyway."""
    memory(1000)
    with pytest.raises(ca.DataError, match="records no preprocessing"):
        ca.evaluate(ca.build(TINY), "digits", batch_size=4096)


def test_the_inference_estimate_counts_live_layers_not_every_activation() -> None:
    report = ca.analyze("resnet50")
    live = inference_bytes(report, 256)
    assert live < report.forward_bytes * 256 / 4  # the sum would refuse what fits
    largest = max(row.activations for row in report.rows)
    assert live >= largest * 256 * 4  # at least the largest output of the batch, as float32


def test_finetune_caches_features_at_a_batch_that_fits_and_refuses_a_cache_that_cannot(memory, monkeypatch) -> None:
    from convarch.train.finetune import cached_features, check_feature_cache

    net = ca.build("INPUT(64x64x1) -> CONV3-16 -> RELU -> GAP -> FC10")
    bundle = load_data("digits", net, labels_per_class=5)
    memory(int(inference_bytes(ca.analyze(net), 40) / 0.8) + 1)  # a forward pass of 40 images fits, 256 not
    batches = []
    real_loader = type(bundle).loader

    def recording_loader(self, side, **options):
        batches.append(options["batch_size"])
        return real_loader(self, side, **options)

    monkeypatch.setattr(type(bundle), "loader", recording_loader)
    features, labels = cached_features(net, bundle, "train", torch.device("cpu"))
    assert batches == [40] and features.shape == (len(bundle.train), net.num_features) and len(labels) == 50
    wide = ca.build("INPUT(1x1x1) -> CONV1-8192 -> RELU -> GAP -> FC10")  # 8,192 features an image, 32 KiB
    wide_bundle = load_data("digits", wide, labels_per_class=5)
    images = len(wide_bundle.train) + len(wide_bundle.val)  # both sides' caches are held together
    memory(int(images * wide.num_features * 4 * 0.9 / 0.8))  # a pass fits; the two caches do not
    with pytest.raises(ca.ConfigError, match=rf"a cache of the features of {images:,} images needs about .*freeze"):
        check_feature_cache(wide, wide_bundle, torch.device("cpu"))
    memory(int(len(wide_bundle.train) * wide.num_features * 4 * 1.5 / 0.8))  # one side's cache alone would fit
    with pytest.raises(ca.ConfigError, match="a cache of the features"):
        check_feature_cache(wide, wide_bundle, torch.device("cpu"))
