"""Options shared by the commands that take pattern text: ``--input HxWxC``, ``--set NAME=VALUE``, ``--num-classes``.

They turn into the keywords of ``ca.build`` / ``ca.check`` / ``ca.analyze``: ``input_size`` (C, H, W),
``num_classes``, and template variables or binding options (``N=2``, ``base_width=64``, ``optional=keep``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from convarch.api import is_model_name, resolve
from convarch.cli.app import err_console
from convarch.errors import ConfigError, ConvarchError
from convarch.spec.bind import BIND_OPTIONS, check_names
from convarch.spec.edit import num_classes_of
from convarch.spec.settings_text import input_size, settings

InputOption = Annotated[
    str | None,
    typer.Option("--input", help="Input volume HxWxC such as 32x32x3; fills a bare INPUT, replaces the pattern's."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Bind a template variable or option: --set N=2 --set M=3 --set base_width=64."),
]
NumClassesOption = Annotated[
    int | None, typer.Option("--num-classes", help="Classes of the final FC (a template's last FC gets this).")
]


def read_pattern(value: str) -> str:
    """A pattern argument as given, or read from stdin (``-``) or a file (``@net.txt``): long patterns, with
    comments and one layer per line, are easier to keep in a file than to quote on a command line."""
    if value == "-":
        text = sys.stdin.read()
        where = "standard input"
    elif isinstance(value, str) and value.startswith("@") and len(value) > 1:
        path = Path(value[1:]).expanduser()
        if not path.is_file():
            state = "is a directory" if path.is_dir() else "does not exist"
            raise typer.BadParameter(f"{value}: {path} {state}; @FILE reads the pattern from a text file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise typer.BadParameter(f"{value}: {path} could not be read as UTF-8 text ({error})") from None
        where = str(path)
    else:
        return value
    if not text.strip():
        raise typer.BadParameter(f"{where} holds no pattern: it is empty")
    return text


def pattern_argument(help: str) -> Any:
    """A command's pattern argument: text as given, ``-`` for stdin or ``@FILE`` (see ``read_pattern``)."""
    return typer.Argument(help=f"{help} '-' reads it from stdin, @FILE from a text file.", parser=read_pattern)


def template_settings(source: str | None, sets: list[str] | None) -> dict[str, Any]:
    """``--set`` for a command that hands the bindings on with its other options (train, finetune, export):
    the names are checked against the pattern now, so a misspelt one is named as such, with the closest."""
    found = settings(sets)
    if found:
        if source is None or is_model_name(source) or Path(source).exists():  # a name, a checkpoint, a resume
            raise not_a_template(source)
        check_names(resolve(source), found)
    return found


def not_a_template(source: str | None) -> ConfigError:
    """``--set`` given for a zoo name, a checkpoint or a resumed run: the one message every command gives."""
    return ConfigError(f"--set binds the variables of a template pattern; {source or 'this run'} is not one")


def keywords(
    input_text: str | None, sets: list[str] | None, num_classes: int | None, *, source: str | None = None
) -> dict[str, Any]:
    """The keywords of ``build``/``check``/``analyze`` for these options (only the ones given). With the
    ``source`` they apply to, ``--num-classes`` on a network without a final FC says that it appends one."""
    found: dict[str, Any] = settings(sets)
    if source is not None and is_model_name(source) and set(found) - set(BIND_OPTIONS):
        raise not_a_template(source)  # as train and export say it
    for name in ("input_size", "num_classes"):
        if name in found:
            raise ConfigError(f"use --{name.replace('_', '-')}" + (" HxWxC" if name == "input_size" else "")
                              + f" rather than --set {name}=...")  # fmt: skip
    size = input_size(input_text)
    if size is not None:
        found["input_size"] = size
    if num_classes is not None:
        found["num_classes"] = num_classes
        if num_classes and source is not None and _has_no_classifier(source):
            err_console.print(
                f"note: the network has no final FC, so --num-classes {num_classes} appends FC{num_classes}"
            )
    return found


def _has_no_classifier(source: str) -> bool:
    try:
        return num_classes_of(resolve(source)) == 0
    except ConvarchError:  # not one network (a name filter): the command itself explains
        return False
