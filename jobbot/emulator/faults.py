"""Faults and latency to inject into the admin API while it runs: delays, failures, drops, hangs, trickles."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

# What a failing handler on the real server answers (code 999: an exception in the handler).
DEFAULT_FAILURE_BODY = b'{"code": 999, "message": "injected failure"}'


@dataclass
class _Pending:
    route: str | None
    remaining: int
    status: int = 0
    body: bytes = b""


@dataclass(frozen=True)
class Failure:
    """An answer that replaces the real one."""

    status: int
    body: bytes


@dataclass(frozen=True)
class Trickle:
    """How one answer goes out: a byte every `seconds`, its status line and headers too if `headers`."""

    seconds: float
    headers: bool
    faults: Faults
    route: str

    def wait(self) -> Literal["byte", "rest", "stop"]:
        """Wait one interval: then send one more byte, the rest at once (released), or nothing (stopping)."""
        return self.faults.wait_to_trickle(self.route, self.seconds)


class Faults:
    """Thread-safe fault settings; each method may be called while requests are in flight.

    `route` arguments name a route as the emulator labels it, e.g. "GET /v1/job" or
    "DELETE /v1/job/{job_id}"; None means every admin route. The `/_emulator/` control API is never faulted.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._delays: dict[str | None, float] = {}
        self._failures: list[_Pending] = []
        self._drops: list[_Pending] = []
        self._hanging: set[str | None] = set()
        self._trickles: dict[str | None, tuple[float, bool]] = {}
        self._closed = False

    def set_delay(self, seconds: float, route: str | None = None) -> None:
        """Wait `seconds` before answering (one route, or all); 0 removes the delay."""
        with self._cond:
            if seconds > 0:
                self._delays[route] = seconds
            else:
                self._delays.pop(route, None)

    def fail_next(
        self, n: int = 1, status: int = 500, body: bytes = DEFAULT_FAILURE_BODY, route: str | None = None
    ) -> None:
        """Answer the next `n` requests (to `route`, or any) with `status` and `body` instead."""
        with self._cond:
            self._failures.append(_Pending(route, n, status, body))

    def drop_next(self, n: int = 1, route: str | None = None) -> None:
        """Close the connection of the next `n` requests without sending any response."""
        with self._cond:
            self._drops.append(_Pending(route, n))

    def hang(self, route: str | None = None) -> None:
        """Accept requests but answer none until `release()` or the server stops."""
        with self._cond:
            self._hanging.add(route)

    def trickle(self, seconds: float, route: str | None = None, *, headers: bool = False) -> None:
        """Send answers (to `route`, or all) one byte every `seconds`, headers first unless `headers` is True,
        as a server does that never finishes answering yet never stays silent long enough for a read
        timeout; 0 removes it. `release()` sends what is left of each at once."""
        with self._cond:
            if seconds > 0:
                self._trickles[route] = (seconds, headers)
            else:
                self._trickles.pop(route, None)
            self._cond.notify_all()

    def release(self) -> None:
        """End every hang and trickle; the held requests then get (the rest of) their normal answers."""
        with self._cond:
            self._hanging.clear()
            self._trickles.clear()
            self._cond.notify_all()

    def clear(self) -> None:
        """Remove every fault (and release hung requests)."""
        with self._cond:
            self._delays.clear()
            self._failures.clear()
            self._drops.clear()
            self._hanging.clear()
            self._trickles.clear()
            self._cond.notify_all()

    def describe(self) -> dict[str, object]:
        """The current settings, for the control API's stats."""
        with self._cond:
            return {
                "delays": {route or "*": seconds for route, seconds in self._delays.items()},
                "fail_next": sum(pending.remaining for pending in self._failures),
                "drop_next": sum(pending.remaining for pending in self._drops),
                "hanging": sorted(route or "*" for route in self._hanging),
                "trickle": {
                    route or "*": {"seconds": seconds, "headers": headers}
                    for route, (seconds, headers) in self._trickles.items()
                },
            }

    # The request handler's side.

    def open(self) -> None:
        with self._cond:
            self._closed = False

    def close(self) -> None:
        """The server is stopping: wake every delayed or hung request so it can drop its connection."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_before_answer(self, route: str) -> bool:
        """Apply delay and hang for one request; False when the server stopped meanwhile."""
        with self._cond:
            delay = self._delays.get(route, self._delays.get(None, 0.0))
            if delay > 0 and self._cond.wait_for(lambda: self._closed, delay):
                return False
            self._cond.wait_for(lambda: self._closed or not ({route, None} & self._hanging))
            return not self._closed

    def trickle_for(self, route: str) -> Trickle | None:
        """How an answer to `route` is to be trickled now, if at all."""
        with self._cond:
            setting = self._trickles.get(route, self._trickles.get(None))
            return None if setting is None else Trickle(setting[0], setting[1], self, route)

    def wait_to_trickle(self, route: str, seconds: float) -> Literal["byte", "rest", "stop"]:
        with self._cond:
            self._cond.wait_for(lambda: self._closed or not ({route, None} & self._trickles.keys()), seconds)
            if self._closed:
                return "stop"
            return "byte" if {route, None} & self._trickles.keys() else "rest"

    def take_drop(self, route: str) -> bool:
        with self._cond:
            return self._take(self._drops, route) is not None

    def take_failure(self, route: str) -> Failure | None:
        with self._cond:
            pending = self._take(self._failures, route)
            return None if pending is None else Failure(pending.status, pending.body)

    @staticmethod
    def _take(queue: list[_Pending], route: str) -> _Pending | None:
        for pending in queue:
            if pending.route in (None, route):
                pending.remaining -= 1
                if pending.remaining <= 0:
                    queue.remove(pending)
                return pending
        return None
