"""Socket Mode that stays connected: a dead connection replaced within seconds, Slack's `disconnect`
crossed with no gap, every envelope acknowledged on the connection it came on, and acted on once.

Each WebSocket is one slack_sdk built-in `SocketModeClient` with its own reconnecting switched off; this
module decides when connections open and close. That client was chosen over slack_sdk's others because
it needs no dependency, it is what bolt's SocketModeHandler uses, and it pings the way liveness needs
(a ping each `ping_interval`, the answered ping's time kept); the `websocket-client` adapter opens its
socket on a half-second timer and pings with no pong deadline, and the `aiohttp` and `websockets`
adapters run on asyncio, which would need bolt's AsyncApp. What none of them does, and this module does:

- a connection that closes, or answers no ping for PONG_TIMEOUT_SECONDS, is replaced at once, then with
  growing, jittered pauses while Slack refuses (never a tight loop);
- on `disconnect` (Slack's routine `refresh_requested`, or `warning` before maintenance) the new
  connection is opened and its `hello` awaited while the old one still serves; the old one is left for
  Slack to close (at most DRAIN_SECONDS). slack_sdk's own handling swaps one current connection for
  another, so an envelope read on one could be acknowledged on the other, which Slack does not take;
- an envelope id seen lately (Slack redelivering it, or sending it on two connections) is acknowledged
  again but not run again. A cancel is safe anyway: the store's claim sends one DELETE per job.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from jobbot.errors import SocketOpenFailed
from jobbot.logs import SOCKET_MODE_SDK_LOGGER
from jobbot.metrics import SOCKET_CONNECTED, SOCKET_RECONNECT_SECONDS, SOCKET_RECONNECTS

log = logging.getLogger(__name__)

# A ping each second; a connection whose last answered ping is older than this is taken for dead. Slack
# answers in milliseconds, so this is all slack for a busy host, and a half-open connection is replaced
# within about four seconds (bolt's default: 40 s).
PING_INTERVAL_SECONDS = 1.0
PONG_TIMEOUT_SECONDS = 3.5
# A new connection must say hello within this long, or the attempt failed.
HELLO_SECONDS = 5.0
# After `disconnect`, Slack closes the old connection within seconds; if it has not after this long,
# jobbot closes it.
DRAIN_SECONDS = 30.0
# How often the watcher looks at the connections when nothing wakes it.
WATCH_SECONDS = 0.1
# Envelope ids remembered to recognise one delivered again.
SEEN_ENVELOPES = 2048


@dataclass
class Backoff:
    """Pauses between attempts to open a connection: none before the first (a drop is usually a blip),
    then doubling from `first` up to `cap`, each drawn from its upper half so that replicas cut off
    together do not come back in step ("equal jitter")."""

    first: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def pause(self, failures: int) -> float:
        """The pause before the next attempt, after `failures` attempts in a row have failed."""
        if failures <= 0:
            return 0.0
        ceiling = min(self.cap, self.first * 2 ** (failures - 1))
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))


class _Connection(SocketModeClient):
    """One WebSocket to Slack. It never replaces itself: `disconnect` only marks it, for the link."""

    def __init__(self, app_token: str, web_client: WebClient, on_change: Callable[[], None]) -> None:
        super().__init__(
            app_token=app_token,
            web_client=web_client,
            logger=logging.getLogger(SOCKET_MODE_SDK_LOGGER),
            auto_reconnect_enabled=False,
            ping_interval=PING_INTERVAL_SECONDS,
        )
        self._on_change = on_change
        self.hello = threading.Event()
        self.leaving: str | None = None  # Slack's reason, once it said `disconnect`
        self.left_at: float | None = None  # when it said so (monotonic)
        self.opened_at = time.time()  # wall time, as slack_sdk stamps its pings
        # slack_sdk handles `disconnect` before its message listeners see it; the raw listener sees all.
        self.on_message_listeners.append(self._on_slack_message)
        self.on_close_listeners.append(lambda code, reason: on_change())

    def connect(self) -> None:
        self.opened_at = time.time()
        super().connect()

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        # slack_sdk calls this on `disconnect` to swap its one connection in place; the link opens the
        # replacement itself, beside this one, and this one serves on until Slack closes it.
        self._leave("disconnect")

    def _leave(self, reason: str) -> None:
        if self.leaving is None:
            self.leaving, self.left_at = reason, time.monotonic()
        self._on_change()

    def _on_slack_message(self, raw: str) -> None:
        # Only Slack's own messages are read here (envelopes go to bolt); they are small and rare.
        if '"hello"' not in raw and '"disconnect"' not in raw:
            return
        try:
            message: dict[str, Any] = json.loads(raw)
        except ValueError:
            return
        if message.get("type") == "hello":
            self.hello.set()
            self._on_change()
        elif message.get("type") == "disconnect":
            self._leave(str(message.get("reason") or "disconnect"))

    def peer_closed(self) -> bool:
        """The TCP stream has ended (a proxy restarted, a network blip). slack_sdk's reader does not
        notice an end with no WebSocket close: it reads nothing, again and again, until a ping fails. A
        peek at the socket, which takes nothing from the reader, tells at once."""
        session = self.current_session
        sock = session.sock if session is not None else None
        if sock is None:
            return True
        try:
            # A non-blocking twin of the OS socket (TLS or not, a TCP end reads as no bytes at all): the
            # socket itself has a timeout, and Python waits for data before any read from such a socket.
            with socket.socket(fileno=os.dup(sock.fileno())) as twin:
                twin.setblocking(False)
                return twin.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False  # nothing to read: open
        except (OSError, ValueError):
            return True  # closed meanwhile

    def silent_for(self) -> float:
        """Seconds since the last ping that got its pong was sent (or since the connection opened)."""
        session = self.current_session
        if session is None:
            return 0.0
        return time.time() - (session.last_ping_pong_time or self.opened_at)

    def shut(self) -> None:
        """Close it without waiting: closing a silent socket can block until its read times out."""
        threading.Thread(target=self.close, name="jobbot-socket-close", daemon=True).start()


class SocketModeLink:
    """jobbot's Socket Mode: keeps one verified connection to Slack open for `app`, as long as it runs."""

    def __init__(
        self,
        app: App,
        app_token: str,
        web_client: WebClient,
        *,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._app_token = app_token
        self._web_client = web_client
        self._backoff = backoff or Backoff()
        self._monotonic = monotonic
        self._current: _Connection | None = None
        self._draining: list[_Connection] = []
        self._down_since: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._watcher: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the first connection and wait for Slack's hello; raises SocketOpenFailed if it does not come.
        Then a thread of its own keeps the connection up until close()."""
        self._current = self._open()
        SOCKET_CONNECTED.set(1)
        self._watcher = threading.Thread(target=self._watch, name="jobbot-socket-mode", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop taking envelopes: every connection is closed (work already acknowledged goes on)."""
        self._stop.set()
        self._wake.set()
        if self._watcher is not None:
            # SIGTERM's budget gives the transport 2 s, as the HTTP server's; an attempt still opening
            # then closes what it opened by itself.
            self._watcher.join(timeout=2)
        with self._lock:
            connections = [c for c in [self._current, *self._draining] if c is not None]
            self._current, self._draining = None, []
        for connection in connections:
            connection.close()
        SOCKET_CONNECTED.set(0)

    def state(self) -> str:
        """What /readyz says of the connection: "ok (connected)" or "reconnecting for N s"."""
        with self._lock:
            down_since = self._down_since
        if down_since is None and self._current is not None:
            return "ok (connected)"
        if down_since is None:
            return "not connected"
        return f"reconnecting for {self._monotonic() - down_since:.0f} s"

    def is_connected(self) -> bool:
        return self.state().startswith("ok")

    # -- envelopes -----------------------------------------------------------------------------------

    def _handle(self, client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        """Run an envelope through bolt and acknowledge it on the connection it came on, the only one
        Slack takes the ack from; one seen lately is acknowledged and not run again."""
        if self._first_sighting(request.envelope_id):
            started = time.time()
            send_response(client, request, run_bolt_app(self._app, request), started)
            return
        log.info(
            "Socket Mode: envelope %s delivered again (retry %s); acknowledged, not run twice",
            request.envelope_id,
            request.retry_attempt,
        )
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    def _first_sighting(self, envelope_id: str) -> bool:
        with self._lock:
            if envelope_id in self._seen:
                return False
            self._seen[envelope_id] = None
            if len(self._seen) > SEEN_ENVELOPES:
                self._seen.popitem(last=False)
            return True

    # -- connections ---------------------------------------------------------------------------------

    def _open(self) -> _Connection:
        """A new connection, verified by Slack's hello; raises SocketOpenFailed."""
        connection = _Connection(self._app_token, self._web_client, self._wake.set)
        connection.socket_mode_request_listeners.append(self._handle)
        try:
            connection.connect()
        except Exception as exc:  # apps.connections.open refused, or the network failed
            connection.shut()
            raise SocketOpenFailed(_reason(exc)) from None
        if not connection.is_connected():  # slack_sdk logged why the WebSocket did not open
            connection.shut()
            raise SocketOpenFailed("the Socket Mode WebSocket did not open")
        if not connection.hello.wait(HELLO_SECONDS) or not connection.is_connected():
            connection.shut()
            raise SocketOpenFailed(
                f"the Socket Mode WebSocket opened but Slack sent no hello in {HELLO_SECONDS:g} s"
            )
        return connection

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(WATCH_SECONDS)
            self._wake.clear()
            current = self._current
            if current is None:
                return
            why = _why_replace(current)
            if why is not None:
                self._replace(current, why)
            self._drain()

    def _replace(self, old: _Connection, why: str) -> None:
        """Open the connection that takes over from `old`. A dead `old` is closed at once; one Slack asked
        to leave serves on, draining, until Slack closes it."""
        started = self._monotonic()
        dead = why != "disconnect"
        if dead:
            with self._lock:
                self._down_since = started
            SOCKET_CONNECTED.set(0)
            log.warning("Socket Mode connection lost (%s); reconnecting", why.replace("_", " "))
            old.shut()
        else:
            log.info("Slack asked to replace the Socket Mode connection (%s); opening a new one", old.leaving)
        failures = 0
        while not self._stop.is_set():
            if self._stop.wait(self._backoff.pause(failures)):
                return
            try:
                new = self._open()
            except SocketOpenFailed as exc:
                failures += 1
                log.warning(
                    "Socket Mode: could not open a connection (%s); attempt %d, trying again", exc, failures
                )
                if not dead and _why_replace(old) not in (None, "disconnect"):
                    # The old one died meanwhile: now jobbot is down until the new one opens.
                    dead = True
                    with self._lock:
                        self._down_since = self._monotonic()
                    SOCKET_CONNECTED.set(0)
                continue
            if self._stop.is_set():  # close() came while it opened: it must not outlive the process
                new.shut()
                return
            with self._lock:
                self._current = new
                self._down_since = None
                if not dead:
                    self._draining.append(old)
            SOCKET_CONNECTED.set(1)
            SOCKET_RECONNECTS.labels(why).inc()
            SOCKET_RECONNECT_SECONDS.observe(self._monotonic() - started)
            log.info("Socket Mode connection replaced (%s) in %.2f s", why, self._monotonic() - started)
            return

    def _drain(self) -> None:
        """Close the connections Slack asked to leave once Slack has closed them (with a WebSocket close,
        or the TCP stream's end alone), or after DRAIN_SECONDS."""
        now = time.monotonic()
        with self._lock:
            done = [c for c in self._draining if _drained(c, now)]
            self._draining = [c for c in self._draining if c not in done]
        for connection in done:
            connection.shut()


def _drained(connection: _Connection, now: float) -> bool:
    if not connection.is_connected() or connection.peer_closed():
        return True
    return now - (connection.left_at or now) > DRAIN_SECONDS


def _why_replace(connection: _Connection) -> str | None:
    """Why `connection` must be replaced, or None while it is healthy and Slack has not asked."""
    if connection.leaving is not None:
        return "disconnect"
    # Before `dropped`: slack_sdk closes a connection itself once its pings go unanswered long enough.
    if connection.silent_for() > PONG_TIMEOUT_SECONDS:
        return "unanswered_ping"
    if not connection.is_connected() or connection.peer_closed():
        return "dropped"
    return None


def _reason(exc: Exception) -> str:
    """A failed open in words, with no token in them (slack_sdk's errors carry the response, never the
    request's headers)."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return f"apps.connections.open answered {response['error']}"
        except (KeyError, TypeError):
            return f"apps.connections.open answered HTTP {getattr(response, 'status_code', '?')}"
    return f"apps.connections.open failed: {type(exc).__name__}"
