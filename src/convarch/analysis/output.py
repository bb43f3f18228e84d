"""Writing results to files: the path is checked first, and a file appears whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
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


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(temporary_path)`` in the target directory, then move the file into place."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    def write(temp: str) -> None:
        Path(temp).write_text(text, encoding="utf-8")

    write_atomic(path, write)
