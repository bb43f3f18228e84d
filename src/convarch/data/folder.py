"""Image folders: one subfolder per class, with a ``train/`` + ``val/`` split or a seeded stratified one.

Scanning checks what can be checked before training starts (the folder exists, holds at least two classes,
every class has images, zero-byte files) and gives a ``DataError`` that says how to fix the layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from convarch.data.images import BadImage, is_image_file, read_image
from convarch.errors import DataError

TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation")


@dataclass
class FolderScan:
    """Image paths and labels of one side of a folder dataset, and the files skipped with the reason."""

    paths: list[Path]
    labels: list[int]
    class_names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def label_tensor(self) -> torch.Tensor:
        return torch.tensor(self.labels, dtype=torch.long)


def find_split_folders(root: Path) -> tuple[Path, Path] | None:
    """``(train, val)`` subfolders when the dataset comes split, else None."""
    train = next((root / name for name in TRAIN_NAMES if (root / name).is_dir()), None)
    val = next((root / name for name in VAL_NAMES if (root / name).is_dir()), None)
    if train is not None and val is None:
        raise DataError(f"{root} has a {train.name}/ folder but no val/ folder; add val/ or remove the split")
    return (train, val) if train is not None and val is not None else None


def scan_folder(root: Path, class_names: list[str] | None = None) -> FolderScan:
    """Every image under ``root/<class>/``; ``class_names`` (the training side's) fixes the label order."""
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give a folder with one subfolder per class, or a built-in dataset")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = class_names if class_names is not None else found
    if class_names is None:
        _check_classes(root, names)
    else:
        extra = sorted(set(found) - set(class_names))
        if extra:
            raise DataError(f"{root} has classes the training folder lacks: {', '.join(extra)}; add them there too")
    scan = FolderScan([], [], list(names))
    for label, name in enumerate(names):
        folder = root / name
        entries = sorted(p for p in folder.rglob("*") if is_image_file(p)) if folder.is_dir() else []
        files = [p for p in entries if p.is_file()]
        # A link whose target is gone is an image the user meant to include: listed, not silently dropped.
        scan.skipped += [(str(p), _broken_link(p)) for p in entries if p.is_symlink() and not p.exists()]
        # So is anything else with an image's name that is not a file (a link to a directory, say).
        scan.skipped += [(str(p), "not a file (a directory or a link to one)") for p in entries if p.is_dir()]
        usable = 0
        for path in files:
            if path.stat().st_size == 0:
                scan.skipped.append((str(path), "empty file (0 bytes)"))
                continue
            scan.paths.append(path)
            scan.labels.append(label)
            usable += 1
        if usable == 0 and class_names is None:
            raise DataError(
                f"class folder {folder} holds no images ({', '.join(sorted({p.suffix for p in files})) or 'empty'}); "
                "add images (.jpg, .png, ...) or remove the folder"
            )
    return scan


def _broken_link(path: Path) -> str:
    try:
        return f"a broken symbolic link (its target {os.readlink(path)} does not exist)"
    except OSError:
        return "a broken symbolic link"


def _check_classes(root: Path, names: list[str]) -> None:
    if not names:
        has_images = any(is_image_file(p) for p in root.iterdir() if p.is_file())
        hint = "the images sit directly in it: move each class into its own subfolder" if has_images else "it is empty"
        raise DataError(f"{root} has no class subfolders ({hint}); the layout is {root}/<class name>/<image>")
    if len(names) == 1:
        raise DataError(f"{root} has a single class ({names[0]}); a classifier needs at least two class subfolders")


def decode(path: Path, *, uint8: bool = False) -> tuple[torch.Tensor | None, str]:
    """``(image, "")`` or ``(None, reason)``: a bad file is reported, never raised mid-epoch."""
    try:
        return read_image(path, uint8=uint8), ""
    except BadImage as error:
        return None, str(error)


# A worker's sample: (image or file bytes, or None when unreadable; label; index in the side; the reason)
Sample = tuple[torch.Tensor | None, int, int, str]


class FileSamples(Dataset):
    """One side's image files and labels, for a ``DataLoader``'s workers; subclasses say what a sample holds
    (a decoded image, or the file's bytes for batched decoding) in ``__getitem__``."""

    def __init__(self, paths: list[Path], labels: list[int], preprocessing: Any) -> None:
        self.paths, self.labels, self.preprocessing = paths, labels, preprocessing

    def __len__(self) -> int:
        return len(self.paths)

    def unreadable(self, index: int, reason: str) -> Sample:
        return None, self.labels[index], index, reason


def collated(samples: list[Sample], **tensors: Any) -> dict[str, Any]:
    """A collated batch's common fields: the readable samples' labels and indices, and the others' reasons
    (``skipped``), plus the caller's own ``tensors`` made from the readable ones."""
    good = [s for s in samples if s[0] is not None]
    return {
        **tensors,
        "labels": torch.tensor([s[1] for s in good], dtype=torch.long),
        "index": torch.tensor([s[2] for s in good], dtype=torch.long),
        "skipped": [(s[2], s[3]) for s in samples if s[0] is None],
    }
