"""Slack's side of Socket Mode on loopback, behaving as Slack's endpoint does where jobbot depends on it.

- Every WebSocket is greeted with `hello`, naming how many connections the app holds.
- Each envelope goes to ONE connection: the newest live one (as Slack does once a client has opened a
  new connection after `disconnect`), or across the live ones in turn (`spread=True`, as Slack spreads
  envelopes over an app's connections), or the one a test names.
- An ack counts only on the connection the envelope went to: acknowledging it on another one, or after
  Slack's 3 seconds, leaves the person who typed the command looking at "dispatch_failed".
- `refresh()` sends Slack's `disconnect` message (`refresh_requested`, or `warning`) and closes that
  connection a few seconds later; no new envelope goes to a connection once it was told so, unless it is
  the only one.
- `drop()` ends a connection's TCP stream with no WebSocket close (a network blip, a proxy restart);
  `blackhole()` leaves it open but silent both ways (a half-open connection: nothing arrives, pings
  included), which only a ping that gets no pong can notice.

Point FakeSlack's `apps.connections.open` at it with `fake_slack.socket_url = socket_mode.url`. Each
TCP connection passes through a small relay in front of a `websockets` server, which is what lets a test
cut or silence one connection alone.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

# Slack shows "dispatch_failed" to a person whose command was not acknowledged within this long.
ACK_WINDOW_SECONDS = 3.0


@dataclass
class Link:
    """One Socket Mode connection, numbered from 1 in the order the app opened them."""

    number: int
    relay: _Relay
    opened_at: float = field(default_factory=time.monotonic)
    websocket: ServerConnection | None = None
    hello_at: float | None = None
    told_to_leave: bool = False  # a `disconnect` was sent on it
    closed_at: float | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def live(self) -> bool:
        return self.websocket is not None and not self.closed and not self.relay.silent


@dataclass(frozen=True)
class Delivery:
    """An envelope sent on a link, and when."""

    envelope_id: str
    link: int
    sent_at: float


@dataclass(frozen=True)
class Ack:
    """What the app sent back for an envelope, on which link, and how long after the envelope went out
    (None when the envelope was never sent on that link)."""

    envelope_id: str
    link: int
    body: dict[str, Any]
    received_at: float
    after_seconds: float | None

    @property
    def in_time(self) -> bool:
        """Slack takes it: on the envelope's own link, within its 3 seconds."""
        return self.after_seconds is not None and self.after_seconds <= ACK_WINDOW_SECONDS


class FakeSocketMode:
    """Slack's Socket Mode endpoint (see the module's docstring for how it behaves)."""

    def __init__(self, *, spread: bool = False) -> None:
        self.spread = spread
        self.links: list[Link] = []
        self.deliveries: list[Delivery] = []
        self.acks: list[Ack] = []  # every ack, counted or not; `acked()` says which Slack takes
        self._changed = threading.Condition()
        self._turn = itertools.count()
        self._server: Server = serve(self._session, "127.0.0.1", 0, ping_interval=None)
        self._front = socket.create_server(("127.0.0.1", 0))
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True),
            threading.Thread(target=self._accept, name="fake-socket-mode-relay", daemon=True),
        ]

    # -- set-up ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._front.getsockname()[:2]
        return f"ws://{host}:{port}/link"

    def start(self) -> FakeSocketMode:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        with self._changed:
            links = list(self.links)
        for link in links:
            link.relay.cut()
        self._front.close()
        self._server.shutdown()

    # -- what Slack does ---------------------------------------------------------------------------

    def send(self, envelope: dict[str, Any], *, link: int | None = None) -> int:
        """Send `envelope` on one connection (the number given, else as Slack routes); returns its number."""
        raw = json.dumps(envelope)
        with self._changed:
            target = self._link(link) if link is not None else self._route()
            assert target.websocket is not None, f"link {target.number} has not said hello"
            self.deliveries.append(Delivery(envelope["envelope_id"], target.number, time.monotonic()))
            websocket = target.websocket
        # Gone meanwhile: the envelope is lost, as on Slack when a connection dies with one in flight.
        with contextlib.suppress(ConnectionClosed):
            websocket.send(raw)
        return target.number

    def refresh(self, link: int, *, reason: str = "refresh_requested", close_after: float = 3.0) -> None:
        """Slack's `disconnect` on `link`, which Slack then closes `close_after` seconds later."""
        with self._changed:
            target = self._link(link)
            target.told_to_leave = True
            websocket = target.websocket
        assert websocket is not None
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-socket-mode"}}
        websocket.send(json.dumps(message))
        timer = threading.Timer(close_after, self._close, args=(target,))
        timer.daemon = True
        timer.start()

    def drop(self, link: int, *, reset: bool = False) -> None:
        """End `link`'s TCP stream with no WebSocket close: a FIN, as a restarting proxy sends, or with
        `reset` an RST, as a killed one or a NAT that forgot the connection does."""
        with self._changed:
            target = self._link(link)
            target.closed_at = target.closed_at or time.monotonic()
            self._changed.notify_all()
        target.relay.cut(reset=reset)

    def blackhole(self, link: int) -> None:
        """From now on nothing crosses `link` either way, though both ends still think it open."""
        with self._changed:
            self._link(link).relay.silent = True
            self._changed.notify_all()

    # -- what tests read -----------------------------------------------------------------------------

    def acked(self, envelope_id: str) -> Ack | None:
        """The ack Slack takes for `envelope_id` (on its link, in time), if any."""
        with self._changed:
            return next((a for a in self.acks if a.envelope_id == envelope_id and a.in_time), None)

    def live_links(self) -> list[int]:
        with self._changed:
            return [link.number for link in self.links if link.live]

    def wait_connected(self, timeout: float = 10.0, *, count: int = 1) -> None:
        """Until `count` links have said hello since the start (not necessarily all still open)."""
        self._wait(lambda: sum(link.websocket is not None for link in self.links) >= count, timeout)

    def wait_live(self, count: int, timeout: float = 10.0) -> list[int]:
        """Until exactly `count` links are live; returns their numbers."""
        self._wait(lambda: sum(link.live for link in self.links) == count, timeout)
        return self.live_links()

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The body of the ack Slack takes for `envelope_id`, waiting up to `timeout` seconds for it."""
        self._wait(lambda: self._taken(envelope_id) is not None, timeout)
        ack = self._taken(envelope_id)
        assert ack is not None
        return ack.body

    def _taken(self, envelope_id: str) -> Ack | None:
        return next((a for a in self.acks if a.envelope_id == envelope_id and a.in_time), None)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fake Socket Mode: condition not met within {timeout} s")
                self._changed.wait(remaining)

    # -- inside ------------------------------------------------------------------------------------

    def _link(self, number: int) -> Link:
        return self.links[number - 1]

    def _route(self) -> Link:
        live = [link for link in self.links if link.live]
        assert live, "no live Socket Mode connection to send an envelope on"
        staying = [link for link in live if not link.told_to_leave] or live
        if self.spread:
            return staying[next(self._turn) % len(staying)]
        return max(staying, key=lambda link: link.number)

    def _close(self, link: Link) -> None:
        with self._changed:
            link.closed_at = link.closed_at or time.monotonic()
            websocket = link.websocket
            self._changed.notify_all()
        if websocket is not None:
            websocket.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._front.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._server.socket.getsockname()[:2])
            relay = _Relay(client, upstream)
            with self._changed:
                self.links.append(Link(len(self.links) + 1, relay))
            relay.start()

    def _link_of(self, websocket: ServerConnection) -> Link:
        # The relay's upstream socket is the websocket's peer: its local port names the link.
        port = websocket.remote_address[1]
        with self._changed:
            return next(link for link in self.links if link.relay.upstream_port == port)

    def _session(self, websocket: ServerConnection) -> None:
        link = self._link_of(websocket)
        with self._changed:
            live = sum(other.live for other in self.links) + 1
        websocket.send(json.dumps({"type": "hello", "num_connections": live, "debug_info": {}}))
        with self._changed:
            link.websocket = websocket
            link.hello_at = time.monotonic()
            self._changed.notify_all()
        try:
            for raw in websocket:
                self._record_ack(link, json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                link.closed_at = link.closed_at or time.monotonic()
                self._changed.notify_all()

    def _record_ack(self, link: Link, body: dict[str, Any]) -> None:
        now = time.monotonic()
        envelope_id = str(body.get("envelope_id"))
        with self._changed:
            sent = next(
                (d for d in self.deliveries if d.envelope_id == envelope_id and d.link == link.number),
                None,
            )
            after = None if sent is None else now - sent.sent_at
            self.acks.append(Ack(envelope_id, link.number, body, now, after))
            self._changed.notify_all()


class _Relay:
    """Copies bytes between the app's TCP connection and the WebSocket server, until cut; silenced, it
    reads and drops them instead, so neither end notices anything but silence."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.upstream_port = upstream.getsockname()[1]
        self.silent = False

    def start(self) -> None:
        for source, sink in ((self.client, self.upstream), (self.upstream, self.client)):
            threading.Thread(target=self._pump, args=(source, sink), name="fake-relay", daemon=True).start()

    def cut(self, *, reset: bool = False) -> None:
        if reset:  # closing with a zero linger sends RST instead of FIN
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.client.close()
        for end in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.silent:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            if not self.silent:
                self.cut()
