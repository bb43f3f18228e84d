"""``convarch demo``: the main job on built-in data (``make demo``): LeNet-5, then "don't be a hero"."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convarch.cli.app import app, console


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Where the runs and the Markdown report go.")] = Path("runs/demo"),
    seeds: Annotated[int, typer.Option(min=1, help="Seeds of the fine-tune vs scratch comparison.")] = 3,
    quiet: Annotated[bool, typer.Option(help="No progress bars or lines, only the report.")] = False,
    quick: Annotated[bool, typer.Option(help="A couple of epochs per step: a smoke test, not a result.")] = False,
) -> None:
    """Train LeNet-5 on MNIST-5k, then fine-tune it on 10 digits per class vs from scratch; write a report."""
    from convarch.train.demo import run_demo  # matplotlib loads only for the commands that draw

    result = run_demo(out, seeds=seeds, console=console, quiet=quiet, quick=quick)
    if quiet:
        console.print(str(result.report))
