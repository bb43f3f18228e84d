"""A network that ends in SOFTMAX trains on its logits and predicts its own probabilities, not a softmax of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.train.helpers import TINY, write_image

import convarch as ca
from convarch.data.images import read_image
from convarch.data.preprocess import model_preprocessing

OPTIONS = {"epochs": 1, "batch_size": 16, "labels_per_class": 10, "threads": 1, "quiet": True}
MEASURED = ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5")


@pytest.fixture(scope="module")
def runs() -> tuple[ca.TrainResult, ca.TrainResult]:
    return ca.train(TINY, "digits", **OPTIONS), ca.train(f"{TINY} -> SOFTMAX", "digits", **OPTIONS)


def test_a_trailing_softmax_trains_exactly_like_the_logits(runs: tuple[ca.TrainResult, ca.TrainResult]) -> None:
    plain, with_softmax = runs
    # Same seed, same parameters (SOFTMAX has none): a loss on the logits makes the runs the same number for number.
    for name in MEASURED:
        assert with_softmax.history[0][name] == pytest.approx(plain.history[0][name], rel=1e-5), name
    assert isinstance(with_softmax.model.post[0], torch.nn.Softmax)  # the model still ends in its SOFTMAX


def test_predict_reports_the_models_own_probabilities(runs: tuple[ca.TrainResult, ca.TrainResult],
                                                      tmp_path: Path) -> None:  # fmt: skip
    _, with_softmax = runs
    image = write_image(tmp_path / "digit.png", "L", size=(16, 16))
    model = with_softmax.model.eval()
    with torch.no_grad():
        expected = model(model_preprocessing(model)(read_image(image).unsqueeze(0)))[0]  # already probabilities
    (prediction,) = ca.predict(model, [image], topk=10)
    assert [p for _, p in prediction.top] == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-6)
