"""Typed, user-facing errors.

Every error a user can cause is one of these. Each message names the problem and says how to fix it,
so the CLI can print ``str(error)`` and exit without a traceback.
"""

from __future__ import annotations

from typing import TypeVar


class ConvarchError(Exception):
    """Base class of every error convarch raises for a user's mistake.

    A message names options in the API's words (``batch_size``, ``lr``), never a command-line flag.
    ``options`` lists the keyword arguments its advice names (``advising``), so the CLI can add its own
    flags for them (``batch_size`` is ``--batch-size``); an option may carry an example value after a space
    (``set N=2`` is ``--set N=2``).
    """

    exit_code = 1
    options: tuple[str, ...] = ()


E = TypeVar("E", bound=ConvarchError)


def advising(error: E, *options: str) -> E:
    """``error``, marked with the API options its advice names (for the CLI to show as flags)."""
    error.options = options
    return error


class PatternError(ConvarchError, ValueError):
    """A pattern text that does not parse; the message carries line, column and a caret."""

    exit_code = 2

    def __init__(self, message: str, *, line: int = 0, column: int = 0, excerpt: str = "") -> None:
        self.line, self.column, self.excerpt, self.reason = line, column, excerpt, message
        text = message if not line else f"line {line}, column {column}: {message}"
        if excerpt:
            text = f"{text}\n{excerpt}"
        super().__init__(text)


class SizingError(ConvarchError, ValueError):
    """A volume that does not work out; the message names the layer and shows the arithmetic.

    ``rule`` is the sizing checker's rule id for this failure (``analysis/findings.py: RULES``), set where
    the error is raised so that rewording a message never changes the rule.
    """

    def __init__(self, message: str, *, layer: str = "", rule: str = "volume-error") -> None:
        self.layer, self.reason, self.rule = layer, message, rule
        super().__init__(f"{layer}: {message}" if layer else message)


class WeightsError(ConvarchError):
    """Missing file, hash mismatch, refused unsafe file, or a key/shape mismatch."""


class UnknownModelError(ConvarchError, LookupError):
    """A model name that is not registered; the message suggests the closest names."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""


class ConfigError(ConvarchError, ValueError):
    """An argument out of range or inconsistent with others (num_classes < 0, ...)."""


class DataError(ConvarchError):
    """A dataset that cannot be used: empty folder, one class, unknown name, unreadable images."""


class ExportError(ConvarchError):
    """A model that cannot be exported (the message names the layer), or an export that failed its check."""


class MissingDependencyError(ConvarchError, ImportError):
    """An optional package a feature needs is not installed; the message says which extra installs it."""
