"""Downloads into the weights cache: progress bar, SHA-256 check, atomic writes, retries, offline mode.

The cache is ``$CONVARCH_HOME/weights`` (else the platform's user cache directory), laid out by URL
(``download.pytorch.org/models/resnet50-0676ba61.pth``), so a file is fetched once whoever asks for it.
A download streams into a temporary file in the same directory, its SHA-256 is checked where one is known,
and only then is it moved into place with ``os.replace``: the final path never holds a partial or
unverified file. Connection errors, timeouts and 5xx answers are retried with exponential backoff; a 4xx
answer is final. ``CONVARCH_OFFLINE=1`` never touches the network and names the file it would need.
"""

from __future__ import annotations

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
from convarch.io import atomic_write

ENV_HOME = "CONVARCH_HOME"
ENV_OFFLINE = "CONVARCH_OFFLINE"
URL_SCHEMES = ("http", "https", "file")
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30.0
RETRY_STATUS = frozenset({408, 425, 429})  # 4xx answers that mean "try again later"; every 5xx is retried too


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


def cache_path(url: str) -> Path:
    """Where ``url`` is kept in the cache: host and path, each part made safe for any file system."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in URL_SCHEMES:
        raise WeightsError(f"{url}: only http(s):// and file:// URLs can be downloaded")
    if parts.scheme.lower() == "file":
        # A local file has no host to group it by: key it by its full URL, keep its name.
        where = ["file", hashlib.sha256(url.encode()).hexdigest()[:16], Path(unquote(parts.path)).name]
    else:
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
    """The cached copy of ``url``, downloaded (and verified against ``sha256``, a digest or its prefix) if needed."""
    path = cache_path(url)
    if path.is_file():
        if sha256 is not None:
            verify_cached(path, url, sha256)
        return path
    if is_offline():
        raise WeightsError(
            f"{ENV_OFFLINE} is set, so nothing is downloaded, and {url} is not in the cache: it is expected at "
            f"{path}. Download it while online (convarch weights fetch MODEL), or copy the file to that path."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    attempts = 1 + max(0, retries)
    for attempt in range(attempts):
        try:
            atomic_write(path, lambda temp: _download_once(url, Path(temp), sha256, progress), error=WeightsError)
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


def verify(path: Path, sha256: str) -> None:
    """Check a file against a SHA-256 digest or its published prefix."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    _check_digest(digest.hexdigest(), sha256, str(path))


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
    atomic_write(_stamp_path(path), lambda temp: Path(temp).write_text(text), error=WeightsError)


class _Transient(Exception):
    """A failure worth retrying: no connection, a timeout, a cut-off transfer, a 5xx answer."""


def _download_once(url: str, temp: Path, sha256: str | None, progress: bool) -> None:
    if urlsplit(url).scheme.lower() == "file":
        source = Path(urllib.request.url2pathname(urlsplit(url).path))
        if not source.is_file():
            raise WeightsError(f"{url} names no file: {source} does not exist")
    request = urllib.request.Request(url, headers={"User-Agent": "convarch"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(temp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = _stream(response, out, digest, total, Path(urlsplit(url).path).name, progress)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code in RETRY_STATUS:
            raise _Transient(f"HTTP {error.code} {error.reason}") from None
        raise WeightsError(
            f"{url} answered HTTP {error.code} {error.reason}: the file cannot be downloaded from there. "
            "Check the URL (for a registered model, `convarch weights list MODEL` shows its sources)."
        ) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as error:
        raise _Transient(str(getattr(error, "reason", error)) or type(error).__name__) from None
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


def _check_digest(actual: str, expected: str, where: str) -> None:
    if not actual.startswith(expected.lower()):
        shown = expected if len(expected) == 64 else f"{expected}... (the published prefix)"
        raise WeightsError(
            f"SHA-256 mismatch for {where}: expected {shown}, got {actual}. The file is corrupt or not the "
            "published one; nothing was kept in the cache. Try again, or check the source."
        )
