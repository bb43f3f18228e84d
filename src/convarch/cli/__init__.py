"""The ``convarch`` command. It holds no logic of its own: every command calls the public API.

A user's mistake (a ``ConvarchError``) prints one clear message and exits non-zero, never a traceback.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from typer import TyperException

from convarch.cli.app import app, console, err_console
from convarch.errors import ConvarchError

# Each module registers its commands on ``app`` when imported.
from convarch.cli import zoo_commands  # noqa: F401  isort: skip
from convarch.cli import demo_command  # noqa: F401  isort: skip
from convarch.cli import pattern_commands  # noqa: F401  isort: skip
from convarch.cli import weights_commands  # noqa: F401  isort: skip
from convarch.cli import analysis_commands  # noqa: F401  isort: skip
from convarch.cli import train_commands  # noqa: F401  isort: skip
from convarch.cli import draw_command  # noqa: F401  isort: skip
from convarch.cli import deploy_commands  # noqa: F401  isort: skip
from convarch.cli import explorer_commands  # noqa: F401  isort: skip


def flag(option: str) -> str:
    """The command-line spelling of an API option: ``batch_size`` is ``--batch-size``; an option given with
    an example value keeps it (``set N=2`` is ``--set N=2``)."""
    name, space, example = option.partition(" ")
    return "--" + name.replace("_", "-") + space + example


def with_flags(error: ConvarchError) -> str:
    """The error's message with the options its advice names (``ConvarchError.options``) as flags: a
    message that starts with its option starts with the flag instead; otherwise the flags follow."""
    text, options = str(error), error.options
    if not options:
        return text
    if text.startswith(options[0] + " "):
        text, options = flag(options[0]) + text[len(options[0]) :], options[1:]
    return f"{text} (on the command line: {', '.join(map(flag, options))})" if options else text


def main(argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, prog_name="convarch", standalone_mode=False)
    except ConvarchError as error:
        # escape: a pattern excerpt such as "[a: CONV3-64]" would otherwise be read as rich markup and vanish
        err_console.print(f"[bold red]error:[/] {escape(with_flags(error))}", highlight=False, markup=True,
                          soft_wrap=True)  # fmt: skip
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return 2
    except TyperException as error:  # typer's bundled click: an unknown option, a missing argument, ...
        if hasattr(error, "show"):
            error.show()
        else:
            err_console.print(f"error: {escape(str(error))}")
        return getattr(error, "exit_code", 2)
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    return result if isinstance(result, int) else 0


__all__ = ["app", "console", "main"]

if __name__ == "__main__":
    sys.exit(main())
