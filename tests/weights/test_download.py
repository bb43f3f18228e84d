"""Downloads: cache layout, hash checks, atomic writes, retries, 404s and offline mode, against a local server."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.weights.helpers import files_under, sha256_of

import convarch as ca
from convarch.weights.download import cache_dir, cache_path, fetch

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, so the download takes several reads


class Server:
    """A local HTTP server whose answers the test scripts: a queue of statuses per path, then 200."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.plans: dict[str, list[str]] = {}  # path -> ["503", "short", "200", "404", ...], last one repeats
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                plan = server.plans.get(self.path, ["404"])
                step = plan.pop(0) if len(plan) > 1 else plan[0]
                if step == "short":  # announce the whole file, send half, hang up
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(PAYLOAD)))
                    self.end_headers()
                    self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
                    self.close_connection = True
                    return
                status = int(step)
                body = PAYLOAD if status == 200 else b"no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def test_cache_layout_follows_the_url_under_convarch_home(cache_home: Path) -> None:
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert cache_path(url) == cache_home / "weights" / "download.pytorch.org" / "models" / "resnet50-0676ba61.pth"
    odd = cache_path("https://example.org/../x?token=a b")
    assert odd.is_relative_to(cache_dir()) and ".." not in odd.parts
    assert cache_path("https://example.org/a/model.safetensors?download=1").suffix == ".safetensors"
    assert cache_path("https://example.org/a/model.safetensors?download=2") != cache_path(
        "https://example.org/a/model.safetensors?download=1"
    )


def test_download_is_verified_and_cached(server: Server) -> None:
    server.plans["/w.pth"] = ["200"]
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch(f"{server.url}/w.pth", sha256=digest, progress=False)
    assert path.read_bytes() == PAYLOAD and sha256_of(path) == digest
    assert fetch(f"{server.url}/w.pth", sha256=digest, progress=False) == path
    assert server.requests == ["/w.pth"], "a cached file is not downloaded again"


def test_wrong_hash_is_refused_and_the_cache_stays_clean(server: Server) -> None:
    server.plans["/w.pth"] = ["200"]
    with pytest.raises(ca.WeightsError, match="SHA-256 mismatch"):
        fetch(f"{server.url}/w.pth", sha256="deadbeef", progress=False)
    assert files_under(cache_dir()) == []


def test_404_is_final_not_retried(server: Server) -> None:
    with pytest.raises(ca.WeightsError, match="HTTP 404"):
        fetch(f"{server.url}/missing.pth", progress=False, backoff_s=0)
    assert server.requests == ["/missing.pth"]
    assert files_under(cache_dir()) == []


def test_transient_failures_are_retried(server: Server) -> None:
    server.plans["/w.pth"] = ["503", "short", "200"]
    path = fetch(f"{server.url}/w.pth", progress=False, backoff_s=0)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 3


def test_persistent_5xx_gives_up_with_a_clear_error(server: Server) -> None:
    server.plans["/w.pth"] = ["503"]
    with pytest.raises(ca.WeightsError, match="after 3 attempts.*HTTP 503"):
        fetch(f"{server.url}/w.pth", progress=False, retries=2, backoff_s=0)
    assert len(server.requests) == 3
    assert files_under(cache_dir()) == []


def test_file_url_is_cached_and_a_second_fetch_does_not_read_the_source(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    first = fetch(source.as_uri(), progress=False)
    source.unlink()  # a second read of the source would now fail
    assert fetch(source.as_uri(), progress=False) == first and first.read_bytes() == PAYLOAD


def test_missing_file_url(tmp_path: Path) -> None:
    with pytest.raises(ca.WeightsError, match="does not exist"):
        fetch((tmp_path / "absent.pth").as_uri(), progress=False)
    assert files_under(cache_dir()) == []


def test_offline_uses_only_the_cache_and_names_the_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    with pytest.raises(ca.WeightsError, match="CONVARCH_OFFLINE") as caught:
        fetch(source.as_uri(), progress=False)
    assert str(cache_path(source.as_uri())) in str(caught.value)
    assert files_under(cache_dir()) == []
    monkeypatch.delenv("CONVARCH_OFFLINE")
    cached = fetch(source.as_uri(), progress=False)
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    assert fetch(source.as_uri(), progress=False) == cached


def test_a_file_placed_in_the_cache_is_verified_before_it_is_used(server: Server, monkeypatch) -> None:
    """Offline mode asks users to copy files into the cache: a wrong one must not load unverified."""
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    url = f"{server.url}/w.pth"
    path = cache_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not the published file")
    monkeypatch.setenv("CONVARCH_OFFLINE", "1")
    with pytest.raises(ca.WeightsError, match="did not match its published SHA-256 and has been removed"):
        fetch(url, sha256=digest, progress=False)
    assert not path.exists()
    path.write_bytes(PAYLOAD)  # the right file, copied by hand, is accepted once verified
    assert fetch(url, sha256=digest, progress=False) == path
    assert server.requests == [], "offline: nothing was downloaded"
    reads = []
    monkeypatch.setattr("convarch.weights.download.verify", lambda *args: reads.append(args))
    fetch(url, sha256=digest, progress=False)
    assert reads == [], "a verified file is not hashed again on every load"
