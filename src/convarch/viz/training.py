"""Training charts: learning curves, a confusion matrix, and fine-tuned against from-scratch.

Drawn with matplotlib's object API (no pyplot, no display) and saved atomically through ``save_figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from convarch.viz.save import save_figure

History = Sequence[Mapping[str, Any]]


def learning_curves(runs: Mapping[str, History], path: str | Path, title: str = "") -> Path:
    """Loss (left) and top-1 accuracy (right) per epoch, training dashed and held-out solid, one colour per run.

    A fine-tuning run's frozen phase (only the new classifier learns) is shaded.
    """
    figure = Figure(figsize=(11, 4.2))
    loss_axes, top1_axes = figure.subplots(1, 2)
    for index, (label, history) in enumerate(runs.items()):
        colour = f"C{index}"
        epochs = [row["epoch"] for row in history]
        loss_axes.plot(epochs, [row["train_loss"] for row in history], "--", color=colour, alpha=0.7)
        loss_axes.plot(epochs, [row["val_loss"] for row in history], "-", color=colour, label=label)
        top1_axes.plot(epochs, [100 * row["train_top1"] for row in history], "--", color=colour, alpha=0.7)
        top1_axes.plot(epochs, [100 * row["val_top1"] for row in history], "-", color=colour, label=label)
        frozen = [row["epoch"] for row in history if row.get("phase") == "frozen"]
        if frozen:
            for axes in (loss_axes, top1_axes):
                axes.axvspan(0.5, max(frozen) + 0.5, color=colour, alpha=0.08)
    loss_axes.set_ylabel("cross-entropy loss")
    top1_axes.set_ylabel("top-1 accuracy (%)")
    for axes in (loss_axes, top1_axes):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, title="solid: held-out, dashed: training", title_fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    return save_figure(figure, path)


def confusion_chart(confusion: torch.Tensor, class_names: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Rows: true class; columns: predicted class; each row normalised so the diagonal is per-class recall."""
    counts = confusion.double()
    rates = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)
    n = len(class_names)
    size = max(4.5, min(14.0, 0.45 * n + 2))
    figure = Figure(figsize=(size + 1, size))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, label="fraction of the true class")
    ticks = range(n)
    axes.set_xticks(ticks, labels=list(class_names), rotation=90 if n > 12 else 0, fontsize=8)
    axes.set_yticks(ticks, labels=list(class_names), fontsize=8)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    axes.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                              color="white" if rates[i, j] > 0.5 else "black")  # fmt: skip
    axes.set_title(title or f"confusion matrix ({int(counts.sum())} images)", fontsize=10)
    return save_figure(figure, path)


def comparison_chart(rows: Sequence[Mapping[str, float]], path: str | Path, title: str = "") -> Path:
    """Held-out top-1 of from-scratch and fine-tuned per seed, with the mean; ``rows`` hold seed, scratch, finetuned."""
    figure = Figure(figsize=(7, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    labels = [f"seed {int(r['seed'])}" for r in rows] + ["mean"]
    scratch = [100 * r["scratch"] for r in rows]
    tuned = [100 * r["finetuned"] for r in rows]
    scratch.append(sum(scratch) / len(scratch))
    tuned.append(sum(tuned) / len(tuned))
    positions = range(len(labels))
    width = 0.38
    for offset, values, label, colour in ((-width / 2, scratch, "from scratch", "tab:gray"),
                                          (width / 2, tuned, "fine-tuned", "tab:blue")):  # fmt: skip
        bars = axes.bar([p + offset for p in positions], values, width, label=label, color=colour)
        axes.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    axes.set_xticks(list(positions), labels=labels)
    axes.set_ylabel("held-out top-1 accuracy (%)")
    low = min(scratch + tuned)
    axes.set_ylim(max(0.0, low - 10), 101)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=9, frameon=False)
    axes.set_title(title or "fine-tuned vs from scratch", fontsize=10)
    return save_figure(figure, path)
