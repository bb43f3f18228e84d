"""``convarch serve``: the live explorer, on the standard library's threading HTTP server.

It answers two kinds of request and nothing else: the page's own files, from a fixed table filled from the
package at import (no request path ever reaches the file system, so there is nothing to traverse), and the
JSON API of ``convarch.explorer.endpoints``. It binds to loopback unless told otherwise and, while it does,
refuses requests addressed to another host name (DNS rebinding). It reads at most ``MAX_BODY`` bytes of a
request, lets ``WORK_SLOTS`` requests compute at once (the others wait their turn), drops idle connections
after ``IDLE_TIMEOUT`` seconds, and writes no file. docs/design.md says why the standard library.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from convarch.explorer.assets import static_text
from convarch.explorer.endpoints import Answer, Query, answer
from convarch.spec.limits import MAX_TEXT

MAX_BODY = 3 * MAX_TEXT + 64 * 1024  # a POSTed form with the longest pattern the parser accepts, percent-encoded
MAX_FIELDS = 64
FORM_TYPES = ("", "application/x-www-form-urlencoded", "text/plain")  # what a form or curl -d sends
IDLE_TIMEOUT = 30  # seconds a connection may sit without sending its request
WORK_SLOTS = max(2, os.cpu_count() or 2)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_REQUEST_LINE = 65_536  # the standard library's limit (http.server reads at most 64 KiB of a request line)
ALLOWED = "GET, HEAD, POST"
# What the standard library's own refusals mean here, where it gives no message of its own.
REFUSALS = {
    414: f"the request line is over {MAX_REQUEST_LINE:,} bytes (64 KiB); send a long pattern as a POST form body",
    431: "the request headers are too long or too many (at most 100 headers of 64 KiB each)",
}
# A client that goes away mid-answer (the page cancels a request the user typed past) is not an error.
DISCONNECTED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
STATIC_FILES = ("index.html", "explorer.css", "layers.js", "app.js")
# Scripts and styles come from this server only; inline styles are allowed for the SVG figures' attributes.
FIGURE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"  # no script, no fetch
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")  # fmt: skip


def _static_table() -> dict[str, Answer]:
    table = {}
    for name in STATIC_FILES:
        suffix = name[name.rindex(".") :]
        table[f"/static/{name}"] = Answer(200, _TYPES[suffix], static_text(name).encode())
    table["/"] = table["/index.html"] = table.pop("/static/index.html")
    return table


STATIC = _static_table()


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """``127.0.0.1:8000`` -> ``127.0.0.1``; ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def exposure_warning(host: str) -> str | None:
    """What to tell the user when the explorer listens beyond this machine."""
    if is_loopback(host):
        return None
    return (f"warning: listening on {host}, not on loopback: anyone who can reach this machine can use the "
            "explorer (it reads no files and writes none, but it does spend CPU). Listen on 127.0.0.1 (the host) to "
            "keep it local.")  # fmt: skip


class ExplorerHandler(BaseHTTPRequestHandler):
    server_version = "convarch-explorer"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server: ExplorerServer

    def setup(self) -> None:
        super().setup()
        # The headers and the body go out as two writes; without this, Nagle's algorithm holds the body
        # back until the client acknowledges the headers, and a delayed ACK costs up to 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._respond(self._route(urlsplit(self.path).query))

    def do_HEAD(self) -> None:
        """GET's status and headers, without the body."""
        self._respond(self._route(urlsplit(self.path).query), body=False)

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._respond(_http_error(411, "a POST needs a Content-Length"))
            return
        if int(length) > MAX_BODY:
            self.close_connection = True  # the body is not read, so the connection cannot be reused
            self._respond(_http_error(413, f"the request body is {int(length):,} bytes; the limit is {MAX_BODY:,}"))
            return
        body = self.rfile.read(int(length))
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind not in FORM_TYPES:
            self._respond(_http_error(415, f"the API takes form fields (application/x-www-form-urlencoded: "
                                           f"pattern=...&input=...), as the page sends them, not {kind}"))  # fmt: skip
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self._respond(_http_error(400, "the request body is not UTF-8"))
            return
        self._respond(self._route(text))

    def _route(self, query_text: str) -> Answer:
        path = urlsplit(self.path).path  # still percent-encoded: '%2e%2e' or '%2f' matches no route
        host = host_name(self.headers.get("Host") or "")
        if self.server.loopback_only and not is_loopback(host):
            return _http_error(403, f"host {host!r} is not this explorer; open http://127.0.0.1:{self.server.port}/")
        if path in STATIC and self.command in ("GET", "HEAD"):
            return STATIC[path]
        if not path.startswith("/api/"):
            return _http_error(404, f"no page {path!r}: the explorer serves / and the API under /api/")
        try:
            query = _query(query_text)
        except ValueError as error:
            return _http_error(400, f"cannot read the query: {error}")
        with self.server.work_slots:
            try:
                found = answer(path, query)
            except Exception:  # a bug, not a user's mistake: logged here, a plain 500 for the client
                traceback.print_exc(file=sys.stderr)
                return _http_error(500, "internal error in the explorer (logged by the server)")
        return found if found is not None else _http_error(404, f"no API endpoint {path!r}; see docs/explorer.md")

    def _respond(self, reply: Answer, *, body: bool = True) -> None:
        try:
            self._write(reply, body)
        except DISCONNECTED:
            self.close_connection = True

    def _write(self, reply: Answer, body: bool) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if reply.content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", PAGE_POLICY)
        elif reply.content_type.startswith("image/svg"):  # opened on its own, an SVG is a document too
            self.send_header("Content-Security-Policy", FIGURE_POLICY)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(reply.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (414 URI too long, 431, a method it has no handler for) as JSON."""
        self.close_connection = True
        if code == 501:  # a method other than GET, HEAD and POST: known to HTTP, not allowed here
            reply = _http_error(405, f"method {self.command} is not allowed; the explorer answers {ALLOWED}")
            reply = Answer(reply.status, reply.content_type, reply.body, (("Allow", ALLOWED),))
        else:
            reply = _http_error(code, REFUSALS.get(code) or message or explain or "the request could not be read")
        with contextlib.suppress(OSError):  # the client may be gone already
            self._respond(reply, body=self.command != "HEAD")

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


def _http_error(status: int, message: str) -> Answer:
    return Answer.json({"error": {"type": "HTTPError", "message": message}}, status)


def _query(text: str) -> Query:
    """The query's fields, each given once; percent-escapes must decode to UTF-8."""
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError as error:
        if "Max number of fields" in str(error):
            raise ValueError(
                f"more than {MAX_FIELDS} fields; the API takes a few (pattern or model, and options)"
            ) from None
        raise
    twice = sorted(k for k, v in fields.items() if len(v) > 1)
    if twice:
        raise ValueError(f"{', '.join(twice)} given more than once")
    return {k: v[0] for k, v in fields.items()}


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # fifty clients connecting at once must not be turned away by the backlog

    def handle_error(self, request: object, client_address: object) -> None:
        """A client gone mid-request is quietly dropped; anything else is a bug, printed as before."""
        if isinstance(sys.exc_info()[1], DISCONNECTED):
            return
        super().handle_error(request, client_address)

    def __init__(self, host: str = "127.0.0.1", port: int = 8000, *, verbose: bool = False) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), ExplorerHandler)
        self.loopback_only = is_loopback(host)
        self.verbose = verbose
        self.work_slots = threading.BoundedSemaphore(WORK_SLOTS)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"


def serve(host: str = "127.0.0.1", port: int = 8000, *, open_browser: bool = True, verbose: bool = False) -> None:
    """Run the explorer until interrupted (Ctrl-C). ``port=0`` picks a free port; the URL is printed."""
    server = ExplorerServer(host, port, verbose=verbose)
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    print(f"convarch explorer at {server.url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


__all__ = ["ExplorerServer", "exposure_warning", "is_loopback", "serve"]
