"""Library errors name API options; only the command line turns them into its flags (``with_flags``)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from typer.main import get_command

import convarch
from convarch.cli import with_flags
from convarch.cli.app import app
from convarch.errors import ConfigError, advising

SOURCE = Path(convarch.__file__).parent
# Where an error's words are written: the raise itself, a ``message = ...`` built for it, an ``advice=`` argument.
ERROR_TEXT = ("message", "advice")


def cli_flags() -> set[str]:
    """Every long option of every ``convarch`` command."""
    flags: set[str] = set()
    pending = [get_command(app)]
    while pending:
        command = pending.pop()
        for param in command.params:
            flags.update(opt for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--"))
        pending.extend(getattr(command, "commands", {}).values())
    return flags


def names_error_text(name: str | None) -> bool:
    return name is not None and any(word in name for word in ERROR_TEXT)


def error_texts(tree: ast.AST) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        scope: ast.AST | None = node if isinstance(node, ast.Raise) else None
        if isinstance(node, ast.Assign) and any(names_error_text(getattr(t, "id", None)) for t in node.targets):
            scope = node.value
        if isinstance(node, ast.keyword) and names_error_text(node.arg):
            scope = node.value
        if scope is not None:
            yield from (c for c in ast.walk(scope) if isinstance(c, ast.Constant) and isinstance(c.value, str))


def test_library_errors_name_no_command_line_flag() -> None:
    flags = cli_flags()
    assert {"--out", "--set", "--weights", "--batch-size"} <= flags  # the scan below looks for real flags
    named = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(flags, key=len, reverse=True))) + r")(?![\w-])")
    found = [
        f"{path.relative_to(SOURCE)}:{text.lineno}: {named.search(text.value)[0]}"  # type: ignore[index]
        for path in sorted(SOURCE.rglob("*.py"))
        if path.relative_to(SOURCE).parts[0] != "cli"
        for text in error_texts(ast.parse(path.read_text()))
        if named.search(text.value)
    ]
    assert found == []


def test_with_flags_spells_the_options_an_error_advises_as_flags() -> None:
    assert with_flags(ConfigError("the run diverged")) == "the run diverged"
    error = advising(ConfigError("batch_size 512 does not fit; lower it"), "batch_size", "device")
    assert with_flags(error) == "--batch-size 512 does not fit; lower it (on the command line: --device)"
    error = advising(ConfigError("give N a value, e.g. N=2"), "set N=2")  # an option with an example value
    assert with_flags(error) == "give N a value, e.g. N=2 (on the command line: --set N=2)"
