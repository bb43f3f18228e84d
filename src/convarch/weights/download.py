"""Downloads into the weights cache: progress bar, SHA-256 check, atomic writes, retries, offline mode.

The cache is ``$CONVARCH_HOME/weights`` (else the platform's user cache directory), laid out by URL
(``download.pytorch.org/models/resnet50-0676ba61.pth``), so a file is fetched once whoever asks for it.
A download streams into a temporary file in the same directory, its SHA-256 is checked where one is known,
and only then is it moved into place with ``os.replace``: the final path never holds a partial or
unverified file. Connection errors, timeouts and 5xx answers are retried with exponential backoff; a 4xx
answer is final. ``CONVARCH_OFFLINE=1`` never touches the network and names the file it would need.
A ``file://`` URL names a local file, which is read in place like a plain path: a cached copy would go stale
when the file is rewritten, and offline mode has no reason to refuse it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from convarch.errors import WeightsError
from convarch.io import WRITE_ERRORS, atomic_write

ENV_HOME = "CONVARCH_HOME"
ENV_OFFLINE = "CONVARCH_OFFLINE"
URL_SCHEMES = ("http", "https", "file")
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30.0
RETRY_STATUS = frozenset({408, 425, 429})  # 4xx answers that mean "try again later"; every 5xx is retried too
_NAME_HASH = re.compile(r"-([0-9a-fA-F]{8,})\.[^-]*$")  # name-<hash prefix>.ext, the last dash's
_CACHE_ADVICE = f"free some space, or set {ENV_HOME} to a writable directory (the cache is {ENV_HOME}/weights)"


def convarch_home() -> Path:
    """``$CONVARCH_HOME``, else the platform's user cache directory for convarch."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("convarch")


def cache_dir() -> Path:
    return convarch_home() / "weights"


def is_offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no", "off")


def is_url(text: str) -> bool:
    return isinstance(text, str) and urlsplit(text).scheme.lower() in URL_SCHEMES and "://" in text


def local_file(url: str) -> Path | None:
    """The local path a ``file://`` URL names; None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return None
    if parts.netloc not in ("", "localhost"):  # file://model.pth reads "model.pth" as a host name
        raise WeightsError(
            f"{url}: a file:// URL takes an absolute path after the two slashes, file:///abs/path/{parts.netloc}; "
            f"here {parts.netloc!r} was read as a host name. For a relative path, pass the path without file://"
        )
    return Path(urllib.request.url2pathname(parts.path))


def cache_path(url: str) -> Path:
    """Where ``url`` is kept: in the cache by host and path, each part made safe for any file system; a
    ``file://`` URL's own file, which is read in place."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in URL_SCHEMES:
        raise WeightsError(f"{url}: only {', '.join(URL_SCHEMES)} URLs can be read")
    local = local_file(url)
    if local is not None:
        return local
    where = [parts.netloc, *(p for p in unquote(parts.path).split("/") if p)]
    if len(where) == 1:
        where.append("download")  # a bare host: the file still needs a name
    if parts.query:  # keep the suffix last: it says how to read the file
        stem, dot, suffix = where[-1].rpartition(".")
        tag = "-" + hashlib.sha256(parts.query.encode()).hexdigest()[:8]
        where[-1] = f"{stem}{tag}.{suffix}" if dot else where[-1] + tag
    safe = [re.sub(r"[^A-Za-z0-9._-]", "_", p).lstrip(".") or "_" for p in where]
    return cache_dir().joinpath(*safe)


def fetch(
    url: str,
    *,
    sha256: str | None = None,
    progress: bool = True,
    retries: int = 3,
    backoff_s: float = 1.0,
) -> Path:
    """The cached copy of ``url``, downloaded (and verified against ``sha256``, a digest or its prefix) if needed.

    A ``file://`` URL gives its own file (verified against ``sha256`` on every call, since it can change)."""
    path = cache_path(url)
    if local_file(url) is not None:
        return _local(url, path, sha256)
    sha256 = sha256 or name_hash(url)
    if path.is_file():
        if sha256 is not None:
            verify_cached(path, url, sha256)
        return path
    if is_offline():
        raise WeightsError(
            f"{ENV_OFFLINE} is set, so nothing is downloaded, and {url} is not in the cache: it is expected at "
            f"{path}. Download it while online (convarch weights fetch MODEL), or copy the file to that path."
        )
    _make_cache_dir(path.parent)
    attempts = 1 + max(0, retries)
    for attempt in range(attempts):
        try:
            atomic_write(path, lambda temp: _download_once(url, Path(temp), sha256, progress), error=WeightsError,
                         advice=_CACHE_ADVICE)  # fmt: skip
            if sha256 is not None:
                _stamp(path, sha256)
            return path
        except _Transient as error:
            if attempt + 1 == attempts:
                raise WeightsError(
                    f"could not download {url} after {attempts} attempts ({error}). Check the connection and "
                    "try again, or download the file yourself and pass its path."
                ) from None
            time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")


def name_hash(url: str) -> str | None:
    """The SHA-256 prefix a download's file name carries, as torchvision's hub names its files.

    ``resnet18-f37072fd.pth``: 8 or more hex digits after the last dash, before the suffix (what
    ``torch.hub.download_url_to_file`` checks with ``check_hash``). ``model-2024.pth`` carries none.
    """
    match = _NAME_HASH.search(Path(unquote(urlsplit(url).path)).name)
    return match.group(1).lower() if match else None


def discard_unreadable(path: Path, error: WeightsError) -> WeightsError:
    """A cached download that could not be read is removed, so that the next call fetches it afresh; the
    error says so. A file outside the cache (the user's own) is left alone."""
    try:
        cached = path.resolve().is_relative_to(cache_dir().resolve())
    except OSError:
        cached = False
    if not cached:
        return error
    path.unlink(missing_ok=True)
    _stamp_path(path).unlink(missing_ok=True)
    return WeightsError(f"{str(error).rstrip('.')}. The cached download {path} has been removed: load it again "
                        "to download it afresh, or check the source if it fails again.")  # fmt: skip


def _make_cache_dir(directory: Path) -> None:
    """Create the cache directory, or say which setting points at an unusable place."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = next((p for p in (directory, *directory.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a directory" if blocker else WRITE_ERRORS.get(error.errno or 0, str(error))
        setting = f"{ENV_HOME} is {os.environ[ENV_HOME]}" if os.environ.get(ENV_HOME) else f"{ENV_HOME} is not set"
        raise WeightsError(
            f"cannot create the weights cache {directory}: {reason} ({setting}). Set {ENV_HOME} to a writable "
            "directory (it is created if missing), or pass a local weights file instead."
        ) from None


def _local(url: str, path: Path, sha256: str | None) -> Path:
    """A ``file://`` URL's file, checked in place: nothing is copied, so a rewritten file is never stale."""
    if path.is_dir():
        raise WeightsError(f"{url} names a directory, {path}: name the weights file inside it")
    if not path.is_file():
        raise WeightsError(f"{url} names no file: {path} does not exist")
    if sha256 is not None:
        verify(path, sha256, then="replace it with the published file (it was left as it is)")
    return path


def verify(path: Path, sha256: str, then: str = "") -> None:
    """Check a file against a SHA-256 digest or its published prefix; ``then`` says what to do on a mismatch."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    _check_digest(digest.hexdigest(), sha256, str(path), then)


def verify_cached(path: Path, url: str, sha256: str) -> None:
    """Check a cached file against its published hash once, however it got there.

    A file copied into the cache by hand (offline mode asks for that) or damaged on disk would otherwise
    load unverified. A stamp beside it records the size, modification time and hash it was verified for,
    so later loads do not re-hash hundreds of megabytes. A mismatch removes the file and the stamp.
    """
    if _stamp_path(path).is_file() and _stamp_path(path).read_text() == _stamp_text(path, sha256):
        return
    try:
        verify(path, sha256)
    except WeightsError:
        path.unlink(missing_ok=True)
        _stamp_path(path).unlink(missing_ok=True)
        raise WeightsError(
            f"the cached copy of {url} did not match its published SHA-256 and has been removed; load it again "
            "to download it afresh (or copy the published file to the cache)"
        ) from None
    _stamp(path, sha256)


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_text(path: Path, sha256: str) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{sha256.lower()}"


def _stamp(path: Path, sha256: str) -> None:
    text = _stamp_text(path, sha256)
    # A read-only cache (shared, prepared offline) still serves its files: they are hashed on each load instead.
    with contextlib.suppress(WeightsError):
        atomic_write(_stamp_path(path), lambda temp: Path(temp).write_text(text), error=WeightsError)


class _Transient(Exception):
    """A failure worth retrying: no connection, a timeout, a cut-off transfer, a 5xx answer."""


def _download_once(url: str, temp: Path, sha256: str | None, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "convarch"})
    digest = hashlib.sha256()
    transient = None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(temp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = _stream(response, out, digest, total, Path(urlsplit(url).path).name, progress)
    except urllib.error.HTTPError as error:
        if not (error.code >= 500 or error.code in RETRY_STATUS):
            raise WeightsError(
                f"{url} answered HTTP {error.code} {error.reason}: the file cannot be downloaded from there. "
                "Check the URL (for a registered model, `convarch weights list MODEL` shows its sources)."
            ) from None
        transient = f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as error:
        transient = str(getattr(error, "reason", error)) or type(error).__name__
    if transient is not None:
        # Raised outside the handler: with the network's OSError as its context, atomic_write would take it
        # for a failure to write the file and report it as such instead of letting fetch retry.
        raise _Transient(transient)
    if total is not None and received != total:
        raise _Transient(f"the transfer stopped after {received:,} of {total:,} bytes")
    if sha256 is not None:
        _check_digest(digest.hexdigest(), sha256, url)


def _stream(response: BinaryIO, out: BinaryIO, digest: Any, total: int | None, name: str, progress: bool) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())  # fmt: skip
    received = 0
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task(f"downloading {name}", total=total)
        for block in iter(lambda: response.read(CHUNK_BYTES), b""):
            out.write(block)
            digest.update(block)
            received += len(block)
            bar.update(task, advance=len(block))
    return received


def _check_digest(actual: str, expected: str, where: str, then: str = "") -> None:
    if not actual.startswith(expected.lower()):
        shown = expected if len(expected) == 64 else f"{expected}... (the published prefix)"
        raise WeightsError(
            f"SHA-256 mismatch for {where}: expected {shown}, got {actual}. The file is corrupt or not the "
            f"published one; {then or 'nothing was kept in the cache. Try again, or check the source.'}"
        )
