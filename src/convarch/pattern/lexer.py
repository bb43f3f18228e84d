"""Pattern text -> tokens, each with its line and column for error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from convarch.errors import PatternError
from convarch.spec.limits import MAX_TEXT

# A digit run longer than this cannot be a valid size (the limit is MAX_DIM) or a float the printer
# writes (17 significant digits), and Python refuses int() of very long strings: stop it here.
MAX_DIGITS = 40


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, NUMBER, ARROW, or the symbol itself: [ ] { } ( ) | * ? , = : -
    text: str
    line: int
    column: int
    offset: int


# Spaces a user pastes from a document count as spaces: no-break, thin and ideographic ones, the
# zero-width space and the byte-order mark. Inside ``H x W`` only spaces on the same line are allowed.
_BLANK = "\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff"
_INLINE = rf"[ \t{_BLANK}]*"
BLANKS = " \t\u00a0" + "".join(map(chr, range(0x2000, 0x200C))) + "\u202f\u205f\u3000\ufeff"  # for str.strip

_TOKEN = re.compile(
    rf"""
    (?P<space>[ \t\r\n{_BLANK}]+|\#[^\n]*)
  | (?P<ARROW>->|→)
  | (?P<NUMBER>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?:{_INLINE}[xX×]{_INLINE}\d+)*)
  | (?P<WORD>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<symbol>[\[\]{{}}()|*?,=:\-])
    """,
    re.VERBOSE | re.ASCII,  # ASCII: \d must not match other scripts' digits, which int() would accept
)


def excerpt(text: str, line: int, column: int, width: int = 1) -> str:
    """The offending source line with a caret under the fault."""
    lines = text.split("\n")
    # Tabs and other control characters would push the caret out of line: show each as one space.
    source = "".join(" " if ch < " " else ch for ch in (lines[line - 1] if 0 < line <= len(lines) else ""))
    if len(source) > 120:  # keep long one-line patterns readable around the fault
        start = max(0, column - 60)
        source = ("..." if start else "") + source[start : start + 120]
        column = column - start + (3 if start else 0)
    return f"  {source}\n  {' ' * (column - 1)}{'^' * max(1, min(width, len(source) - column + 1, 80))}"


def shown(text: str, limit: int = 40) -> str:
    """A token for an error message, shortened so a huge one cannot flood the message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_at(text: str, token: Token | None, message: str, *, line: int = 0, column: int = 0) -> PatternError:
    """A PatternError at ``token`` (or at ``line``/``column``) with the caret excerpt."""
    if token is not None:
        line, column = token.line, token.column
    width = len(token.text) if token is not None and token.kind != "EOF" else 1
    return PatternError(message, line=line, column=column, excerpt=excerpt(text, line, column, width))


def tokenize(text: str) -> list[Token]:
    """Split pattern text into tokens; a character outside the language is a PatternError at its place."""
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
        if kind in ("NUMBER", "WORD") and re.search(rf"\d{{{MAX_DIGITS + 1}}}", value):  # FC999... is a WORD
            column = pos - line_start + 1
            raise error_at(
                text, None, f"a number with more than {MAX_DIGITS} digits; sizes are at most 65,536",
                line=line, column=column,
            )  # fmt: skip
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
