"""One deadline for a whole HTTP exchange: every socket wait is cut to the time left, headers and body alike.

httpx's timeouts apply to each read, so a server that sends a byte every few seconds never trips them.
The transport made here gives httpcore a network backend whose streams ask, at each read and write,
how long the current request may still take (`Deadline`, set for the calling thread by `within`).
"""

from __future__ import annotations

import contextlib
import ssl
import time
import typing
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

import httpcore
import httpx


class Deadline:
    """A moment on `clock` after which the current request must stop waiting for the server."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.at = clock() + seconds
        self.cut_a_wait = False  # a socket wait was shortened to the time left

    def left(self) -> float:
        return self.at - self.clock()

    @property
    def passed(self) -> bool:
        return self.left() <= 0

    def limit(self, timeout: float | None, expired: type[Exception]) -> float:
        """`timeout` cut to the time left; raises `expired` once there is none."""
        left = self.left()
        if left <= 0:
            self.cut_a_wait = True
            raise expired(f"the overall deadline of {self.seconds:g} s has passed")
        if timeout is None or left < timeout:
            self.cut_a_wait = True
            return left
        return timeout


_CURRENT: ContextVar[Deadline | None] = ContextVar("jobbot_http_deadline", default=None)


@contextlib.contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    """Bound every socket wait of requests made in this block (on this thread) by `deadline`."""
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)


def _limit(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = _CURRENT.get()
    return timeout if deadline is None else deadline.limit(timeout, expired)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _limit(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _limit(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limited = _limit(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, limited))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        limited = _limit(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_tcp(host, port, limited, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        limited = _limit(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, limited, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose socket waits honour the calling thread's `Deadline`."""
    made = httpx.HTTPTransport(limits=limits)
    pool = made._pool
    if not isinstance(pool, httpcore.ConnectionPool):
        raise TypeError(f"expected httpcore's connection pool, found {type(pool).__name__}")
    # httpx takes no network backend, but the pool it builds does; the rest of the transport is kept.
    pool._network_backend = _Backend()
    return made
