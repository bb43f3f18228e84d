"""The Typer application and the consoles every command prints to."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

PIPED_WIDTH = 250  # columns for output that goes to a file or a pipe, where nothing wraps it


def make_console(*, stderr: bool = False) -> Console:
    """A rich console; when the output is not a terminal, tables are not cut down to 80 columns."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH
    return console


app = typer.Typer(
    name="convarch",
    help="The classic ConvNet architectures: build, read, check, measure, train and fine-tune them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = make_console()
err_console = make_console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from convarch import __version__

        console.print(f"convarch {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    # No docstring: the app's help text stays the one given to typer.Typer above.
    pass
