"""Loopback stand-ins for what tests cannot reach: Slack's Web API and its response_url endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_USER_ID = "UBOT0001"
TEAM_ID = "T0001"


@dataclass
class Call:
    """One request the fake received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float = field(default_factory=time.time)

    @property
    def method(self) -> str:
        return self.path.removeprefix("/api/")


@dataclass
class Scripted:
    """A canned failure for the next call(s) of one Web API method.

    `hang_up_after_success`: do the call (post the message) but close the connection without an
    answer, as when the network fails after Slack accepted a message. `channel`: only calls for that
    channel get this answer; calls for other channels pass it by.
    """

    status: int = 200
    body: dict[str, Any] | str = field(default_factory=lambda: {"ok": False, "error": "internal_error"})
    headers: dict[str, str] = field(default_factory=dict)
    hang_up_after_success: bool = False
    channel: str | None = None

    def applies_to(self, call: Call) -> bool:
        return self.channel is None or call.body.get("channel") == self.channel


@dataclass
class Posted:
    """A message the fake holds, as conversations.history would return it."""

    received_at: float
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    thread_ts: str | None

    def as_history(self, with_metadata: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "blocks": self.blocks}
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            message["metadata"] = self.metadata
        return message


class FakeSlack:
    """A fake Slack Web API and response_url sink on 127.0.0.1, recording every call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.posted: list[Posted] = []
        # Seconds to wait before answering each method, after doing its work: a slow Slack.
        self.delays: dict[str, float] = {}
        self._scripts: dict[str, list[Scripted]] = {}
        # method -> answers given in turn to every call until the outage ends.
        self._outages: dict[str, list[Scripted]] = {}
        self._outage_turns: dict[str, int] = {}
        # When a call counts as received; tests that simulate time replace it with their clock.
        self.clock: Callable[[], float] = time.time
        self._changed = threading.Condition()
        self._ts = 0.0
        self.socket_url = ""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-slack", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response_url/{name}"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, method: str, *failures: Scripted) -> None:
        """The next calls of `method` get these answers, in order, before normal service resumes."""
        with self._changed:
            self._scripts.setdefault(method, []).extend(failures)

    def outage(self, method: str, *answers: Scripted) -> None:
        """Every call of `method` gets these answers in turn (those that apply to its channel), until
        `end_outage`: a fault that lasts a while rather than a number of calls."""
        with self._changed:
            self._outages[method] = list(answers)
            self._outage_turns[method] = 0

    def end_outage(self, method: str | None = None) -> None:
        """Normal service again for `method` (or every method)."""
        with self._changed:
            for name in [method] if method else list(self._outages):
                self._outages.pop(name, None)

    def calls_to(self, method_or_prefix: str) -> list[Call]:
        with self._changed:
            return [
                c for c in self.calls if c.method == method_or_prefix or c.path.startswith(method_or_prefix)
            ]

    def responses(self, name: str = "r1") -> list[dict[str, Any]]:
        """Bodies posted to one response_url, in order."""
        return [c.body for c in self.calls_to(f"/response_url/{name}")]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Block until `predicate()` holds (re-checked on every call received), or fail the test."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"fake Slack: condition not met within {timeout} s; calls: {self.calls}"
                    )
                self._changed.wait(remaining)

    def wait_for_responses(self, count: int, name: str = "r1", timeout: float = 10.0) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.responses(name)) >= count, timeout)
        return self.responses(name)

    def messages(self, channel: str | None = None) -> list[Posted]:
        """Messages posted so far (optionally to one channel), oldest first."""
        with self._changed:
            return [m for m in self.posted if channel is None or m.channel == channel]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode() if length else ""
        path, _, query = request.path.partition("?")
        body: dict[str, Any]
        if request.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(raw) if raw else {}
        else:
            body = dict(parse_qsl(raw or query, keep_blank_values=True))
        call = Call(
            path=path,
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            received_at=self.clock(),
        )
        with self._changed:
            self.calls.append(call)
            answer = self._scripted_answer(call)
            # Real-time stamps, strictly increasing, as Slack's message ts are.
            self._ts = max(self._ts + 0.000001, time.time())
            ts = f"{self._ts:.6f}"
            self._changed.notify_all()
        if answer is not None and answer.hang_up_after_success:
            self._normal_answer(call, ts)
            request.close_connection = True
            request.connection.shutdown(2)
            return
        if answer is None:
            answer = Scripted(200, self._normal_answer(call, ts))
            time.sleep(self.delays.get(call.method, 0.0))
        payload = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
        data = payload.encode()
        request.send_response(answer.status)
        request.send_header(
            "Content-Type", "application/json" if not isinstance(answer.body, str) else "text/plain"
        )
        request.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _scripted_answer(self, call: Call) -> Scripted | None:
        """The next scripted answer for this call, else the outage's next answer, else None (normal)."""
        scripted = self._scripts.get(call.method) or []
        for index, answer in enumerate(scripted):
            if answer.applies_to(call):
                return scripted.pop(index)
        outage = [a for a in self._outages.get(call.method, []) if a.applies_to(call)]
        if outage:
            turn = self._outage_turns[call.method]
            self._outage_turns[call.method] = turn + 1
            return outage[turn % len(outage)]
        return None

    def _normal_answer(self, call: Call, ts: str) -> dict[str, Any] | str:
        if call.path.startswith("/response_url/"):
            return {"ok": True}
        method = call.method
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "auth.test":
            return {
                "ok": True,
                "user": "jobbot",
                "team": "Test Team",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0001",
                "url": "https://test.slack.com/",
            }
        if method == "chat.postMessage":
            message = Posted(
                received_at=call.received_at,
                channel=str(call.body.get("channel")),
                ts=ts,
                text=str(call.body.get("text") or ""),
                blocks=_maybe_json(call.body.get("blocks")) or [],
                metadata=_maybe_json(call.body.get("metadata")),
                thread_ts=call.body.get("thread_ts"),
            )
            with self._changed:
                self.posted.append(message)
                self._changed.notify_all()
            return {"ok": True, "channel": message.channel, "ts": ts, "message": message.as_history(True)}
        if method in ("chat.update", "chat.postEphemeral"):
            return {"ok": True, "channel": call.body.get("channel", "C0001"), "ts": call.body.get("ts", ts)}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(call.body.get("users", "X"))[1:]}}
        if method in ("conversations.history", "conversations.replies"):
            return self._history(call)
        return {"ok": True}

    def _history(self, call: Call) -> dict[str, Any]:
        channel = call.body.get("channel")
        with_metadata = str(call.body.get("include_all_metadata")).lower() in ("1", "true")
        if call.method == "conversations.replies":
            parent = call.body.get("ts")
            found = [m for m in self.messages(channel) if m.ts == parent or m.thread_ts == parent]
        else:
            oldest = float(call.body.get("oldest") or 0)
            found = [m for m in self.messages(channel) if not m.thread_ts and float(m.ts) >= oldest]
            found.reverse()  # newest first, as Slack answers
        return {"ok": True, "messages": [m.as_history(with_metadata) for m in found], "has_more": False}


def _maybe_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with `body`, signed exactly as Slack signs requests."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


class FakeSocketMode:
    """The WebSocket side of Socket Mode: sends envelopes to the connected app and collects its acks.

    Point FakeSlack's `apps.connections.open` at `url` with `fake_slack.socket_url = socket.url`.
    """

    def __init__(self) -> None:
        from websockets.sync.server import serve

        self.acks: list[dict[str, Any]] = []
        self._outbox: list[str] = []
        self._changed = threading.Condition()
        self._connected = 0
        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def send(self, envelope: dict[str, Any]) -> None:
        with self._changed:
            self._outbox.append(json.dumps(envelope))
            self._changed.notify_all()

    def wait_connected(self, timeout: float = 10.0) -> None:
        self._wait(lambda: self._connected > 0, timeout)

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        self._wait(lambda: any(a.get("envelope_id") == envelope_id for a in self.acks), timeout)
        return next(a for a in self.acks if a.get("envelope_id") == envelope_id)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fake Socket Mode: condition not met within {timeout} s")
                self._changed.wait(remaining)

    def _session(self, websocket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        websocket.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {}}))
        with self._changed:
            self._connected += 1
            self._changed.notify_all()
        try:
            while True:
                with self._changed:
                    pending, self._outbox = self._outbox, []
                for message in pending:
                    websocket.send(message)
                try:
                    raw = websocket.recv(timeout=0.05)
                except TimeoutError:
                    continue
                with self._changed:
                    self.acks.append(json.loads(raw))
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
