"""Seeded, stratified splits: every class keeps its share on both sides, and the same seed gives the same split."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from convarch.errors import ConfigError, DataError


def stratified_split(
    labels: torch.Tensor,
    *,
    val_fraction: float | None = None,
    train_per_class: int | None = None,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, val)``: either ``val_fraction`` of each class held out, or ``train_per_class`` images
    of each class for training and the rest held out (the few-label setting of fine-tuning). ``class_names``
    (by label) name the classes in errors, as the user knows them (a folder's name, not its index)."""
    if (val_fraction is None) == (train_per_class is None):
        raise ConfigError("give exactly one of val_fraction and train_per_class")
    if val_fraction is not None and not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"the validation fraction must be between 0 and 1, got {val_fraction}")
    if train_per_class is not None and train_per_class < 1:
        raise ConfigError(f"labels per class must be at least 1, got {train_per_class}")
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for cls in torch.unique(labels).tolist():
        name = f"class {class_names[cls]!r}" if class_names is not None else f"class {cls}"
        members = (labels == cls).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        if train_per_class is not None:
            if len(members) <= train_per_class:
                raise DataError(
                    f"{name} has {len(members)} images, not more than the {train_per_class} labels per class "
                    "asked for, so none would be left to evaluate on; ask for fewer labels per class"
                )
            keep = train_per_class
        else:
            if len(members) < 2:
                raise DataError(
                    f"{name} has a single image, which cannot be split into training and validation; "
                    "add images or give a train/ and val/ folder"
                )
            keep = len(members) - max(1, round(len(members) * val_fraction))  # type: ignore[operator]
        train.append(members[:keep])
        val.append(members[keep:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values
