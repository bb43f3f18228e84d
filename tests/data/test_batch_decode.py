"""Batched decoding (``--decode gpu``), run here with the CPU as the device: the same batches as the PIL path,
bad files skipped and listed, other formats decoded by PIL, and folders streamed, never cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

import convarch as ca
from convarch.data import load_data
from convarch.data.batch_decode import EncodedFiles, decode_images, fit_images, is_jpeg
from convarch.data.loader import BatchDecodeLoader, FolderLoader

NET = "INPUT(24x24x3) -> CONV3-4 -> RELU -> POOL2 -> FC3"


def write_jpeg(path: Path, size: tuple[int, int], seed: int, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    # Smooth images (a gradient plus a little noise): JPEG's round trip is close, as for photos.
    base = np.linspace(0, 200, w, dtype=np.float32)[None, :, None] + np.linspace(0, 40, h)[:, None, None]
    pixels = np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    (image.convert(mode) if mode != "RGB" else image).save(path, quality=92)
    return path


def jpeg_folder(root: Path, per_class: int = 6) -> Path:
    for c, name in enumerate(("ant", "bee", "cow")):
        for i in range(per_class):
            size = (40, 52) if i % 2 else (48, 48)  # two sizes: the resize runs per group of equal shape
            write_jpeg(root / name / f"{i}.jpg", size, seed=10 * c + i)
    return root


def batches(loader: FolderLoader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    loader.set_epoch(epoch)
    return [(b.x, b.y, b.index) for b in loader]


def test_batched_decoding_gives_the_pil_paths_batches(tmp_path: Path) -> None:
    bundle = load_data(jpeg_folder(tmp_path / "f"), ca.build(NET), cache=False, val_fraction=0.25)
    assert bundle.train.images is None  # streamed
    for side in ("train", "val"):
        pil = bundle.loader(side, batch_size=5, seed=3)
        batched = bundle.loader(side, batch_size=5, seed=3, decode="gpu")
        assert isinstance(batched, BatchDecodeLoader) and type(pil) is FolderLoader
        for (x1, y1, i1), (x2, y2, i2) in zip(batches(pil, 1), batches(batched, 1), strict=True):
            assert torch.equal(i1, i2) and torch.equal(y1, y2)
            # Both decoders are libjpeg-turbo; an IDCT rounding difference moves a pixel by a level or two.
            assert (x1 - x2).abs().max() < 0.1 and (x1 - x2).abs().mean() < 0.01


def test_bad_files_are_skipped_and_other_formats_go_through_pil(tmp_path: Path) -> None:
    root = jpeg_folder(tmp_path / "f", per_class=3)
    Image.new("RGB", (30, 30), (10, 200, 30)).save(root / "ant" / "green.png")
    (root / "bee" / "fake.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    good = (root / "cow" / "0.jpg").read_bytes()
    (root / "cow" / "cut.jpg").write_bytes(good[: len(good) // 4])
    write_jpeg(root / "cow" / "grey.jpg", (32, 32), seed=99, mode="L")
    files = EncodedFiles(sorted(root.rglob("*.*")), [0] * 14, load_data(root, ca.build(NET)).preprocessing)
    encoded = [files[i][0] for i in range(len(files))]
    assert [is_jpeg(e) for e in encoded].count(False) == 1  # the PNG
    decoded = decode_images(encoded, files.paths, torch.device("cpu"))
    reasons = {p.name: d for p, d in zip(files.paths, decoded, strict=True) if isinstance(d, str)}
    assert set(reasons) == {"fake.jpg", "cut.jpg"} and all(reasons.values())
    images = {p.name: d for p, d in zip(files.paths, decoded, strict=True) if not isinstance(d, str)}
    assert images["grey.jpg"].shape == (3, 32, 32)  # grey JPEGs come as RGB
    assert images["green.png"].dtype == torch.float32 and images["green.png"][1].min() > 0.7  # PIL's decode
    fitted = fit_images(list(images.values()), files.preprocessing)
    assert fitted.shape == (len(images), 3, 24, 24) and fitted.dtype == torch.uint8


def test_a_streamed_run_with_batched_decoding_lists_what_it_skipped(tmp_path: Path) -> None:
    root = jpeg_folder(tmp_path / "f")
    (root / "ant" / "bad.jpg").write_bytes(b"\xff\xd8\xff broken")
    bundle = load_data(root, ca.build(NET), cache=False, val_fraction=0.25)
    loader = bundle.loader("train", batch_size=4, decode="gpu")
    seen = [int(i) for b in batches(loader, 0) for i in b[2]]
    bad = str(root / "ant" / "bad.jpg")
    in_train = bad in [str(p) for p in bundle.train.paths or []]
    assert (bad in loader.skipped) == in_train
    assert len(seen) == len(bundle.train) - in_train


def test_persistent_workers_give_every_epoch_the_same_batches_as_the_main_process(tmp_path: Path) -> None:
    bundle = load_data(jpeg_folder(tmp_path / "f"), ca.build(NET), cache=False, val_fraction=0.25)
    for decode in ("cpu", "gpu"):
        alone = bundle.loader("train", batch_size=4, seed=1, decode=decode)
        workers = bundle.loader("train", batch_size=4, seed=1, decode=decode, num_workers=1)
        for epoch in (0, 1, 2):
            for (x1, y1, i1), (x2, y2, i2) in zip(batches(alone, epoch), batches(workers, epoch), strict=True):
                assert torch.equal(i1, i2) and torch.equal(y1, y2) and torch.equal(x1, x2)
        assert workers._loader is not None and workers._loader._iterator is not None  # one pool, kept


def test_uint8_fitting_is_within_one_level_of_the_float_path() -> None:
    from convarch.data.preprocess import Preprocessing

    torch.manual_seed(0)
    cases = [(3, 3, (40, 52), 24, (24, 24)), (3, 1, (20, 26), 32, (32, 30)), (1, 3, (40, 52), 24, (24, 24)),
             (3, 3, (24, 24), 24, (28, 28))]  # fmt: skip
    for in_chans, channels, size, resize, crop in cases:
        prep = Preprocessing(in_chans, resize, crop, (0.5,) * in_chans, (0.2,) * in_chans)
        pixels = torch.randint(0, 256, (1, *size, channels), dtype=torch.uint8).permute(0, 3, 1, 2)  # as PIL gives
        fast = prep.fit_uint8(pixels)
        reference = prep.geometry(pixels).mul(255).round().to(torch.uint8)
        assert fast.dtype == torch.uint8 and fast.shape == reference.shape == (1, in_chans, *crop)
        assert (fast.int() - reference.int()).abs().max() <= 1


def test_a_run_ends_its_folder_workers(tmp_path: Path) -> None:
    import multiprocessing

    root = jpeg_folder(tmp_path / "f")
    before = set(multiprocessing.active_children())
    result = ca.train(NET, root, epochs=2, batch_size=4, cache=False, num_workers=1, threads=1, quiet=True)
    assert len(result.history) == 2
    assert set(multiprocessing.active_children()) <= before  # persistent across epochs, gone after the run
