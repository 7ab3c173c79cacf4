"""Loopback stand-ins for what tests cannot reach: Slack's Web API and its response_url endpoint (and, from
`tests.fake_socket_mode`, its Socket Mode endpoint)."""

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

from jobbot.slack_ids import BOT_SCOPES
from tests.fake_socket_mode import FakeSocketMode as FakeSocketMode  # its home is that module

BOT_USER_ID = "UBOT0001"
TEAM_ID = "T0001"
# Where files.getUploadURLExternal sends a file's bytes (on the fake itself), and the name a test scripts
# that POST under, as if it were a Web API method.
UPLOAD_PATH = "/upload/"
UPLOAD_STEP = "upload"


@dataclass
class Call:
    """One request the fake received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float = field(default_factory=time.time)
    # The raw bytes of a file POSTed to an upload URL (its `body` then only holds their length).
    data: bytes = b""

    @property
    def method(self) -> str:
        if self.path.startswith(UPLOAD_PATH):
            return UPLOAD_STEP
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
        # files.completeUploadExternal names its channel `channel_id`.
        channel = call.body.get("channel") or call.body.get("channel_id")
        return self.channel is None or channel == self.channel


@dataclass(frozen=True)
class Version:
    """One state of a message: as posted, or as a chat.update left it."""

    received_at: float
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None


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
    reply_broadcast: bool = False
    # Files shared by files.completeUploadExternal, as Slack lists them on the message: id, name, title.
    files: list[dict[str, Any]] = field(default_factory=list)
    # Every state of the message, oldest first: as posted, then one per chat.update.
    versions: list[Version] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.versions:
            self.versions.append(Version(self.received_at, self.text, self.blocks, self.metadata))

    @property
    def edits(self) -> list[Version]:
        """The states chat.update gave the message, oldest first."""
        return self.versions[1:]

    def as_history(self, with_metadata: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "blocks": self.blocks}
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.reply_broadcast:
            message["subtype"] = "thread_broadcast"
        if self.files:
            message["files"] = [dict(f) for f in self.files]
        if self.edits:
            message["edited"] = {"user": BOT_USER_ID, "ts": f"{self.edits[-1].received_at:.6f}"}
        if with_metadata and self.metadata:
            message["metadata"] = self.metadata
        return message

    def update(self, call: Call) -> None:
        """Apply chat.update: fields it leaves out keep their value, as Slack keeps a message's blocks and
        metadata when an update does not name them."""
        if "text" in call.body:
            self.text = str(call.body.get("text") or "")
        if "blocks" in call.body:
            self.blocks = _maybe_json(call.body.get("blocks")) or []
        if "metadata" in call.body:
            self.metadata = _maybe_json(call.body.get("metadata")) or None
        self.versions.append(Version(call.received_at, self.text, self.blocks, self.metadata))


@dataclass(frozen=True)
class Uploaded:
    """A file shared by files.completeUploadExternal, with the bytes POSTed to its upload URL."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str
    thread_ts: str | None
    comment: str


class FakeSlack:
    """A fake Slack Web API and response_url sink on 127.0.0.1, recording every call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.posted: list[Posted] = []
        self.uploaded: list[Uploaded] = []
        # file id -> (filename, bytes POSTed so far): uploads started but not yet completed.
        self._pending_files: dict[str, tuple[str, bytes | None]] = {}
        self._file_ids = 0
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
        # The bot token's scopes, sent as Slack sends them: in auth.test's x-oauth-scopes header.
        self.scopes: tuple[str, ...] = BOT_SCOPES
        # The channels Slack knows, by id, with conversations.info's fields (name, is_member, is_private,
        # is_archived). None: every channel is known and has jobbot in it, as most tests assume. Either
        # way, conversations.info/history/replies refuse as Slack does: missing_scope for a scope not in
        # `scopes`, channel_not_found for a channel it does not know (or a private one without jobbot),
        # not_in_channel for history of a public one without jobbot.
        self.channels: dict[str, dict[str, Any]] | None = None
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

    def uploads(self, channel: str | None = None) -> list[Uploaded]:
        """Files shared so far (optionally in one channel), oldest first."""
        with self._changed:
            return [u for u in self.uploaded if channel is None or u.channel == channel]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        data = request.rfile.read(length) if length else b""
        path, _, query = request.path.partition("?")
        raw = "" if path.startswith(UPLOAD_PATH) else data.decode()
        body: dict[str, Any]
        if path.startswith(UPLOAD_PATH):
            # slack_sdk POSTs the file's bytes as they are, not a form: keep them whole.
            body = {"length": len(data)}
        elif request.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(raw) if raw else {}
        else:
            body = dict(parse_qsl(raw or query, keep_blank_values=True))
        call = Call(
            path=path,
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            received_at=self.clock(),
            data=data if path.startswith(UPLOAD_PATH) else b"",
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
            headers = {"x-oauth-scopes": ",".join(self.scopes)} if call.method == "auth.test" else {}
            answer = Scripted(200, self._normal_answer(call, ts), headers)
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
                reply_broadcast=_flag(call.body.get("reply_broadcast")),
            )
            with self._changed:
                self.posted.append(message)
                self._changed.notify_all()
            return {"ok": True, "channel": message.channel, "ts": ts, "message": message.as_history(True)}
        if method == "chat.update":
            return self._update(call)
        if method == "chat.postEphemeral":
            return {"ok": True, "channel": call.body.get("channel", "C0001"), "ts": ts}
        if method == "files.getUploadURLExternal":
            return self._upload_url(call)
        if method == UPLOAD_STEP:
            return self._receive_file(call)
        if method == "files.completeUploadExternal":
            return self._complete_upload(call, ts)
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(call.body.get("users", "X"))[1:]}}
        if method in ("conversations.history", "conversations.replies", "conversations.info"):
            return self._conversation(call)
        return {"ok": True}

    def _conversation(self, call: Call) -> dict[str, Any]:
        """conversations.info, .history or .replies, refused where Slack would refuse the bot."""
        channel = str(call.body.get("channel"))
        known = {"is_member": True} if self.channels is None else self.channels.get(channel)
        if known is None:
            return {"ok": False, "error": "channel_not_found"}
        private = bool(known.get("is_private")) or channel.startswith("G")
        kind = "im" if channel.startswith("D") else "groups" if private else "channels"
        needed = f"{kind}:read" if call.method == "conversations.info" else f"{kind}:history"
        if needed not in self.scopes:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(self.scopes),
            }
        member = bool(known.get("is_member"))
        if private and not member:
            return {"ok": False, "error": "channel_not_found"}  # a private channel is unseen from outside
        if call.method == "conversations.info":
            return {"ok": True, "channel": {"id": channel, **known}}
        if not member:
            return {"ok": False, "error": "not_in_channel"}
        return self._history(call)

    def _update(self, call: Call) -> dict[str, Any]:
        """chat.update edits the stored message in place; Slack answers message_not_found for a ts it
        does not hold in that channel."""
        channel, ts = call.body.get("channel"), call.body.get("ts")
        with self._changed:
            message = next((m for m in self.posted if m.channel == channel and m.ts == ts), None)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.update(call)
            self._changed.notify_all()
            return {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "text": message.text,
                "message": message.as_history(True),
            }

    def _upload_url(self, call: Call) -> dict[str, Any]:
        """Step 1 of an upload: a file id and a URL on this fake to POST the bytes to."""
        with self._changed:
            self._file_ids += 1
            file_id = f"F{self._file_ids:08d}"
            self._pending_files[file_id] = (str(call.body.get("filename") or ""), None)
        return {"ok": True, "upload_url": f"{self.url}{UPLOAD_PATH}{file_id}", "file_id": file_id}

    def _receive_file(self, call: Call) -> str:
        """Step 2: the bytes, POSTed raw; Slack's file host answers in plain text."""
        file_id = call.path.removeprefix(UPLOAD_PATH)
        with self._changed:
            if file_id not in self._pending_files:
                return "file not found"
            filename, _ = self._pending_files[file_id]
            self._pending_files[file_id] = (filename, call.data)
        return f"OK - {len(call.data)}"

    def _complete_upload(self, call: Call, ts: str) -> dict[str, Any]:
        """Step 3: share the uploaded files, as one message in the channel (or thread) carrying them."""
        requested = _maybe_json(call.body.get("files")) or []
        with self._changed:
            if not all(self._pending_files.get(f.get("id"), ("", None))[1] is not None for f in requested):
                return {"ok": False, "error": "file_not_found"}
            channel = call.body.get("channel_id")
            thread_ts = call.body.get("thread_ts") or None
            comment = str(call.body.get("initial_comment") or "")
            shared: list[dict[str, Any]] = []
            for f in requested:
                filename, content = self._pending_files.pop(f["id"])
                title = str(f.get("title") or filename)
                shared.append({"id": f["id"], "name": filename, "title": title})
                if channel:
                    self.uploaded.append(
                        Uploaded(f["id"], filename, title, content or b"", channel, thread_ts, comment)
                    )
            if channel:
                self.posted.append(
                    Posted(
                        received_at=call.received_at,
                        channel=channel,
                        ts=ts,
                        text=comment,
                        blocks=[],
                        metadata=None,
                        thread_ts=thread_ts,
                        files=shared,
                    )
                )
            self._changed.notify_all()
        return {"ok": True, "files": shared}

    def _history(self, call: Call) -> dict[str, Any]:
        channel = call.body.get("channel")
        with_metadata = str(call.body.get("include_all_metadata")).lower() in ("1", "true")
        if call.method == "conversations.replies":
            parent = call.body.get("ts")
            found = [m for m in self.messages(channel) if m.ts == parent or m.thread_ts == parent]
        else:
            oldest = float(call.body.get("oldest") or 0)
            # A reply broadcast to the channel shows in its history too, as Slack lists it.
            found = [
                m
                for m in self.messages(channel)
                if (not m.thread_ts or m.reply_broadcast) and float(m.ts) >= oldest
            ]
            found.reverse()  # newest first, as Slack answers
        return {"ok": True, "messages": [m.as_history(with_metadata) for m in found], "has_more": False}


def _maybe_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _flag(value: Any) -> bool:
    """A boolean argument, sent as JSON (true) or as a form field ("true", "1")."""
    return value is True or str(value).lower() in ("1", "true")


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with `body`, signed exactly as Slack signs requests."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
