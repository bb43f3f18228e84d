"""The explorer serves its own files and its API, nothing else: no traversal, bounded requests, no writes."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlencode

import pytest
from tests.explorer.explorer_client import SEED, Client
from typer.testing import CliRunner

from convarch.explorer.endpoints import MAX_DRAW_LAYERS
from convarch.explorer.server import MAX_BODY, STATIC, ExplorerServer, exposure_warning, host_name, is_loopback
from convarch.spec.limits import MAX_TEXT

TRAVERSALS = [
    "/../pyproject.toml",
    "/static/../server.py",
    "/static/..%2fserver.py",
    "/static/%2e%2e/server.py",
    "/static/%2E%2E%2Fassets.py",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..\\server.py",
    "/static//etc/passwd",
    "//etc/passwd",
    "/etc/passwd",
    "/static/app.js/../../server.py",
    "/static/app.js%00.py",
    "http://127.0.0.1/etc/passwd",
    "/api/../static/app.js",
    "/api/%2e%2e/static/app.js",
    "/static/report.html",  # in the package, but not one of the files the live page serves
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_the_file_system(client: Client, path: str) -> None:
    reply = client.request("GET", path)
    assert reply.status == 404
    assert reply.json()["error"]["type"] == "HTTPError"
    for secret in (b"root:", b"import ", b"[project]", b"def "):
        assert secret not in reply.body


def test_only_the_page_files_are_served(client: Client) -> None:
    assert sorted(STATIC) == ["/", "/index.html", "/static/app.js", "/static/explorer.css", "/static/layers.js"]
    page = client.request("GET", "/")
    assert page.status == 200 and b"convarch explorer" in page.body
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_requests_for_another_host_are_refused(client: Client) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the API."""
    assert client.request("GET", "/api/models", headers={"Host": "evil.example"}).status == 403
    assert client.request("GET", "/api/models", headers={"Host": f"localhost:{client.port}"}).status == 200
    assert host_name("[::1]:8000") == "::1" and host_name("127.0.0.1:80") == "127.0.0.1"


def test_request_size_is_limited(client: Client) -> None:
    too_long = client.request("GET", "/api/analyze?pattern=" + "A" * 70_000)
    assert too_long.status == 414 and too_long.json()["error"]["type"] == "HTTPError"
    assert "request line is over 65,536 bytes" in too_long.json()["error"]["message"]
    assert "POST" in too_long.json()["error"]["message"]
    big = client.request("POST", "/api/analyze", b"", {"Content-Length": str(MAX_BODY + 1)})
    assert big.status == 413
    no_length = client.raw(b"POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert no_length.startswith(b"HTTP/1.1 411")


@pytest.mark.parametrize("word", ["A", "x", "resnet*"])  # one word of lower case once read as a model name
def test_pattern_length_is_the_parser_limit(client: Client, word: str) -> None:
    body = ("pattern=" + (word * (MAX_TEXT + 1))[: MAX_TEXT + 1]).encode()
    reply = client.request("POST", "/api/analyze", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 422 and reply.json()["error"]["type"] == "PatternError"
    assert f"{MAX_TEXT:,}" in reply.json()["error"]["message"] and "characters long" in reply.json()["error"]["message"]
    assert len(reply.body) < 2_000  # the input is never echoed back


@pytest.mark.parametrize("text", ["x" * 150, "y" * 5_000, "resnet*" + "x" * 150])
def test_no_error_echoes_unbounded_input(client: Client, text: str) -> None:
    seed = urlencode({"pattern": SEED})
    for path, fields in [("/api/analyze", f"pattern={text}"), ("/api/analyze", f"model={text}"),
                         ("/api/info", f"model={text}"), ("/api/analyze", f"{seed}&N={text}&M=1&K=1"),
                         ("/api/analyze", f"{seed}&{text}=1"), ("/api/sweep", f"{seed}&N={text}"),
                         ("/api/draw", f"model=lenet5&at={text}"), ("/api/compare", f"models={text}")]:  # fmt: skip
        reply = client.request("POST", path, fields.encode())
        assert 400 <= reply.status < 500 and len(reply.body) < 3_000, (path, fields[:40], reply.status, len(reply.body))


def test_work_per_request_is_bounded(client: Client) -> None:
    huge = client.get("/api/analyze", pattern="INPUT(32x32x3) -> [CONV3-8]*10000 -> [RELU]*10000 -> FC10")
    assert huge.status == 422 and "limit" in huge.json()["error"]["message"]
    long = "INPUT(32x32x3) -> " + " -> ".join(f"CONV3-{8 + i % 50}" for i in range(MAX_DRAW_LAYERS + 1))
    refused = client.request("POST", "/api/draw", urlencode({"pattern": long}).encode())
    assert refused.status == 422 and f"up to {MAX_DRAW_LAYERS:,} layers" in refused.json()["error"]["message"]
    nested = client.get("/api/analyze", pattern="[" * 200 + "FC10" + "]" * 200)
    assert nested.status == 422 and nested.json()["error"]["type"] == "PatternError"


@pytest.mark.parametrize(
    "query", ["pattern=%ff%fe", "&".join(f"k{i}=1" for i in range(100)), "pattern=FC10&pattern=FC20"]
)
def test_malformed_queries_are_400(client: Client, query: str) -> None:
    reply = client.request("GET", f"/api/analyze?{query}")
    assert reply.status == 400 and "query" in reply.json()["error"]["message"]


def test_an_unknown_method_or_endpoint_is_a_json_4xx(client: Client) -> None:
    for method in ("DELETE", "OPTIONS", "PUT", "PATCH"):
        refused = client.request(method, "/api/analyze?model=lenet5")
        assert refused.status == 405 and refused.headers["allow"] == "GET, HEAD, POST"
        assert f"method {method} is not allowed" in refused.json()["error"]["message"]
    assert client.request("POST", "/", b"x", {"Content-Length": "1"}).status == 404
    assert client.request("GET", "/api/nothing").status == 404


def test_the_server_writes_no_file(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for path, query in [("/api/analyze", {"model": "lenet5"}), ("/api/check", {"model": "lenet5"}),
                        ("/api/sweep.svg", {"pattern": SEED, "N": "1..2", "M": "2", "K": "1"}),
                        ("/api/compare.svg", {"models": "alexnet"}), ("/api/draw", {"model": "lenet5"})]:  # fmt: skip
        client.get(path, **query)
    assert list(tmp_path.iterdir()) == []


def test_it_binds_to_loopback_unless_told_and_warns_when_told() -> None:
    from convarch.cli import app

    serve_help = CliRunner().invoke(app, ["serve", "--help"]).output
    assert "127.0.0.1" in serve_help
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert exposure_warning("127.0.0.1") is None
    assert "not on loopback" in (exposure_warning("0.0.0.0") or "")
    server = ExplorerServer(port=0)
    try:
        assert server.server_address[0] == "127.0.0.1" and server.loopback_only
    finally:
        server.server_close()


def test_an_idle_connection_is_dropped(server: ExplorerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from convarch.explorer import server as module

    monkeypatch.setattr(module.ExplorerHandler, "timeout", 0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
        idle.sendall(b"GET /api/models HTTP/1.1\r\n")  # and never finish the request
        assert idle.recv(1024) == b""  # the server closed it


def test_a_port_in_use_is_one_clear_line(server: ExplorerServer, capsys: pytest.CaptureFixture[str]) -> None:
    from convarch.cli import main

    assert main(["serve", "--port", str(server.port), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{server.port}" in err and "--port 0" in err and "Traceback" not in err


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/analyze?model=lenet5", "/api/nothing"])
def test_head_is_get_without_the_body(client: Client, path: str) -> None:
    get, head = client.request("GET", path), client.request("HEAD", path)
    assert head.status == get.status and head.body == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.body))


def test_a_client_that_hangs_up_leaves_no_traceback(server: ExplorerServer, capfd: pytest.CaptureFixture[str]) -> None:
    """The page cancels requests the user typed past: the server must drop them without a word."""
    import struct
    import time

    for _ in range(5):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as gone:
            gone.sendall(b"GET /api/analyze?model=resnet50 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    time.sleep(1.5)  # the server computes the answers and writes them to the closed sockets
    assert Client(server.port).get("/api/models").status == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "ConnectionResetError" not in err


def test_a_json_body_is_415_and_too_many_fields_says_the_limit(client: Client) -> None:
    json_body = b'{"model": "vgg16"}'
    refused = client.request("POST", "/api/analyze", json_body, {"Content-Type": "application/json"})
    assert refused.status == 415 and "takes form fields" in refused.json()["error"]["message"]
    form = client.request(
        "POST", "/api/analyze", b"model=lenet5", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status == 200
    crowded = client.request("GET", "/api/analyze?" + "&".join(f"k{i}=1" for i in range(100)))
    assert crowded.status == 400 and "more than 64 fields" in crowded.json()["error"]["message"]


def test_an_svg_figure_carries_a_policy_that_runs_nothing(client: Client) -> None:
    figure = client.get("/api/draw", model="lenet5")
    assert figure.status == 200 and figure.headers["content-type"].startswith("image/svg+xml")
    policy = figure.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script" not in policy


def test_a_host_that_is_no_address_says_so_without_a_port_hint(capsys: pytest.CaptureFixture[str]) -> None:
    from convarch.cli import main

    assert main(["serve", "--host", "nosuch.invalid", "--port", "0", "--no-browser"]) == 1
    err = capsys.readouterr().err.replace("\n", " ")
    assert "cannot listen on nosuch.invalid:0" in err and "give an address of this machine" in err
    assert "--port 0" not in err and "Traceback" not in err
