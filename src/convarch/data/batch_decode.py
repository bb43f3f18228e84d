"""JPEG folders decoded in batches on the training device (``--decode gpu``), resized and cropped there too.

On a GPU, PIL decoding in CPU workers is what bounds a ResNet-18 reading JPEGs: on an H200 a whole
ImageFolder + DataLoader (12 workers) + ResNet-18 loop ran at 1,447 img/s, while nvJPEG decoding plus resizing
of the same 256x320 files ran at ~11,000 img/s. Here the workers only read each file's bytes; the batch is
decoded by ``torchvision.io.decode_jpeg(list, device=...)`` (nvJPEG's batched decoder on CUDA), fitted to the
model's input by the same ``Preprocessing.geometry`` as the CPU path, and augmented and normalised on the
device by the shared loader code. Nothing is cached, so a folder of any size streams.

Files that are not JPEGs (PNG, BMP, ...) or that nvJPEG refuses (CMYK, progressive variants some builds
lack) are decoded by PIL on the CPU instead; unreadable ones are skipped and listed, as on the CPU path.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from convarch.data.folder import FileSamples, Sample, collated, decode
from convarch.data.preprocess import Preprocessing

JPEG_MAGIC = (0xFF, 0xD8, 0xFF)  # SOI marker and the first byte of the next marker


class EncodedFiles(FileSamples):
    """Each file's bytes as a uint8 tensor (the workers' whole job on the batched-decode path)."""

    def __getitem__(self, index: int) -> Sample:
        try:
            data = self.paths[index].read_bytes()
        except OSError as error:
            return self.unreadable(index, f"unreadable ({error.strerror or error})")
        if not data:
            return self.unreadable(index, "empty file (0 bytes)")
        return torch.frombuffer(bytearray(data), dtype=torch.uint8), self.labels[index], index, ""


def collate_encoded(samples: list[Sample]) -> dict[str, Any]:
    """The batch's files end to end in one byte tensor, with their lengths; the unreadable ones go to ``skipped``.

    One tensor, not one per file: each tensor a worker returns travels through a shared-memory handle (a file
    descriptor), and 16 workers with a few batches of 128 files in flight would hold thousands of them.
    """
    good = [s[0] for s in samples if s[0] is not None]
    return collated(
        samples,
        encoded=torch.cat(good) if good else torch.zeros(0, dtype=torch.uint8),
        lengths=torch.tensor([len(data) for data in good], dtype=torch.long),
    )


def is_jpeg(encoded: torch.Tensor) -> bool:
    return len(encoded) > 3 and tuple(encoded[:3].tolist()) == JPEG_MAGIC


def decode_images(encoded: list[torch.Tensor], paths: list[Path], device: torch.device) -> list[torch.Tensor | str]:
    """Each file as a ``(C, H, W)`` image on ``device`` (uint8 from nvJPEG/libjpeg, float from PIL), or the
    reason it cannot be read. JPEGs are decoded together; one bad file makes the batch call fail, and then
    they are decoded one by one to find it."""
    out: list[torch.Tensor | str] = ["" for _ in encoded]
    with warnings.catch_warnings():
        # torchvision 0.29 points to TorchCodec for decoding; decode_jpeg still works and is what the
        # supported torch range (2.10 on) ships, so the notice is noise here.
        warnings.filterwarnings("ignore", "The image decoding and encoding", DeprecationWarning)
        _decode_jpegs(encoded, device, out)
    for i, image in enumerate(out):
        if isinstance(image, str):  # not a JPEG, or one the JPEG decoder refused
            pil, reason = decode(paths[i])
            out[i] = pil.to(device, non_blocking=True) if pil is not None else reason
    return out


def _decode_jpegs(encoded: list[torch.Tensor], device: torch.device, out: list[torch.Tensor | str]) -> None:
    from torchvision.io import ImageReadMode, decode_jpeg

    jpegs = [i for i, data in enumerate(encoded) if is_jpeg(data)]
    if jpegs:
        try:
            decoded = decode_jpeg([encoded[i] for i in jpegs], mode=ImageReadMode.RGB, device=device)
            for i, image in zip(jpegs, decoded, strict=True):
                out[i] = image
        except RuntimeError:
            for i in jpegs:
                with contextlib.suppress(RuntimeError):  # PIL tries below and gives the reason if it fails too
                    out[i] = decode_jpeg(encoded[i], mode=ImageReadMode.RGB, device=device)


def fit_images(images: list[torch.Tensor], preprocessing: Preprocessing) -> torch.Tensor:
    """Resize and crop each image to the model's input, in groups of equal size and type (one interpolation
    call per group: a folder of same-sized photos is one call), as uint8 like the CPU path's images."""
    groups: dict[tuple[torch.dtype, tuple[int, ...]], list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        groups[(image.dtype, tuple(image.shape))].append(i)
    fitted: list[torch.Tensor] = [images[0]] * len(images)
    for members in groups.values():
        batch = preprocessing.geometry(torch.stack([images[i] for i in members])).mul_(255).round_().to(torch.uint8)
        if len(members) == len(images):
            return batch
        for position, i in enumerate(members):
            fitted[i] = batch[position]
    # Reassembled by stacking views: indexing with a list would copy the index to the GPU and wait for it.
    return torch.stack(fitted)
