"""Writing files safely: a file appears whole at its final path, or not at all.

Every writer in convarch (checkpoints, downloads, reports, charts) goes through ``atomic_write``: the
data goes to a temporary file in the same directory, which is then moved into place with ``os.replace``
(atomic on POSIX and Windows). A crash, a full disk or an exception leaves the previous file intact and
no partial file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from convarch.errors import ConfigError, ConvarchError

# The process's umask, read once at import: reading it means setting it, which is not thread-safe later.
UMASK = os.umask(0o022)
os.umask(UMASK)


def atomic_write(
    path: str | os.PathLike, write: Callable[[str], object], *, error: type[ConvarchError] = ConfigError
) -> Path:
    """Call ``write(temporary_path)``, then move the result to ``path``.

    The temporary file keeps ``path``'s suffix, so writers that pick a format from it (matplotlib) work.
    A missing directory raises ``error`` before anything is written.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise error(f"cannot write {path}: the directory {path.parent} does not exist; create it first")
    if path.is_dir():
        raise error(f"cannot write {path}: it is a directory; give a file name")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(temp)
        with open(temp, "rb+") as handle:  # on disk before the rename, so a crash cannot leave an empty file
            os.fsync(handle.fileno())
        os.chmod(temp, 0o666 & ~UMASK)  # mkstemp makes the file owner-only; give it the usual mode
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str, *, error: type[ConvarchError] = ConfigError) -> Path:
    return atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"), error=error)
