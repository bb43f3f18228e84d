"""Helpers shared by the weights and CLI tests: local sources, a local HTTP server, file listings, digests."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from convarch.weights import sources as sources_module
from convarch.weights.sources import Preprocess, WeightSource, sources_for

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, so the download takes several reads


class Server:
    """A local HTTP server whose answers the test scripts: a queue of statuses per path, then 200.

    A 200 sends ``files[path]`` when the test put a file there, else ``PAYLOAD``."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.plans: dict[str, list[str]] = {}  # path -> ["503", "short", "200", "404", ...], last one repeats
        self.files: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                plan = server.plans.get(self.path, ["200"] if self.path in server.files else ["404"])
                step = plan.pop(0) if len(plan) > 1 else plan[0]
                payload = server.files.get(self.path, PAYLOAD)
                if step == "short":  # announce the whole file, send half, hang up
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.close_connection = True
                    return
                status = int(step)
                body = payload if status == 200 else b"no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: Path) -> str:
        """Serve a copy of ``path``'s bytes as they are now; its URL."""
        self.files[f"/{path.name}"] = path.read_bytes()
        return f"{self.url}/{path.name}"


@contextmanager
def running_server() -> Iterator[Server]:
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.httpd.shutdown()
        served.httpd.server_close()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def randomise_batch_norm(model: torch.nn.Module) -> None:
    """Non-trivial running statistics, so that a mix-up of BN tensors would show in the outputs."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)


def serve_locally(
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    path: Path,
    *,
    sha256: str | None = "prefix",
    server: Server | None = None,
) -> WeightSource:
    """Point ``model``'s default source at ``path``: a file:// URL (read in place), or through ``server`` an
    http:// URL (downloaded into the cache). ``"prefix"`` records the file's real SHA-256 prefix,
    torchvision-style. The other facts of the registered source are kept."""
    digest = sha256_of(path)
    recorded = digest[:8] if sha256 == "prefix" else sha256
    url = server.serve(path) if server is not None else path.as_uri()
    registered = sources_for(model)
    if registered:
        source = dataclasses.replace(registered[0], url=url, sha256=recorded)
    else:
        source = WeightSource(model, "local", url, "convarch", model, Preprocess(crop=32, resize=36),
                              sha256=recorded, num_classes=10, aliases=("test",))  # fmt: skip
    monkeypatch.setitem(sources_module._SOURCES, model, [source, *registered[1:]])
    return source
