"""Output paths for results: checked (suffix, directory) before any work; written with ``convarch.io``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from convarch.errors import ConfigError


def output_path(path: str | Path, suffixes: Iterable[str], what: str = "output") -> Path:
    """The path as a ``Path``, refused early (before any work) if its suffix or directory is wrong."""
    path = Path(path).expanduser()
    allowed = tuple(suffixes)
    if path.suffix.lower() not in allowed:
        raise ConfigError(f"{what} file {path} must end in {', '.join(allowed)}; got {path.suffix or 'no suffix'}")
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: the directory {path.parent} does not exist; create it first")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a directory; give a file name")
    return path
