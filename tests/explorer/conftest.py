"""A live explorer server for the API and security tests: in this process, on a free loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from tests.explorer.explorer_client import Client

from convarch.explorer.server import ExplorerServer


@pytest.fixture(scope="module")
def server() -> Iterator[ExplorerServer]:
    explorer = ExplorerServer("127.0.0.1", 0)
    thread = threading.Thread(target=explorer.serve_forever, daemon=True)
    thread.start()
    yield explorer
    explorer.shutdown()
    explorer.server_close()


@pytest.fixture(scope="module")
def client(server: ExplorerServer) -> Client:
    return Client(server.port)
