"""The HTTP plumbing: a threading server that tracks its connections so stopping really cuts them."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jobbot.emulator.faults import Trickle
from jobbot.emulator.routes import Reply

# Big listings are written in slices of about this many bytes: few syscalls, no second copy of the body.
_WRITE_SLICE = 1 << 20

Serve = Callable[[str, str, bytes], "Reply | None"]
Sent = Callable[[Reply, int], None]


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Serves one request per thread; `serve` returns None to close a connection without answering."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], serve: Serve, sent: Sent, log_requests: bool = False
    ) -> None:
        self.serve = serve
        self.sent = sent
        self.log_requests = log_requests
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def cut_connections(self) -> None:
        """Shut every open connection down, as a dying server process would (idle keep-alives included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # OSError: its handler closed it already.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (or a connection we cut on stop) is routine, not an error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive like the real (Seastar) server; clients reuse connections.
    protocol_version = "HTTP/1.1"
    server_version = "Seastar httpd"
    sys_version = ""
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes; without this, Nagle holds the body for ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        body = self._read_body()
        reply = None if body is None else self.server.serve(self.command, self.path, body)
        if reply is None:
            self.close_connection = True
            return
        length = reply.length
        if reply.trickle is not None:
            self._trickle(reply, reply.trickle)
            return
        self.send_response(reply.status)
        # The real server labels every answer JSON, plain-text errors included.
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            for chunk in _slices(reply.pieces):
                self.wfile.write(chunk)
        self.server.sent(reply, length)

    def _trickle(self, reply: Reply, trickle: Trickle) -> None:
        """Send the answer a byte at a time (headers included if asked), until released or stopped."""
        self.log_request(reply.status)
        phrase = self.responses.get(reply.status, ("",))[0]
        head = (
            f"{self.protocol_version} {reply.status} {phrase}\r\n"
            f"Server: {self.version_string()}\r\nDate: {self.date_time_string()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {reply.length}\r\n\r\n"
        ).encode("latin-1")
        body = b"" if self.command == "HEAD" else reply.body
        if not trickle.headers:
            self.wfile.write(head)
            head = b""
        data = head + body
        for at in range(len(data)):
            self.wfile.write(data[at : at + 1])
            step = trickle.wait()
            if step == "stop":
                self.close_connection = True
                return
            if step == "rest":
                self.wfile.write(data[at + 1 :])
                break
        self.server.sent(reply, reply.length)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


def _slices(pieces: Sequence[bytes]) -> Iterator[bytes]:
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= _WRITE_SLICE:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)
