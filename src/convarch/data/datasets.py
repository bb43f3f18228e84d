"""``load_data``: a dataset name or an image folder, fitted to a model's input, split and described.

The result holds both sides (train and held-out) ready for loaders, the class names, the preprocessing
(the model's own when it has weights, else the input size with the training set's statistics), and a
record of the split that a run writes next to its checkpoints.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from convarch.analysis.measure import check_fits
from convarch.data.augment import parse_augment
from convarch.data.batch_decode import EncodedFiles
from convarch.data.builtin import BUILTIN, MNIST5K_HELD_OUT_PER_CLASS, SPLIT_SEED, TensorImages
from convarch.data.folder import FolderScan, decode, find_split_folders, scan_folder
from convarch.data.loader import BatchDecodeLoader, FolderDataset, FolderLoader, TensorLoader
from convarch.data.preprocess import Preprocessing, dataset_stats, default_preprocessing, model_preprocessing
from convarch.data.split import stratified_split
from convarch.errors import ConfigError, DataError

DEFAULT_VAL_FRACTION = 0.2
CACHE_LIMIT_BYTES = 1 << 30  # folders whose decoded images fit in 1 GiB are held in memory
DIGIT_AUGMENT = "padcrop"  # digits must not be flipped
PHOTO_AUGMENT = "flip,rrc"


@dataclass
class Side:
    """One side of a dataset: uint8 images in memory, or files streamed from disk (``paths`` names the files
    of a folder either way)."""

    labels: torch.Tensor
    images: torch.Tensor | None = None
    paths: list[Path] | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class DataBundle:
    name: str
    class_names: list[str]
    train: Side
    val: Side
    preprocessing: Preprocessing
    default_augment: str
    record: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def loader(self, side: str, *, batch_size: int, augment: str | None = None, seed: int = 0, rank: int = 0,
               world: int = 1, device: torch.device | str = "cpu", num_workers: int | None = 0,
               training: bool | None = None, min_batch: int = 1,
               decode: str = "cpu") -> TensorLoader | FolderLoader:  # fmt: skip
        """A loader for ``"train"`` (shuffled, augmented) or ``"val"`` (in order, plain); ``training=False``
        reads the training side in order without augmentation (to cache features). Batches of fewer than
        ``min_batch`` images are dropped. ``decode="gpu"`` decodes a folder streamed from disk in batches on
        ``device`` (``convarch.data.batch_decode``; any device works, a GPU is where it pays)."""
        part: Side = getattr(self, side)
        training = side == "train" if training is None else training
        names = parse_augment(self.default_augment if augment is None else augment)
        options = dict(batch_size=batch_size, training=training, augment=names, seed=seed, rank=rank, world=world,
                       device=torch.device(device), min_batch=min_batch)  # fmt: skip
        if part.images is not None:
            return TensorLoader(part.images, part.labels, self.preprocessing, **options)
        if decode == "gpu":
            files = EncodedFiles(part.paths or [], part.labels.tolist(), self.preprocessing)
            return BatchDecodeLoader(files, num_workers=num_workers or 0, **options)
        dataset = FolderDataset(part.paths or [], part.labels.tolist(), self.preprocessing)
        return FolderLoader(dataset, num_workers=num_workers or 0, **options)


def load_data(
    source: str | Path,
    model: Any,
    *,
    labels_per_class: int | None = None,
    val_fraction: float | None = None,
    split_seed: int = SPLIT_SEED,
    cache: bool | None = None,
    preprocessing: Preprocessing | None = None,
    num_workers: int = 0,
) -> DataBundle:
    """Load ``source`` (``mnist5k``, ``digits`` or an image folder) for ``model``.

    ``labels_per_class`` keeps that many training images per class (the few-label setting); the held-out
    side stays fixed where the data has one (mnist5k, a val/ folder) and is the rest otherwise.
    ``cache`` holds a folder in memory (default: when it fits in 1 GiB), decoded by ``num_workers`` processes.
    """
    in_chans = model.in_chans
    spec_input = model.spec.input
    size = (in_chans, spec_input.h, spec_input.w)
    fixed = preprocessing or model_preprocessing(model)
    geometry = fixed or default_preprocessing(size, 0.0, 1.0)
    if fixed is not None and fixed.input_size != size:
        raise ConfigError(f"the model's preprocessing gives {fixed.input_size} but the network takes {size}")
    text = str(source)
    if text.lower() in BUILTIN:
        bundle = _builtin(text.lower(), geometry, labels_per_class, val_fraction, split_seed)
    elif Path(text).exists():
        bundle = _folder(Path(text), geometry, labels_per_class, val_fraction, split_seed, cache, num_workers)
    else:
        close = difflib.get_close_matches(text.lower(), list(BUILTIN), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise DataError(
            f"unknown dataset {text!r}: not a built-in dataset ({', '.join(BUILTIN)}) and no such folder; "
            f"give a built-in name or a folder with one subfolder per class.{hint}"
        )
    if fixed is None:
        stats_source = bundle.train.images if bundle.train.images is not None else _sample(bundle.train, geometry)
        mean, std = dataset_stats(stats_source, in_chans)
        bundle.preprocessing = dataclasses.replace(geometry, mean=tuple(mean), std=tuple(std))
        bundle.record["preprocessing"] = "model input size, training-set mean/std"
    else:
        bundle.record["preprocessing"] = "the model's own (from its weights)"
    return bundle


def _builtin(name: str, geometry: Preprocessing, per_class: int | None, val_fraction: float | None,
             split_seed: int) -> DataBundle:  # fmt: skip
    data: TensorImages = BUILTIN[name]()
    if name == "mnist5k":
        if val_fraction is not None:
            raise ConfigError("mnist5k has a fixed held-out split (1,000 images); leave the validation fraction unset")
        # The fixed split: 100 held out per class, seed 0, whatever split seed the caller asks for.
        train, val = stratified_split(
            data.labels, train_per_class=len(data.labels) // 10 - MNIST5K_HELD_OUT_PER_CLASS, seed=SPLIT_SEED
        )
        how = f"fixed stratified split: {len(val)} held out ({MNIST5K_HELD_OUT_PER_CLASS} per class), seed {SPLIT_SEED}"
        if per_class is not None:
            train = _per_class(train, data.labels, per_class, split_seed)
            how += f"; {per_class} training images per class, seed {split_seed}"
    elif per_class is not None:
        train, val = stratified_split(data.labels, train_per_class=per_class, seed=split_seed,
                                      class_names=data.class_names)  # fmt: skip
        how = f"{per_class} training images per class, the rest held out, seed {split_seed}"
    else:
        fraction = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
        train, val = stratified_split(data.labels, val_fraction=fraction, seed=split_seed,
                                      class_names=data.class_names)  # fmt: skip
        how = f"stratified split, {fraction:.0%} held out, seed {split_seed}"
    fitted = _fit_in_memory(data.images, geometry, name)
    record = {"source": name, "split": how, "train": len(train), "val": len(val), "split_seed": split_seed,
              "labels_per_class": per_class, "train_indices": train.tolist()}  # fmt: skip
    return DataBundle(
        name, data.class_names, Side(data.labels[train], fitted[train]), Side(data.labels[val], fitted[val]),
        geometry, DIGIT_AUGMENT, record,
    )  # fmt: skip


def _fit_in_memory(images: torch.Tensor, geometry: Preprocessing, name: str, chunk: int = 256) -> torch.Tensor:
    """The whole set at the model's input size as uint8, resized a chunk at a time (the float copy of a whole
    set at 224x224 would be 4 times larger), refused first when it cannot fit."""
    c, h, w = geometry.input_size
    check_fits(len(images) * c * h * w, torch.device("cpu"), f"holding {name} ({len(images):,} images) at {h}x{w}x{c} "
               "in memory", f"Use a network with a smaller INPUT: the images of {name} are {images.shape[-2]}x"
               f"{images.shape[-1]}, so a larger input adds no detail.")  # fmt: skip
    return torch.cat([_to_uint8(geometry.geometry(part)) for part in images.split(chunk)])


def _per_class(indices: torch.Tensor, labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    chosen, _ = stratified_split(labels[indices], train_per_class=per_class, seed=seed)
    return indices[chosen]


def _folder(root: Path, geometry: Preprocessing, per_class: int | None, val_fraction: float | None,
            split_seed: int, cache: bool | None, workers: int) -> DataBundle:  # fmt: skip
    sides = find_split_folders(root)
    if sides is not None:
        train_scan = scan_folder(sides[0])
        val_scan = scan_folder(sides[1], train_scan.class_names)
        if val_fraction is not None:
            raise ConfigError(f"{root} comes split into train/ and val/; leave the validation fraction unset")
        train_idx = torch.arange(len(train_scan.paths))
        if per_class is not None:
            train_idx = _per_class(train_idx, train_scan.label_tensor, per_class, split_seed)
        how = f"the {sides[0].name}/ and {sides[1].name}/ folders"
        skipped = train_scan.skipped + val_scan.skipped
        train, val = _subset(train_scan, train_idx), _subset(val_scan, torch.arange(len(val_scan.paths)))
    else:
        scan = scan_folder(root)
        fraction = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
        kwargs = {"train_per_class": per_class} if per_class is not None else {"val_fraction": fraction}
        train_idx, val_idx = stratified_split(scan.label_tensor, seed=split_seed, class_names=scan.class_names,
                                              **kwargs)  # fmt: skip
        how = (f"{per_class} training images per class, the rest held out" if per_class is not None
               else f"stratified split, {fraction:.0%} held out") + f", seed {split_seed}"  # fmt: skip
        skipped = list(scan.skipped)
        train, val, train_scan = _subset(scan, train_idx), _subset(scan, val_idx), scan
    c, h, w = geometry.input_size
    decoded_bytes = (len(train) + len(val)) * c * h * w
    if cache:
        what = f"holding {root} ({len(train) + len(val):,} images) at {h}x{w}x{c} in memory"
        check_fits(decoded_bytes, torch.device("cpu"), what, "Leave cache unset to stream the files from disk.")
    if cache or (cache is None and decoded_bytes <= CACHE_LIMIT_BYTES):
        train, val = _decode_side(train, geometry, skipped, workers), _decode_side(val, geometry, skipped, workers)
    record = {"source": str(root), "split": how, "train": len(train), "val": len(val), "split_seed": split_seed,
              "labels_per_class": per_class, "cached": train.images is not None,
              "val_files": [str(p) for p in val.paths or []]}  # fmt: skip
    return DataBundle(root.name, train_scan.class_names, train, val, geometry, PHOTO_AUGMENT, record, skipped)


def _subset(scan: FolderScan, index: torch.Tensor) -> Side:
    return Side(scan.label_tensor[index], paths=[scan.paths[i] for i in index.tolist()])


def _decode_side(side: Side, geometry: Preprocessing, skipped: list[tuple[str, str]], workers: int) -> Side:
    """Decode every file once (in ``workers`` processes) into one uint8 tensor; bad files are dropped and listed."""
    dataset = FolderDataset(side.paths or [], side.labels.tolist(), geometry)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, num_workers=workers, collate_fn=_keep_all)
    images, labels, kept = [], [], []
    for samples in loader:
        for image, label, index, reason in samples:
            if image is None:
                skipped.append((str(side.paths[index]), reason))  # type: ignore[index]
                continue
            images.append(image)
            labels.append(label)
            kept.append(side.paths[index])  # type: ignore[index]
    if not images:
        raise DataError("no image on this side of the dataset could be read; see the skipped files")
    return Side(torch.tensor(labels, dtype=torch.long), torch.stack(images), kept)


def _keep_all(samples: list) -> list:  # type: ignore[type-arg]
    return samples


def _sample(side: Side, geometry: Preprocessing, count: int = 512) -> torch.Tensor:
    """Decode up to ``count`` images spread over a streamed side, for the normalisation statistics."""
    paths = side.paths or []
    step = max(1, len(paths) // count)
    images = [image for image, _ in (decode(p, uint8=True) for p in paths[::step][:count]) if image is not None]
    if not images:
        raise DataError("none of the sampled training images could be read; see the skipped files")
    return torch.cat([geometry.fit_uint8(image.unsqueeze(0)) for image in images])


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.clamp(0, 1).mul(255).round_().to(torch.uint8)
