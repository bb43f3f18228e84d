"""Batches for training and evaluation, from memory or streamed from disk, on one process or many.

Both loaders yield ``Batch(x, y, index, skipped)``: normalised model input, labels, the dataset indices of
the images (a distributed test checks the shards with them) and any files skipped as unreadable. The order
is ``DistributedSampler``'s: a permutation drawn from (seed, epoch), cut into disjoint shards, one per rank,
so that a run is reproducible, resumable at any epoch, and the same on one process as its shards on many.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from convarch.data.augment import augment_batch
from convarch.data.batch_decode import collate_encoded, decode_images, fit_images
from convarch.data.folder import FileSamples, Sample, collated, decode
from convarch.data.preprocess import Preprocessing, to_unit_float


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    skipped: list[tuple[str, str]] = field(default_factory=list)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, epoch, rank, ...): independent streams without arithmetic clashes."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class _Order:
    """Which dataset indices this rank visits in an epoch, and in what order."""

    def __init__(self, size: int, *, shuffle: bool, seed: int, rank: int, world: int, training: bool) -> None:
        self.size, self.shuffle, self.seed, self.rank, self.world = size, shuffle, seed, rank, world
        # Training shards drop the remainder so they are disjoint and equal (DDP steps in lockstep);
        # evaluation shards stride through every image once, so all-reduced counts cover the whole set.
        self.sampler = (
            DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
            if training
            else None
        )

    def set_epoch(self, epoch: int) -> None:
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def indices(self) -> torch.Tensor:
        if self.sampler is not None:
            return torch.tensor(list(self.sampler), dtype=torch.long)
        return torch.arange(self.rank, self.size, self.world)

    def __len__(self) -> int:
        return len(self.sampler) if self.sampler is not None else len(range(self.rank, self.size, self.world))


class _LoaderBase:
    def __init__(
        self,
        size: int,
        preprocessing: Preprocessing,
        *,
        batch_size: int,
        training: bool,
        augment: tuple[str, ...],
        seed: int,
        rank: int,
        world: int,
        device: torch.device,
        min_batch: int = 1,
    ) -> None:
        self.order = _Order(size, shuffle=training, seed=seed, rank=rank, world=world, training=training)
        self.preprocessing, self.batch_size, self.training = preprocessing, batch_size, training
        # Batches smaller than this are dropped: 2 when a BatchNorm sees one value per channel, since its
        # batch statistics need two (the trainer decides, from the spec; see trainer.smallest_batch), and the
        # full batch size for a compiled model, which then sees one shape (convarch.train.compiled).
        self.min_batch = min_batch
        self.augment = augment if training else ()
        self.seed, self.rank, self.device, self.epoch = seed, rank, device, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order.set_epoch(epoch)

    def close(self) -> None:
        """Release what the loader holds between epochs (a folder's worker processes)."""

    def __len__(self) -> int:
        full, rest = divmod(len(self.order), self.batch_size)
        return (full if self.batch_size >= self.min_batch else 0) + (1 if rest >= max(self.min_batch, 1) else 0)

    @property
    def num_samples(self) -> int:
        return len(self.order)

    def _chunks(self) -> Iterator[torch.Tensor]:
        order = self.order.indices()
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            if len(chunk) < self.min_batch:
                return
            yield chunk

    def _finish(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if images.device != self.device:
            images = images.to(self.device, non_blocking=True)
        images = to_unit_float(images)
        if self.augment and generator is not None:
            images = augment_batch(images, self.augment, generator)
        return self.preprocessing.normalise(images)

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(derived_seed(self.seed, self.epoch, self.rank, 1))


class TensorLoader(_LoaderBase):
    """A dataset held in memory as uint8 images at the model's input size: one indexing op per batch."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, preprocessing: Preprocessing, **options: Any
    ) -> None:
        super().__init__(len(labels), preprocessing, **options)
        on_gpu = self.device.type != "cpu"
        self.images = images.to(self.device) if on_gpu else images
        self.labels = labels.to(self.device) if on_gpu else labels

    def __iter__(self) -> Iterator[Batch]:
        generator = self._generator()
        on_cpu = self.device.type == "cpu"
        for index in self._chunks():
            picked = index if on_cpu else index.to(self.device, non_blocking=True)  # no wait for the GPU
            yield Batch(self._finish(self.images[picked], generator), self.labels[picked], index)


class FolderDataset(FileSamples):
    """Image files decoded one at a time into uint8 tensors at the model's input size (for ``DataLoader``)."""

    def __getitem__(self, index: int) -> Sample:
        image, reason = decode(self.paths[index], uint8=True)
        if image is None:
            return self.unreadable(index, reason)
        fitted = self.preprocessing.fit_uint8(image.unsqueeze(0))[0]
        return fitted.contiguous(), self.labels[index], index, ""


def collate_skipping(samples: list[Sample]) -> dict[str, Any]:
    """Stack the readable samples; keep the indices and reasons of the others for the report."""
    good = [s[0] for s in samples if s[0] is not None]
    return collated(samples, images=torch.stack(good) if good else None)


class _EpochBatches:
    """The batch sampler of a persistent ``DataLoader``: each pass yields the loader's current epoch's batches."""

    def __init__(self, loader: _LoaderBase) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[list[int]]:
        return (chunk.tolist() for chunk in self.loader._chunks())

    def __len__(self) -> int:
        return len(self.loader)


class FolderLoader(_LoaderBase):
    """A folder streamed from disk through ``DataLoader`` workers; unreadable files are skipped, not fatal.

    The workers persist from one epoch to the next (starting 16 processes costs a second per epoch): they do
    nothing random, the augmentation runs here from the (seed, epoch, rank) generator, so they may.
    """

    def __init__(self, dataset: Dataset, *, num_workers: int = 0, **options: Any) -> None:
        super().__init__(len(dataset), dataset.preprocessing, **options)  # type: ignore[arg-type, attr-defined]
        self.dataset, self.num_workers = dataset, num_workers
        self.skipped: dict[str, str] = {}
        self._loader: DataLoader | None = None

    def close(self) -> None:
        # The DataLoader refers back to this loader (its batch sampler does): dropping it here ends the
        # workers now, not whenever the garbage collector finds the cycle.
        self._loader = None

    def _raw_batches(self, collate: Any, pin_memory: bool) -> DataLoader:
        if self._loader is None:
            self._loader = DataLoader(
                self.dataset,
                batch_sampler=_EpochBatches(self),
                num_workers=self.num_workers,
                collate_fn=collate,
                generator=torch.Generator().manual_seed(derived_seed(self.seed, self.rank, 2)),
                pin_memory=pin_memory,
                persistent_workers=self.num_workers > 0,
            )
        return self._loader

    def _skipped(self, raw: dict[str, Any]) -> list[tuple[str, str]]:
        skipped = [(str(self.dataset.paths[i]), reason) for i, reason in raw["skipped"]]  # type: ignore[attr-defined]
        self.skipped.update(skipped)
        return skipped

    def __iter__(self) -> Iterator[Batch]:
        generator = self._generator()
        for raw in self._raw_batches(collate_skipping, pin_memory=self.device.type == "cuda"):
            skipped = self._skipped(raw)
            if raw["images"] is None or len(raw["labels"]) < self.min_batch:
                continue
            x = self._finish(raw["images"], generator)
            yield Batch(x, raw["labels"].to(self.device, non_blocking=True), raw["index"], skipped)


class BatchDecodeLoader(FolderLoader):
    """A folder streamed from disk, decoded in batches on the loader's device (``--decode gpu``): the workers
    read bytes, nvJPEG decodes (``convarch.data.batch_decode``); unreadable files are skipped, not fatal.

    The next batch is decoded in a helper thread while this one trains: decoding runs outside the GIL, so the
    main thread keeps queueing the training step meanwhile. Both queue on the same CUDA stream, and a batch
    is handed over only after its kernels are queued, so the order of the work is kept.
    """

    def __iter__(self) -> Iterator[Batch]:
        generator = self._generator()
        raws = iter(self._raw_batches(collate_encoded, pin_memory=False))
        with ThreadPoolExecutor(1, thread_name_prefix="decode") as pool:
            pending = pool.submit(self._decoded, next(raws, None))
            while (done := pending.result()) is not None:
                pending = pool.submit(self._decoded, next(raws, None))
                images, labels, index, skipped = done
                if images is not None:
                    yield Batch(self._finish(images, generator), labels, index, skipped)

    def _decoded(self, raw: dict[str, Any] | None) -> tuple[Any, ...] | None:
        """``(images, labels, index, skipped)`` of one raw batch (images None when too few were readable)."""
        if raw is None:
            return None
        paths = self.dataset.paths  # type: ignore[attr-defined]
        skipped = self._skipped(raw)
        index: torch.Tensor = raw["index"]
        lengths = raw["lengths"].tolist()
        encoded = list(torch.split(raw["encoded"], lengths)) if lengths else []
        decoded = decode_images(encoded, [paths[i] for i in index.tolist()], self.device)
        bad = [(str(paths[int(i)]), d) for i, d in zip(index, decoded, strict=True) if isinstance(d, str)]
        if bad:
            skipped = skipped + bad
            self.skipped.update(bad)
        keep = [k for k, image in enumerate(decoded) if not isinstance(image, str)]
        if not keep or len(keep) < self.min_batch:
            return None, None, None, skipped
        images = fit_images([decoded[k] for k in keep], self.preprocessing)  # type: ignore[misc]
        return images, raw["labels"][keep].to(self.device, non_blocking=True), index[keep], skipped
