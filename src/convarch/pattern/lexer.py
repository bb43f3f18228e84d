"""Pattern text -> tokens, each with its line and column for error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from convarch.errors import PatternError
from convarch.spec.limits import MAX_TEXT


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, NUMBER, ARROW, or the symbol itself: [ ] { } ( ) | * ? , = : -
    text: str
    line: int
    column: int
    offset: int


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+|\#[^\n]*)
  | (?P<ARROW>->|→)
  | (?P<NUMBER>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?:[xX]\d+)*)
  | (?P<WORD>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<symbol>[\[\]{}()|*?,=:\-])
    """,
    re.VERBOSE,
)


def excerpt(text: str, line: int, column: int, width: int = 1) -> str:
    """The offending source line with a caret under the fault."""
    lines = text.split("\n")
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    if len(source) > 120:  # keep long one-line patterns readable around the fault
        start = max(0, column - 60)
        source = ("..." if start else "") + source[start : start + 120]
        column = column - start + (3 if start else 0)
    return f"  {source}\n  {' ' * (column - 1)}{'^' * max(1, width)}"


def error_at(text: str, token: Token | None, message: str, *, line: int = 0, column: int = 0) -> PatternError:
    if token is not None:
        line, column = token.line, token.column
    width = len(token.text) if token is not None and token.kind != "EOF" else 1
    return PatternError(message, line=line, column=column, excerpt=excerpt(text, line, column, width))


def tokenize(text: str) -> list[Token]:
    if not isinstance(text, str):
        raise PatternError(f"a pattern must be text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise PatternError(f"the pattern is {len(text):,} characters long; the limit is {MAX_TEXT:,}")
    tokens: list[Token] = []
    line, line_start, pos = 1, 0, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            column = pos - line_start + 1
            raise error_at(
                text,
                None,
                f"unexpected character {text[pos]!r}; a pattern uses names, numbers, "
                "'->', brackets, '*', '?', ',', '=' and '#' comments",
                line=line,
                column=column,
            )
        kind = match.lastgroup
        value = match.group()
        if kind != "space":
            kind = value if kind == "symbol" else kind
            tokens.append(Token(kind, value, line, pos - line_start + 1, pos))
        newlines = value.count("\n")
        if newlines:
            line += newlines
            line_start = pos + value.rindex("\n") + 1
        pos = match.end()
    tokens.append(Token("EOF", "", line, pos - line_start + 1, pos))
    return tokens
