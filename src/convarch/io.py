"""Writing files safely: a file appears whole at its final path, or not at all.

Every writer in convarch (checkpoints, downloads, reports, charts) goes through ``atomic_write``: the
data goes to a temporary file in the same directory, which is then moved into place with ``os.replace``
(atomic on POSIX and Windows). A crash, a full disk or an exception leaves the previous file intact and
no partial file behind.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from convarch.errors import ConfigError, ConvarchError

# The process's umask, read once at import: reading it means setting it, which is not thread-safe later.
UMASK = os.umask(0o022)
os.umask(UMASK)


WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EFBIG: "the file is larger than the file system or a limit allows",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENOENT: "the directory does not take new files (a virtual file system such as /proc?)",
}
_NO_SPACE = {WRITE_ERRORS[code] for code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)}


def _advice(reason: str | None, advice: str | None, then: str | None = None) -> str:
    """The caller's advice, else what fits the reason (space only helps when space was what ran out), followed
    by the caller's next step (``then``: "continue the run (resume)")."""
    if advice is None:
        advice = (
            "free some space or choose another location"
            if reason in _NO_SPACE
            else "choose a location you can write to"
        )
    return f"{advice}, then {then}" if then else advice


def write_failure(failure: BaseException) -> str | None:
    """Why a write failed, if ``failure`` is an I/O error; None for anything else (a bug stays a bug).

    Libraries wrap the operating system's error in their own types: safetensors raises ``SafetensorError``
    carrying ``Os { code: 28, ... }``, and Pillow can fail on cleanup after the OSError that caused it.
    """
    seen: set[int] = set()
    cause: BaseException | None = failure
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError):
            return WRITE_ERRORS.get(cause.errno or 0, cause.strerror or str(cause))
        # safetensors 0.8 writes "(os error 28)"; older releases wrote "Os { code: 28, ... }"
        pattern = r"\(os error (\d+)\)|\bOs \{ code: (\d+)"
        code = re.search(pattern, str(cause)) if type(cause).__name__ == "SafetensorError" else None
        if code:
            number = int(code.group(1) or code.group(2))
            return WRITE_ERRORS.get(number, os.strerror(number))
        # Follow an explicit cause, or the exception being handled when this one was raised, unless the
        # raiser cut the chain (``raise ... from None``): then what it was handling is not this failure.
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    return None


# Directories of the kernel's virtual file systems: a file written there is a device node or a kernel
# setting, never a result (as root, /dev takes a new regular file and nothing tells you). /dev/shm is memory.
SYSTEM_DIRECTORIES = {"/dev": "holds devices", "/proc": "is the kernel's process table",
                      "/sys": "is the kernel's device tree"}  # fmt: skip
ORDINARY_UNDER_SYSTEM = ("/dev/shm",)


def writable_target(path: str | os.PathLike, *, error: type[ConvarchError] = ConfigError) -> Path:
    """``path`` as a ``Path``, refused before any work unless a file can be made there: a name is given, its
    directory exists and is one, it is not itself a directory, and it is not in /dev, /proc or /sys.

    Every writer checks its target here (through ``atomic_write``, or first thing, before a long job).
    """
    if not str(path).strip():
        raise error("cannot write to an empty path: give a file name")
    path = Path(path).expanduser()
    parent = path.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise error(f"cannot write {path}: {existing} is a file, not a directory; choose another location")
    if not parent.is_dir():
        raise error(f"cannot write {path}: the directory {parent} does not exist; create it first")
    if path.is_dir():
        raise error(f"cannot write {path}: it is a directory; give a file name")
    if refusal := _system_directory(parent.resolve()):
        raise error(f"cannot write {path}: {refusal}; choose a location you can write to")
    return path


def _system_directory(where: Path) -> str | None:
    """Why ``where`` (resolved) takes no new files, when it is in /dev, /proc or /sys; None otherwise."""
    for top, what in SYSTEM_DIRECTORIES.items():
        inside = where == Path(top) or Path(top) in where.parents
        if inside and not any(where == Path(o) or Path(o) in where.parents for o in ORDINARY_UNDER_SYSTEM):
            return f"{top} {what} and does not take new files"
    return None


def make_directory(
    path: str | os.PathLike, *, what: str = "the directory", error: type[ConvarchError] = ConfigError,
    advice: str | None = None,
) -> Path:  # fmt: skip
    """Create the directory ``path`` (and its parents) for outputs, refused with ``writable_target``'s reasons
    (a file in the way, a system directory) and, when the system refuses, ``write_failure``'s words."""
    if not str(path).strip():
        raise error(f"cannot create {what}: the path is empty; give a directory name")
    path = Path(path).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise error(f"cannot create {what} {path}: {existing} is a file, not a directory; {_advice(None, advice)}")
    if refusal := _system_directory(path.resolve()):
        raise error(f"cannot create {what} {path}: {refusal}; {_advice(None, advice)}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as failure:
        reason = write_failure(failure)
        raise error(f"cannot create {what} {path}: {reason}; {_advice(reason, advice)}") from None
    return path


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[str], object],
    *,
    error: type[ConvarchError] = ConfigError,
    advice: str | None = None,
    then: str | None = None,
) -> Path:
    """Call ``write(temporary_path)``, then move the result to ``path``.

    The temporary file keeps ``path``'s suffix, so writers that pick a format from it (matplotlib) work.
    A missing directory raises ``error`` before anything is written; an I/O failure (full disk, read-only
    or forbidden directory) raises ``error`` naming the file, the reason, what was kept, and ``advice`` (by
    default, advice that fits the reason), then ``then``, the caller's next step.
    """
    path = writable_target(path, error=error)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    except OSError as failure:
        reason = write_failure(failure)
        raise error(f"cannot write {path}: {reason}; {_advice(reason, advice, then)}.") from None
    os.close(fd)
    try:
        write(temp)
        with open(temp, "rb+") as handle:  # on disk before the rename, so a crash cannot leave an empty file
            os.fsync(handle.fileno())
        os.chmod(temp, 0o666 & ~UMASK)  # mkstemp makes the file owner-only; give it the usual mode
        os.replace(temp, path)
    except BaseException as failure:
        Path(temp).unlink(missing_ok=True)
        reason = None if isinstance(failure, ConvarchError) else write_failure(failure)
        if reason is None:
            raise
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
        advice = _advice(reason, advice, then)
        raise error(f"could not write {path}: {reason}; {kept}. {advice[:1].upper()}{advice[1:]}.") from failure
    return path


def write_text(path: str | os.PathLike, text: str, *, error: type[ConvarchError] = ConfigError) -> Path:
    return atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"), error=error)
