"""Image folders: layouts, splits, every image mode, and bad files skipped and reported, never fatal."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from tests.train.helpers import write_class_folder, write_image

import convarch as ca
from convarch.data import load_data

SMALL = "INPUT(16x16x3) -> CONV3-4 -> RELU -> POOL2 -> FC3"


@pytest.fixture
def net() -> ca.ConvNet:
    return ca.build(SMALL)


def test_seeded_stratified_split_is_recorded(tmp_path: Path, net: ca.ConvNet) -> None:
    root = write_class_folder(tmp_path / "pets", {"cat": 10, "dog": 10, "emu": 5})
    bundle = load_data(root, net, val_fraction=0.2, split_seed=1)
    assert bundle.class_names == ["cat", "dog", "emu"]
    assert torch.bincount(bundle.val.labels).tolist() == [2, 2, 1]
    assert bundle.train.images is not None and bundle.train.images.shape[1:] == (3, 16, 16)  # small: cached
    assert "20% held out, seed 1" in bundle.record["split"] and len(bundle.record["val_files"]) == 5
    again = load_data(root, net, val_fraction=0.2, split_seed=1)
    assert again.record["val_files"] == bundle.record["val_files"]


def test_a_zero_validation_fraction_is_refused_not_replaced_by_the_default(tmp_path: Path, net: ca.ConvNet) -> None:
    root = write_class_folder(tmp_path / "pets", {"cat": 4, "dog": 4})
    with pytest.raises(ca.ConfigError, match="between 0 and 1, got 0"):
        load_data(root, net, val_fraction=0)
    with pytest.raises(ca.ConfigError, match="between 0 and 1, got 0"):
        load_data("digits", ca.build("INPUT(28x28x1) -> FC10"), val_fraction=0.0)


def test_train_and_val_folders_are_used_as_given(tmp_path: Path, net: ca.ConvNet) -> None:
    write_class_folder(tmp_path / "d" / "train", {"a": 4, "b": 4})
    write_class_folder(tmp_path / "d" / "val", {"a": 2, "b": 3})
    bundle = load_data(tmp_path / "d", net)
    assert (len(bundle.train), len(bundle.val)) == (8, 5) and "train/ and val/" in bundle.record["split"]
    write_class_folder(tmp_path / "d" / "val", {"zebra": 1})
    with pytest.raises(ca.DataError, match="classes the training folder lacks: zebra"):
        load_data(tmp_path / "d", net)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16"])
def test_every_image_mode_is_converted(tmp_path: Path, net: ca.ConvNet, mode: str) -> None:
    root = write_class_folder(tmp_path / "m", {"x": 3, "y": 3}, mode=mode)
    bundle = load_data(root, net, val_fraction=0.34)
    images = bundle.train.images
    assert images.shape[1:] == (3, 16, 16) and images.dtype == torch.uint8
    assert images.float().std() > 10  # real content, not a blank conversion


def test_bad_files_are_skipped_and_listed(tmp_path: Path, net: ca.ConvNet) -> None:
    root = write_class_folder(tmp_path / "bad", {"a": 5, "b": 5})
    (root / "a" / "empty.png").write_bytes(b"")
    good = (root / "b" / "0.png").read_bytes()
    (root / "b" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "a" / "notes.txt").write_text("not an image")  # not an image suffix: ignored, not reported
    (root / "a" / "fake.jpg").write_text("not a jpeg")
    bundle = load_data(root, net, val_fraction=0.2)
    reasons = dict(bundle.skipped)
    assert reasons[str(root / "a" / "empty.png")] == "empty file (0 bytes)"
    assert "unreadable" in reasons[str(root / "b" / "truncated.png")]
    assert "not an image" in reasons[str(root / "a" / "fake.jpg")]
    assert len(reasons) == 3 and len(bundle.train) + len(bundle.val) == 10
    (root / "b" / "dirlink.png").symlink_to(root / "a", target_is_directory=True)  # named like an image
    bundle = load_data(root, net, val_fraction=0.2)
    reasons = dict(bundle.skipped)
    assert reasons[str(root / "b" / "dirlink.png")] == "not a file (a directory or a link to one)"
    assert len(reasons) == 4 and len(bundle.train) + len(bundle.val) == 10  # a's images are not taken twice


def test_decompression_bombs_are_skipped_and_large_images_load_quietly(
    tmp_path: Path, net: ca.ConvNet, monkeypatch
) -> None:
    from PIL import Image

    # The 20x24 images (480 pixels) lie between Pillow's warning (the limit) and its error (twice the limit).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    root = write_class_folder(tmp_path / "big", {"a": 5, "b": 5})
    bomb = write_image(root / "a" / "bomb.png", size=(40, 40))  # 1,600 pixels: over twice the limit
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        bundle = load_data(root, net, val_fraction=0.2)
    assert list(dict(bundle.skipped)) == [str(bomb)]
    assert dict(bundle.skipped)[str(bomb)].startswith("too large to decode safely: 1,600 pixels")
    assert len(bundle.train) + len(bundle.val) == 10


def test_a_streamed_folder_skips_bad_files_mid_epoch(tmp_path: Path, net: ca.ConvNet) -> None:
    root = write_class_folder(tmp_path / "s", {"a": 6, "b": 6})
    data = (root / "a" / "1.png").read_bytes()
    (root / "a" / "1.png").write_bytes(data[: len(data) // 3])  # damaged after it was scanned as non-empty
    result = ca.train(net, root, epochs=1, batch_size=4, quiet=True, threads=1, val_fraction=0.25, cache=False)
    assert [path for path, _ in result.skipped] == [str(root / "a" / "1.png")]
    assert result.history[0]["val_top1"] >= 0


def test_layout_errors_say_how_to_fix(tmp_path: Path, net: ca.ConvNet) -> None:
    with pytest.raises(ca.DataError, match="no class subfolders .*it is empty"):
        load_data(_mkdir(tmp_path / "empty"), net)
    flat = _mkdir(tmp_path / "flat")
    write_image(flat / "x.png")
    with pytest.raises(ca.DataError, match="images sit directly in it"):
        load_data(flat, net)
    write_class_folder(tmp_path / "one", {"only": 3})
    with pytest.raises(ca.DataError, match="single class .*at least two"):
        load_data(tmp_path / "one", net)
    write_class_folder(tmp_path / "hollow", {"a": 3})
    _mkdir(tmp_path / "hollow" / "b")
    with pytest.raises(ca.DataError, match="holds no images"):
        load_data(tmp_path / "hollow", net)
    write_class_folder(tmp_path / "single", {"a": 1, "b": 3})
    with pytest.raises(ca.DataError, match="class 'a' has a single image, which cannot be split"):
        load_data(tmp_path / "single", net)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
