"""``convarch list`` and ``convarch show``: the zoo and one network, in the seed's notation."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from convarch.analysis.render import gmacs_text, human
from convarch.api import analyze, is_model_name, resolve, to_pattern
from convarch.cli.app import app, console
from convarch.cli.options import InputOption, NumClassesOption, SetOption, keywords, pattern_argument
from convarch.errors import ConfigError, PatternError
from convarch.pattern.parser import parse
from convarch.spec.bind import bind
from convarch.zoo.registry import NAME_FILTER, close_names, list_models, model_info, name_filter_matches

GLOB_CHARS = set("*?[")
GLOB_STAR = re.compile(r"\*(?![0-9A-Za-z_])")  # a '*' with no repeat count after it: a glob, not a repeat


def zoo_table(names: list[str]) -> Table:
    table = Table(title="convarch model zoo", title_justify="left")
    for header in ("name", "family", "year", "params", "GMACs", "input"):
        table.add_column(header, justify="right" if header in ("year", "params", "GMACs") else "left")
    for name in names:
        info = model_info(name)
        report = analyze(name)
        c, h, w = info.input_size
        table.add_row(name, info.family, str(info.year), human(report.params), gmacs_text(report.macs),
                      f"{h}x{w}x{c}")  # fmt: skip
    return table


def _parses(text: str) -> bool:
    try:
        parse(text)
    except PatternError:
        return False
    return True


@app.command("list")
def list_command(
    pattern: Annotated[
        str,
        pattern_argument("Shell-style filter such as 'resnet*', or pattern text."),
    ] = "*",
    input_text: InputOption = None,
    sets: SetOption = None,
    num_classes: NumClassesOption = None,
    pretrained: Annotated[bool, typer.Option("--pretrained", help="Only models with registered weights.")] = False,
) -> None:
    """List the zoo models (name, family, year, params, GMACs, input size)."""
    options = keywords(input_text, sets, num_classes, source=pattern)
    if name_filter_matches(pattern) or _meant_as_name(pattern):  # RESNET1*, vgg1[69], vgg99: names
        if options:
            raise ConfigError("--input, --set and --num-classes apply to pattern text; `convarch show NAME` takes them")
        names = list_models(pattern.strip(), pretrained=pretrained)
        if not names:
            console.print(_no_match(pattern.strip(), pretrained))
            raise typer.Exit(1)
        console.print(zoo_table(names))
        return
    report = analyze(pattern, **options)  # pattern text: one row describing it (a mistake shows its caret)
    table = Table(title="pattern", title_justify="left")
    for header in ("pattern", "params", "GMACs", "input"):
        table.add_column(header)
    text = to_pattern(bind(resolve(pattern), **options) if options else resolve(pattern))
    table.add_row(Text(text), human(report.params), gmacs_text(report.macs), str(report.input))
    console.print(table)


def _no_match(text: str, pretrained: bool) -> str:
    """Why a name filter lists nothing, with the filter that would list something."""
    which = "with registered weights " if pretrained else ""
    starting = [] if GLOB_CHARS & set(text) else list_models(text + "*", pretrained=pretrained)
    if starting:  # ``resnet``: a family's prefix, not a model's name
        return (f"no model {which}is named {text!r}; `convarch list '{text}*'` lists the {len(starting)} whose "
                "names start with it")  # fmt: skip
    close = close_names(text.strip("*?"))
    hint = f" (did you mean {', '.join(close)}?)" if close and not pretrained else ""
    glob = (
        " (as pattern text, '*' takes a repeat count: CONV3-8*2)"
        if not hint and text != text.lower() and "*" in text
        else ""
    )
    return f"no model {which}matches {text!r}{hint}{glob}; `convarch list` shows them all"


def _meant_as_name(text: str) -> bool:
    """Name-filter text that is no pattern: lower case (layers are upper case), close to a model's name, or
    with a ``*`` that has no repeat count after it (``CONV*``: a glob; pattern text writes ``CONV3-8*2``)."""
    text = text.strip()
    if not NAME_FILTER.fullmatch(text) or _parses(text):
        return False
    return text == text.lower() or bool(GLOB_STAR.search(text)) or bool(close_names(text.strip("*?")))


@app.command("show")
def show_command(
    name: Annotated[str, pattern_argument("A zoo model name, or pattern text in quotes.")],
    compact: Annotated[bool, typer.Option(help="Only layers with weights or a new volume.")] = False,
    input_text: InputOption = None,
    sets: SetOption = None,
    num_classes: NumClassesOption = None,
) -> None:
    """Show a model's paper, figures and deviations, and its layers' volumes and params."""
    options = keywords(input_text, sets, num_classes, source=name)
    text = to_pattern(bind(resolve(name), **options) if options else name)  # a mistake shows before any output
    report = analyze(name, **options)
    if is_model_name(name):
        info = model_info(name)
        console.print(f"[bold]{info.name}[/]  ({info.family}, {info.year})")
        console.print(f"paper: {info.paper.cite()}")
        if info.ilsvrc:
            console.print(f"ILSVRC: {info.ilsvrc}")
        for label, figure in (("params", info.params), ("GMACs", info.gmacs), ("top-1", info.top1),
                              ("top-5", info.top5)):  # fmt: skip
            if figure is not None:
                console.print(f"published {label}: {figure}")
        for title, lines in (("deviations from the paper", info.deviations), ("notes", info.notes)):
            if lines:
                console.print(f"{title}:")
                for line in lines:
                    console.print(f"  - {line}")
    console.print(Text(f"pattern: {text}"), soft_wrap=True)  # Text: a label such as [a: ...] is not markup
    console.print(report.to_table(compact=compact))
    target = info.name if is_model_name(name) else "net"
    given = [f"--input {input_text}"] if input_text else []
    given += [f"--set {setting}" for setting in sets or []]
    command = " ".join(["convarch draw", _quoted(name), *given, f"--out {target}.svg"])
    console.print(Text(f"draw it: {command}  (--style block or graph; --at PATH for one module; .png also works)"),
                  soft_wrap=True)  # fmt: skip


def _quoted(name: str) -> str:
    return name if is_model_name(name) else "'" + name.replace("'", "'\\''") + "'"
