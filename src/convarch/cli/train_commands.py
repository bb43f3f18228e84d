"""``convarch train``, ``finetune``, ``evaluate`` and ``predict``: thin wrappers over the public API.

Options left out stay ``None`` so the library's defaults apply and ``--resume`` can tell what was given.
``torchrun --nproc_per_node=N -m convarch train ...`` runs the same command on N processes.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from convarch.api import is_model_name
from convarch.cli.app import app, console, err_console
from convarch.cli.options import SetOption, pattern_argument, template_settings
from convarch.data.builtin import BUILTIN
from convarch.errors import ConfigError, ConvarchError
from convarch.train import checkpoint as ckpt
from convarch.train.finetune import FREEZE_EPOCHS, LAYER_DECAY, finetune
from convarch.train.inference import SPLITS, Evaluation, evaluate, predict
from convarch.train.run import train
from convarch.train.trainer import TrainResult
from convarch.weights.checkpoint import read_header

DataOpt = Annotated[
    str | None, typer.Option("--data", help="mnist5k, digits, or a folder with one subfolder per class.")
]
Opt = typer.Option
RuntimeOpt = Annotated[str, Opt(help="torch or onnxruntime (implies --optimize).")]
OptimizeOpt = Annotated[bool, Opt("--optimize", help="Run ca.optimize's inference path (BN folded, native precision).")]


def _options(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


def default_out(model: str, data: str, suffix: str = "") -> Path:
    """``runs/<model>-<data><suffix>``, numbered when that directory already holds a run; a pattern is "pattern"."""
    name = model if is_model_name(model) else "pattern"
    source = data.lower() if data.lower() in BUILTIN else Path(data).name
    base = Path("runs") / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{name}-{source}{suffix}")
    candidate, number = base, 2
    while ckpt.has_state(candidate):
        candidate, number = base.with_name(f"{base.name}-{number}"), number + 1
    return candidate


def architecture_of(weights: str) -> str:
    """The zoo name a convarch checkpoint records, for naming the run; "pattern" when it has none."""
    try:
        return json.loads(read_header(weights).get("pretrained_cfg") or "{}").get("architecture") or "pattern"
    except (ConvarchError, ValueError):
        return "pattern"  # not a local convarch file (a registry source): finetune itself explains any problem


def _top5(value: float | None, template: str) -> str:
    """Top-5 in ``template``, or nothing where it says nothing (5 classes or fewer: every image is a hit)."""
    return "" if value is None else template.format(f"{value:.2%}")


def _report(result: TrainResult) -> None:
    if not result.history or result.rank != 0:
        return
    last = result.history[-1]
    console.print(
        f"held-out top-1 {last['val_top1']:.2%}{_top5(last['val_top5'], ' (top-5 {})')} after {last['epoch']} epochs; "
        f"best {result.best_top1:.2%} at epoch {result.best_epoch}",
        highlight=False,
        soft_wrap=True,
    )
    if result.out is not None:
        console.print(f"checkpoints and metrics in {result.out}/ ({ckpt.LAST}, {ckpt.BEST}, {ckpt.METRICS_CSV})",
                      soft_wrap=True)  # fmt: skip


@app.command("train")
def train_command(
    model: Annotated[
        str | None,
        pattern_argument("A zoo model name or pattern text (in quotes)."),
    ] = None,
    data: DataOpt = None,
    epochs: Annotated[int | None, Opt(help="Epochs [default: 30].")] = None,
    batch_size: Annotated[int | None, Opt(help="Images per step and process [default: 64].")] = None,
    lr: Annotated[float | None, Opt(help="Peak learning rate [default: 0.1 x batch/64 for SGD].")] = None,
    optimizer: Annotated[str | None, Opt(help="sgd or adamw [default: sgd].")] = None,
    weight_decay: Annotated[float | None, Opt(help="[default: 5e-4 for SGD, 0.05 for AdamW].")] = None,
    schedule: Annotated[str | None, Opt(help="onecycle, cosine or constant [default: onecycle].")] = None,
    warmup: Annotated[float | None, Opt(help="Warmup epochs [default: 0; a quarter for onecycle].")] = None,
    label_smoothing: Annotated[float | None, Opt(help="[default: 0.1].")] = None,
    augment: Annotated[str | None, Opt(help="none, padcrop, flip, rrc, or a comma list [default: the data's].")] = None,
    amp: Annotated[
        bool | None,
        Opt("--amp/--no-amp", help="Mixed precision: bf16 where native, fp16 on older GPUs [default: on for cuda]."),
    ] = None,
    channels_last: Annotated[
        bool | None, Opt("--channels-last/--no-channels-last", help="NHWC memory [default: on for cuda].")
    ] = None,
    cudnn_benchmark: Annotated[
        bool | None, Opt("--cudnn-benchmark/--no-cudnn-benchmark", help="cuDNN autotuner [default: on for cuda].")
    ] = None,
    compile: Annotated[bool | None, Opt("--compile/--no-compile", help="torch.compile the model.")] = None,
    compile_mode: Annotated[
        str | None, Opt(help="default, reduce-overhead (CUDA graphs: small nets) or max-autotune-no-cudagraphs.")
    ] = None,
    clip_grad: Annotated[float | None, Opt(help="Clip the gradient norm to this value.")] = None,
    ema: Annotated[bool | None, Opt("--ema/--no-ema", help="Keep, evaluate and save an EMA of the weights.")] = None,
    ema_decay: Annotated[float | None, Opt(help="[default: 0.998].")] = None,
    seed: Annotated[int | None, Opt(help="[default: 0].")] = None,
    device: Annotated[str | None, Opt(help="auto, cpu, cuda or mps [default: auto].")] = None,
    threads: Annotated[int | None, Opt(help="torch threads per process.")] = None,
    workers: Annotated[
        int | None, Opt(help="DataLoader workers for image folders [default: the CPUs for cuda, else 0].")
    ] = None,
    decode: Annotated[
        str | None, Opt(help="Decode folders streamed from disk on the cpu (PIL) or the gpu (nvJPEG) [default: cpu].")
    ] = None,
    cache: Annotated[
        bool | None, Opt("--cache/--no-cache", help="Hold a folder in memory [default: when it fits in 1 GiB].")
    ] = None,
    labels_per_class: Annotated[int | None, Opt(help="Train on this many images per class.")] = None,
    val_fraction: Annotated[float | None, Opt(help="Held-out share of a folder without val/ [default: 0.2].")] = None,
    split_seed: Annotated[int | None, Opt(help="Seed of the train/held-out split [default: 0].")] = None,
    out: Annotated[Path | None, Opt(help="Run directory [default: runs/MODEL-DATA].")] = None,
    resume: Annotated[Path | None, Opt(help="Continue the run in this directory exactly.")] = None,
    quiet: Annotated[bool, Opt(help="No progress bars.")] = False,
    sets: SetOption = None,
) -> None:
    """Train a zoo model or a pattern network on a dataset, with checkpoints every epoch."""
    options = _options(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay,
                       schedule=schedule, warmup=warmup, label_smoothing=label_smoothing, augment=augment, amp=amp,
                       channels_last=channels_last, cudnn_benchmark=cudnn_benchmark, compile=compile,
                       compile_mode=compile_mode, clip_grad=clip_grad, ema=ema, ema_decay=ema_decay, seed=seed,
                       device=device, threads=threads, num_workers=workers, decode=decode, cache=cache,
                       labels_per_class=labels_per_class, val_fraction=val_fraction, split_seed=split_seed)  # fmt: skip
    if resume is None and (model is None or data is None):
        raise typer.BadParameter("give MODEL and --data (or --resume DIR)")
    options.update(template_settings(model, sets))
    if resume is None and out is None:
        out = default_out(model, data)  # type: ignore[arg-type]
    with _resume_hint("train", resume or out):
        _report(train(model, data, out=out, resume=resume, quiet=quiet, console=console, **options))


@contextlib.contextmanager
def _resume_hint(command: str, run: Path | None) -> Iterator[None]:
    """Ctrl-C during a run: say how to continue it, where a checkpoint was written, then stop (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        if run is not None and (Path(run) / "state.safetensors").is_file():
            err_console.print(f"interrupted; continue the run with: convarch {command} --resume {run}",
                              highlight=False, soft_wrap=True)  # fmt: skip
        raise


@app.command("finetune")
def finetune_command(
    model: Annotated[
        str | None,
        pattern_argument("Zoo name or pattern; leave out for a convarch checkpoint."),
    ] = None,
    weights: Annotated[
        str | None, Opt(help="A checkpoint (.safetensors from convarch) or a pretrained source.")
    ] = None,
    data: DataOpt = None,
    freeze_epochs: Annotated[
        int | None,
        Opt(help=f"Epochs with a frozen backbone [default: a quarter of --epochs, rounded up; {FREEZE_EPOCHS} of 40]."),
    ] = None,
    layer_decay: Annotated[
        float | None, Opt(help=f"Each earlier stage's rate = this x the next one's [default: {LAYER_DECAY}].")
    ] = None,
    epochs: Annotated[int | None, Opt(help="Epochs in all, frozen ones included [default: 40].")] = None,
    batch_size: Annotated[int | None, Opt(help="[default: 16].")] = None,
    lr: Annotated[float | None, Opt(help="The classifier's rate when unfrozen [default: 0.02].")] = None,
    optimizer: Annotated[str | None, Opt(help="sgd or adamw [default: sgd].")] = None,
    augment: Annotated[str | None, Opt(help="none, padcrop, flip, rrc [default: the data's].")] = None,
    labels_per_class: Annotated[int | None, Opt(help="Train on this many images per class.")] = None,
    split_seed: Annotated[int | None, Opt(help="Seed of the train/held-out split [default: 0].")] = None,
    seed: Annotated[int | None, Opt(help="[default: 0].")] = None,
    amp: Annotated[bool | None, Opt("--amp/--no-amp", help="Mixed precision [default: on for cuda].")] = None,
    channels_last: Annotated[
        bool | None, Opt("--channels-last/--no-channels-last", help="NHWC memory [default: on for cuda].")
    ] = None,
    workers: Annotated[
        int | None, Opt(help="DataLoader workers for image folders [default: the CPUs for cuda, else 0].")
    ] = None,
    device: Annotated[str | None, Opt(help="auto, cpu, cuda or mps.")] = None,
    out: Annotated[Path | None, Opt(help="Run directory [default: runs/MODEL-DATA-finetune].")] = None,
    resume: Annotated[Path | None, Opt(help="Continue the run in this directory exactly.")] = None,
    quiet: Annotated[bool, Opt(help="No progress bars.")] = False,
    sets: SetOption = None,
) -> None:
    """Fine-tune pretrained weights: new head, frozen backbone first, then discriminative learning rates."""
    options = _options(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, augment=augment,
                       labels_per_class=labels_per_class, split_seed=split_seed, seed=seed, device=device, amp=amp,
                       channels_last=channels_last, num_workers=workers)  # fmt: skip
    options.update(template_settings(model, sets))
    if resume is None and (weights is None or data is None):
        raise typer.BadParameter("give --weights and --data (or --resume DIR)")
    if resume is None and out is None:
        out = default_out(model or architecture_of(str(weights)), data, "-finetune")  # type: ignore[arg-type]
    with _resume_hint("finetune", resume or out):
        result = finetune(model, data, weights=weights, freeze_epochs=freeze_epochs, layer_decay=layer_decay,
                          out=out, resume=resume, quiet=quiet, console=console, **options)  # fmt: skip
    _report(result)


@app.command("evaluate")
def evaluate_command(
    checkpoint: Annotated[Path, typer.Argument(help="A .safetensors checkpoint written by convarch.")],
    data: DataOpt = None,
    split: Annotated[str, Opt(help=f"{', '.join(SPLITS)}: the held-out side, the training side or both.")] = "val",
    confusion: Annotated[
        Path | None,
        Opt(help="Where to draw the confusion matrix (.png/.svg) [default: next to the checkpoint; none with --json]."),
    ] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the results as JSON.")] = False,
    device: Annotated[str, Opt(help="auto, cpu, cuda or mps.")] = "auto",
    batch_size: Annotated[int, Opt(help="Images per forward pass.")] = 256,
    runtime: RuntimeOpt = "torch",
    optimize: OptimizeOpt = False,
) -> None:
    """Top-1/top-5, per-class accuracy and a confusion-matrix chart of a checkpoint on a dataset."""
    if data is None:
        raise typer.BadParameter("give --data (mnist5k, digits or a folder)")
    from convarch.viz.save import chart_path  # matplotlib loads only for the commands that draw
    from convarch.viz.training import confusion_chart

    if checkpoint.is_dir() and (checkpoint / ckpt.BEST).is_file():  # a run: its best checkpoint, named as such
        checkpoint = checkpoint / ckpt.BEST
    if confusion is not None:
        chart_path(confusion)  # a wrong suffix or a missing directory fails now, not after the evaluation
    elif not as_json:  # JSON is for scripts: no file appears unless asked for
        name = data.lower() if data.lower() in BUILTIN else Path(data).name
        confusion = checkpoint.parent / f"confusion-{checkpoint.stem}-{name}.png"
    result = evaluate(checkpoint, data, split=split, device=device, batch_size=batch_size, runtime=runtime,
                      optimize=optimize)  # fmt: skip
    # The results are shown before the chart is drawn: a chart that cannot be written must not lose them.
    if as_json:
        console.print_json(json.dumps({**result.to_dict(), "confusion_chart": str(confusion) if confusion else None}))
    else:
        _print_evaluation(result, checkpoint, data, split)
    if confusion is None:
        return
    title = f"{checkpoint.name} on {data} ({split}): top-1 {result.top1:.2%}"
    try:
        chart = confusion_chart(result.stats.confusion, result.class_names, confusion, title=title)
    except ConvarchError as error:
        advice = "The results printed above are complete; give --confusion PATH to draw the chart elsewhere."
        raise ConfigError(f"{error} {advice}") from None
    if not as_json:
        console.print(f"confusion matrix: {chart}", soft_wrap=True)


def _print_evaluation(result: Evaluation, checkpoint: Path, data: str, split: str) -> None:
    summary = f"top-1 {result.top1:.2%}{_top5(result.top5, '  top-5 {}')}  loss {result.stats.loss:.4f}"
    console.print(f"{checkpoint} on {data} ({split}, {result.stats.count} images): {summary}", soft_wrap=True)
    if result.runtime != "torch eager":
        console.print(result.runtime, style="dim", soft_wrap=True, highlight=False, markup=False)
    table = Table(title="per-class accuracy", title_justify="left")
    for header in ("class", "images", "top-1"):
        table.add_column(header, justify="left" if header == "class" else "right")
    counts = result.stats.confusion.sum(dim=1).tolist()
    for name, count, accuracy in zip(result.class_names, counts, result.stats.per_class, strict=True):
        table.add_row(name, str(count), "n/a" if accuracy is None else f"{accuracy:.2%}")  # n/a: no image
    console.print(table)
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} unreadable image(s), not counted:", highlight=False)
        for path, reason in result.skipped[:10]:
            console.print(f"  {path}: {reason}", highlight=False, soft_wrap=True)
        if len(result.skipped) > 10:
            console.print(f"  ... and {len(result.skipped) - 10} more (all listed with --json)", highlight=False)


@app.command("predict")
def predict_command(
    checkpoint: Annotated[Path, typer.Argument(help="A .safetensors checkpoint written by convarch.")],
    images: Annotated[list[Path], typer.Argument(help="One or more image files.")],
    topk: Annotated[int, Opt(help="How many classes to show per image.")] = 5,
    device: Annotated[str, Opt(help="auto, cpu, cuda or mps.")] = "cpu",
    runtime: RuntimeOpt = "torch",
    optimize: OptimizeOpt = False,
) -> None:
    """Print the top-k classes and their probabilities for each image."""
    failed = 0
    for prediction in predict(checkpoint, list(images), topk=topk, device=device, runtime=runtime, optimize=optimize):
        if prediction.error:
            failed += 1
            err_console.print(
                f"{prediction.path}: cannot read it ({prediction.error})", highlight=False, soft_wrap=True
            )
            continue
        shown = ", ".join(f"{name} {p:.1%}" for name, p in prediction.top)
        console.print(f"{prediction.path}: {shown}", highlight=False)
    if failed:
        raise typer.Exit(1)
