"""Output paths for results: checked (suffix here, the rest by ``convarch.io``) before any work."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from convarch.errors import ConfigError
from convarch.io import writable_target


def output_path(path: str | Path, suffixes: Iterable[str], what: str = "output") -> Path:
    """The path as a ``Path``, refused early (before any work) if its suffix or directory is wrong."""
    allowed = tuple(suffixes)
    if not str(path).strip():
        raise ConfigError(f"the {what} file's path is empty: give a file name ending in {', '.join(allowed)}")
    path = Path(path).expanduser()
    if path.suffix.lower() not in allowed:
        raise ConfigError(f"{what} file {path} must end in {', '.join(allowed)}; got {path.suffix or 'no suffix'}")
    return writable_target(path)
