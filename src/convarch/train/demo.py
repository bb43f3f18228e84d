"""The main job (``make demo`` -> ``convarch demo``): train LeNet-5, then show "don't be a hero" on real data.

1. Train ``lenet5`` on ``mnist5k`` (4,000 training digits) and report its accuracy on the 1,000 held out.
2. For each seed: take 10 labelled images per class of the UCI ``digits`` and
   - fine-tune the MNIST network on them (``ca.finetune``: new head, frozen phase, discriminative rates);
   - train the same LeNet-5 from scratch on the same 100 images;
   - evaluate both on the rest of ``digits`` (1,697 images), with the MNIST network as it is for reference.
3. Write ``runs/demo/README.md`` with the numbers and the charts.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from convarch.errors import ConfigError, advising
from convarch.io import write_failure, write_text
from convarch.train import checkpoint as ckpt
from convarch.train.finetune import FINETUNE_DEFAULTS, FREEZE_EPOCHS, LAYER_DECAY, finetune
from convarch.train.inference import evaluate
from convarch.train.run import train
from convarch.viz.training import comparison_chart, confusion_chart, learning_curves

MODEL = "lenet5"
TITLE = "# convarch demo: LeNet-5, and don't be a hero"  # the report's first line
MARKER = ".convarch-demo"  # marks a directory the demo may clear
LABELS_PER_CLASS = 10
# From scratch gets the same number of epochs and batch size as fine-tuning, and the recipe that did best
# for it among those tried (benchmarks/RESULTS.md): AdamW at lr 2e-3.
SCRATCH = {"epochs": FINETUNE_DEFAULTS["epochs"], "batch_size": FINETUNE_DEFAULTS["batch_size"], "optimizer": "adamw",
           "lr": 2e-3}  # fmt: skip


@dataclass
class DemoResult:
    pretrain_top1: float
    pretrain_seconds: float
    rows: list[dict[str, float]] = field(default_factory=list)
    report: Path | None = None
    seconds: float = 0.0

    @property
    def finetuned_mean(self) -> float:
        return sum(r["finetuned"] for r in self.rows) / len(self.rows)

    @property
    def scratch_mean(self) -> float:
        return sum(r["scratch"] for r in self.rows) / len(self.rows)


def run_demo(out: str | Path = "runs/demo", *, seeds: int = 3, console: Console | None = None,
             quiet: bool = False, quick: bool = False) -> DemoResult:  # fmt: skip
    """The whole demo; ``quick`` runs every step with a couple of epochs (a smoke test, not a result)."""
    console = console or Console()
    pre_options: dict[str, Any] = {"epochs": 1} if quick else {}
    tune_options: dict[str, Any] = {"epochs": 2, "freeze_epochs": 1} if quick else {}
    scratch_options = {**SCRATCH, "epochs": 2} if quick else SCRATCH
    out = Path(out)
    started = time.perf_counter()
    prepare_out(out, seeds)
    say = (lambda text: None) if quiet else (lambda text: console.print(text, highlight=False, soft_wrap=True))

    say(f"[bold]1. Train {MODEL} on mnist5k[/] (4,000 training digits, 1,000 held out)")
    pretrain = train(MODEL, "mnist5k", out=out / "lenet5-mnist5k", quiet=quiet, console=console, **pre_options)
    pretrain_seconds = time.perf_counter() - started
    say(f"   held-out top-1: [bold]{pretrain.final_top1:.2%}[/] in {pretrain_seconds:.0f} s\n")
    weights = out / "lenet5-mnist5k" / ckpt.LAST
    result = DemoResult(pretrain.final_top1, pretrain_seconds)

    say(f"[bold]2. Don't be a hero[/]: {LABELS_PER_CLASS} labelled digits per class (100 images), {seeds} seeds")
    runs: dict[int, dict[str, Any]] = {}
    for seed in range(seeds):
        split = {"labels_per_class": LABELS_PER_CLASS, "split_seed": seed, "seed": seed}
        tuned = finetune(data="digits", weights=weights, out=out / f"finetune-seed{seed}", quiet=True, **split,
                         **tune_options)  # fmt: skip
        scratch = train(MODEL, "digits", out=out / f"scratch-seed{seed}", quiet=True, **split, **scratch_options)
        as_is = evaluate(weights, "digits", labels_per_class=LABELS_PER_CLASS, split_seed=seed, device="cpu")
        row = {"seed": seed, "scratch": scratch.final_top1, "finetuned": tuned.final_top1, "as_is": as_is.top1,
               "held_out": as_is.stats.count}  # fmt: skip
        result.rows.append(row)
        runs[seed] = {"tuned": tuned, "scratch": scratch}
        say(f"   seed {seed}: from scratch {row['scratch']:.2%}   fine-tuned {row['finetuned']:.2%}   "
            f"(the MNIST network as it is: {row['as_is']:.2%})")  # fmt: skip
    result.seconds = time.perf_counter() - started
    if not quiet:
        console.print(summary_table(result))
    result.report = write_report(out, result, pretrain.history, runs, tune_options, scratch_options)
    say(f"\nreport: {result.report}  ({result.seconds:.0f} s in all)")
    return result


def prepare_out(out: Path, seeds: int) -> None:
    """Make ``out`` the demo's directory, removing the demo's own runs from an earlier demo there.

    Runs are removed only from a directory the demo made (its marker file, or the report an earlier
    version wrote), so ``--out runs`` cannot delete a user's ``runs/lenet5-mnist5k`` from ``convarch train``.
    """
    if out.exists() and not out.is_dir():
        message = f"{out} is a file; the demo needs a directory: a new one, or an earlier demo's"
        raise advising(ConfigError(message), "out")
    if out.is_dir() and any(out.iterdir()) and not _made_by_demo(out):
        message = (f"{out} already holds files the demo did not write, and the demo replaces its runs there; "
                   "give a new or empty directory")  # fmt: skip
        raise advising(ConfigError(message), "out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as failure:
        raise advising(
            ConfigError(f"cannot create {out}: {write_failure(failure)}; choose another directory"), "out"
        ) from None
    write_text(out / MARKER, "Written by `convarch demo`; it replaces its own runs in this directory.\n")
    names = ["lenet5-mnist5k"] + [f"{kind}-seed{s}" for kind in ("finetune", "scratch") for s in range(max(seeds, 3))]
    for name in names:
        if (out / name / ckpt.CONFIG).is_file():
            shutil.rmtree(out / name)


def _made_by_demo(out: Path) -> bool:
    if (out / MARKER).is_file():
        return True
    report = out / "README.md"
    return report.is_file() and report.read_text(encoding="utf-8", errors="replace").startswith(TITLE)


def summary_table(result: DemoResult) -> Table:
    table = Table(title="rest of digits, held-out top-1", title_justify="left")
    for header in ("seed", "images", "MNIST net as is", "from scratch", "fine-tuned", "gain"):
        table.add_column(header, justify="right")
    for row in result.rows:
        table.add_row(str(row["seed"]), str(row["held_out"]), f"{row['as_is']:.2%}", f"{row['scratch']:.2%}",
                      f"{row['finetuned']:.2%}", f"{100 * (row['finetuned'] - row['scratch']):+.1f} pt")  # fmt: skip
    gain = 100 * (result.finetuned_mean - result.scratch_mean)
    as_is = sum(r["as_is"] for r in result.rows) / len(result.rows)
    table.add_row("mean", "", f"{as_is:.2%}", f"{result.scratch_mean:.2%}", f"{result.finetuned_mean:.2%}",
                  f"{gain:+.1f} pt", style="bold")  # fmt: skip
    return table


def write_report(out: Path, result: DemoResult, pretrain_history: list[dict[str, Any]],
                 runs: dict[int, dict[str, Any]], tune_options: dict[str, Any],
                 scratch_options: dict[str, Any]) -> Path:  # fmt: skip
    charts = out / "charts"
    charts.mkdir(exist_ok=True)
    learning_curves({"lenet5 on mnist5k": pretrain_history}, charts / "mnist5k-curves.png",
                    title="LeNet-5 on MNIST-5k (4,000 training images)")  # fmt: skip
    first = runs[min(runs)]
    pair = {"fine-tuned": first["tuned"].history, "from scratch": first["scratch"].history}
    learning_curves(pair, charts / "digits-curves.png", title="digits, 10 per class (seed 0); shaded: frozen phase")
    comparison_chart(result.rows, charts / "scratch-vs-finetuned.png",
                     title="rest of digits: from scratch vs fine-tuned from MNIST")  # fmt: skip
    tuned_eval = evaluate(out / "finetune-seed0" / ckpt.LAST, "digits", device="cpu")
    confusion_chart(tuned_eval.stats.confusion, tuned_eval.class_names, charts / "finetuned-confusion.png",
                    title=f"fine-tuned (seed 0) on the rest of digits: top-1 {tuned_eval.top1:.2%}")  # fmt: skip
    lines = [
        TITLE,
        "",
        f"## 1. LeNet-5 on MNIST-5k: {result.pretrain_top1:.2%} held-out top-1",
        "",
        f"`convarch train lenet5 --data mnist5k`: 4,000 training digits, 1,000 held out (100 per class, seed 0), "
        f"{len(pretrain_history)} epochs with the defaults, {result.pretrain_seconds:.0f} s including data loading.",
        "",
        "![learning curves](charts/mnist5k-curves.png)",
        "",
        f"## 2. Fine-tuned {100 * result.finetuned_mean:.1f}% vs from scratch {100 * result.scratch_mean:.1f}%",
        "",
        f"{LABELS_PER_CLASS} labelled images per class of the UCI digits (100 images), evaluated on the rest "
        f"({result.rows[0]['held_out']} images). Fine-tuned: `convarch finetune --weights "
        f"lenet5-mnist5k/last.safetensors --data digits --labels-per-class {LABELS_PER_CLASS}` (new head, "
        f"{tune_options.get('freeze_epochs', FREEZE_EPOCHS)} frozen epochs on cached features, then all layers "
        f"with layer decay {LAYER_DECAY}, {tune_options.get('epochs', FINETUNE_DEFAULTS['epochs'])} epochs in all). "
        f"From scratch: the same LeNet-5 on the same images, {scratch_options['epochs']} epochs, batch "
        f"{scratch_options['batch_size']}, {scratch_options['optimizer']} at lr {scratch_options['lr']:g}.",
        "",
        "| seed | MNIST net as is | from scratch | fine-tuned | gain |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in result.rows:
        lines.append(f"| {row['seed']} | {row['as_is']:.2%} | {row['scratch']:.2%} | {row['finetuned']:.2%} | "
                     f"{100 * (row['finetuned'] - row['scratch']):+.1f} pt |")  # fmt: skip
    as_is = sum(row["as_is"] for row in result.rows) / len(result.rows)
    lines += [
        f"| **mean** | {as_is:.2%} | **{result.scratch_mean:.2%}** | **{result.finetuned_mean:.2%}** | "
        f"**{100 * (result.finetuned_mean - result.scratch_mean):+.1f} pt** |",
        "",
        "![scratch vs fine-tuned](charts/scratch-vs-finetuned.png)",
        "",
        "![learning curves](charts/digits-curves.png)",
        "",
        "![confusion matrix](charts/finetuned-confusion.png)",
        "",
        f"The whole demo took {result.seconds:.0f} s. Every run directory holds its checkpoints "
        "(`last`/`best.safetensors`), `metrics.csv` and the split it used (`data.json`).",
        "",
    ]
    report = out / "README.md"
    ckpt.write_text(report, "\n".join(lines))
    return report
