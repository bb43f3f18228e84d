"""What a run shows while it works: a rich bar per epoch (loss, accuracy, images/s) and one line per epoch.

Only rank 0 shows anything, and ``quiet`` shows no progress (tests, benchmarks), only the notices a user must
see whatever they asked for (files skipped as unreadable, a classifier replaced). The bar is refreshed a few
times a second, not every step, so a fast model is not slowed down by its own progress display.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RunDisplay:
    def __init__(self, console: Console | None, enabled: bool, *, notices: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.notices = enabled if notices is None else notices  # rank 0 shows them, quiet or not
        self.progress: Progress | None = None
        self.task: Any = None

    def start_epoch(self, label: str, steps: int) -> None:
        if not self.enabled or not (self.console.is_terminal or self.console.is_jupyter):
            return  # a log file gets the epoch lines only
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}  acc {task.fields[acc]:6.2%}  {task.fields[ips]:,.0f} img/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            refresh_per_second=4,
        )
        self.progress.start()
        self.task = self.progress.add_task(label, total=steps, loss=0.0, acc=0.0, ips=0.0)

    def update(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, loss=loss, acc=acc, ips=images_per_s)

    def end_epoch(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def line(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False, soft_wrap=True)

    def notice(self, text: str) -> None:
        """A line shown even when quiet: something the user did not ask for, or data that was left out."""
        if self.notices:
            self.console.print(text, highlight=False, soft_wrap=True)


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}"]
    if "phase" in row and row["phase"] != "train":
        parts.append(f"({row['phase']})")  # parentheses: square brackets are rich markup
    parts.append(f"train loss {row['train_loss']:.3f} acc {row['train_top1']:.2%}")
    top5 = f" top-5 {row['val_top5']:.2%}" if row.get("val_top5") is not None else ""  # None: 5 classes or fewer
    parts.append(f"val loss {row['val_loss']:.3f} top-1 {row['val_top1']:.2%}{top5}")
    parts.append(f"lr {row['lr']:.2e}")
    parts.append(f"{row['time']:.1f}s ({row['images_per_s']:,.0f} img/s)")
    return "  ".join(parts)
