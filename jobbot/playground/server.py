"""The playground's HTTP face: the page, its JSON API, and the Slack Web API that jobbot calls.

What the page asks for (a command typed, a button clicked) is turned into the very request Slack would
send, signed with the signing secret as Slack signs it, and POSTed to jobbot's own HTTP endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from jobbot.errors import PlaygroundRequestError, WebApiRefusal
from jobbot.playground.workspace import (
    CHANNELS,
    NAMES,
    SCOPES,
    TEAM_ID,
    Message,
    Workspace,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
# A static file's name: no directories, no dot files, so nothing outside static/ can be named.
_STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What the page and jobbot send is small; an upload is a job's log.
BODY_LIMIT = 1 << 20
UPLOAD_LIMIT = 5 << 20
# What a person may type after /jobs (Slack's message box allows more; no command of jobbot's is this long).
COMMAND_LIMIT = 4_000
# Slack waits 3 seconds for an acknowledgement; jobbot acks at once, so a slow answer is a failure.
ACK_SECONDS = 3.0


class PlaygroundServer:
    """Serves the page and the APIs on (host, port); `bot_url` (jobbot's HTTP endpoint) is set before
    the first command or click is forwarded."""

    def __init__(
        self, workspace: Workspace, *, host: str, port: int, bot_token: str, signing_secret: str
    ) -> None:
        self.workspace = workspace
        self.bot_url = ""
        self._bot_token = bot_token
        self._signing_secret = signing_secret
        self._http = httpx.Client(timeout=ACK_SECONDS)
        playground = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "jobbot-playground"

            def do_GET(self) -> None:
                playground._handle(self, "GET")

            def do_POST(self) -> None:
                playground._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s %s", self.address_string(), format % args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        host_shown = f"[{host}]" if ":" in host else host
        port = self._server.server_port
        self.url = f"http://{host_shown}:{port}"
        # The names the page may be reached by; any, when listening on every interface (chosen with --host).
        names = {host_shown, "127.0.0.1", "localhost", "[::1]"}
        self._hosts = set() if host in ("0.0.0.0", "::", "") else {f"{name}:{port}" for name in names}
        workspace.public_url = self.url

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="playground", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._http.close()

    # Routing.

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        try:
            if method == "GET" and path in ("/", "/index.html"):
                self._static(request, "index.html")
            elif method == "GET" and path.startswith("/static/"):
                self._static(request, path.removeprefix("/static/"))
            elif method == "GET" and path == "/play/state":
                self._check_host(request)
                since = query.get("since", "")
                state = self.workspace.state(int(since) if since.isdigit() else None)
                _json(request, 200, state)
            elif method == "POST" and path.startswith("/play/"):
                self._play(request, path.removeprefix("/play/"))
            elif path.startswith("/api/"):
                self._web_api(request, path.removeprefix("/api/"), parts.query)
            else:
                _json(request, 404, {"ok": False, "error": "not found"})
        except PlaygroundRequestError as exc:
            _json(request, 400, {"ok": False, "error": str(exc)})

    def _static(self, request: BaseHTTPRequestHandler, name: str) -> None:
        file = STATIC / name
        content_type = CONTENT_TYPES.get(file.suffix)
        if not _STATIC_NAME.fullmatch(name) or content_type is None or not file.is_file():
            _json(request, 404, {"ok": False, "error": "not found"})
            return
        _send(request, 200, content_type, file.read_bytes())

    def _play(self, request: BaseHTTPRequestHandler, route: str) -> None:
        first, _, rest = route.partition("/")
        if first == "respond" and _ID.fullmatch(rest):
            self._respond(request, rest)
        elif first == "upload" and _ID.fullmatch(rest):
            data = _body(request, UPLOAD_LIMIT)
            accepted = self.workspace.receive_upload(rest, data)
            # Slack's file host answers in plain text.
            if accepted:
                _send(request, 200, "text/plain", f"OK - {len(data)}".encode())
            else:
                _send(request, 404, "text/plain", b"file not found")
        elif route in ("command", "action", "user"):
            self._check_origin(request)
            fields = _json_object(_body(request, BODY_LIMIT))
            act = {"command": self._command, "action": self._action, "user": self._user}[route]
            error = act(fields)
            _json(request, 200, {"ok": True} if error is None else {"ok": False, "error": error})
        else:
            _json(request, 404, {"ok": False, "error": "not found"})

    def _check_origin(self, request: BaseHTTPRequestHandler) -> None:
        """Refuse what another web site could make a visitor's browser send: it may act on a real
        Interactive server (INTERACTIVE_ADMIN_ENDPOINT). A form or a no-preflight fetch cannot send a JSON
        content type, and a site that rebinds its own name to this address still sends its own Host."""
        if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise PlaygroundRequestError("send the body as JSON, with Content-Type: application/json")
        self._check_host(request)

    def _check_host(self, request: BaseHTTPRequestHandler) -> None:
        """A page served from another name (a rebound DNS name) may neither act nor read the jobs."""
        host = request.headers.get("Host", "")
        if self._hosts and host not in self._hosts:
            raise PlaygroundRequestError(
                f"the Host header must name this server ({', '.join(sorted(self._hosts))})"
            )

    # What the page asks for.

    def _user(self, fields: dict[str, Any]) -> str | None:
        try:
            self.workspace.set_me(_text(fields, "user"))
        except ValueError as exc:
            return str(exc)
        return None

    def _command(self, fields: dict[str, Any]) -> str | None:
        channel, text = _text(fields, "channel"), _text(fields, "text", limit=COMMAND_LIMIT)
        if channel not in CHANNELS:
            return f"no such channel: {channel[:40]!r}"
        me = self.workspace.me
        self.workspace.post_typed(channel, me, f"/jobs {text}".rstrip())
        response_id = self.workspace.new_response_url(channel, me, None)
        body = urlencode(
            {
                "token": "playground",
                "team_id": TEAM_ID,
                "team_domain": "playground",
                "channel_id": channel,
                "channel_name": CHANNELS[channel],
                "user_id": me,
                "user_name": NAMES[me],
                "command": "/jobs",
                "text": text,
                "api_app_id": "A0PLAY",
                "is_enterprise_install": "false",
                "response_url": self._response_url(response_id),
                "trigger_id": _trigger_id(),
            }
        )
        return self._forward(body, response_id)

    def _action(self, fields: dict[str, Any]) -> str | None:
        message_id = _text(fields, "message")
        action_id, block_id = _text(fields, "action_id"), _text(fields, "block_id")
        value = _text(fields, "value", required=False)
        me = self.workspace.me
        message = self.workspace.message(message_id)
        if message is None or not message.visible_to(me):
            return f"no message {message_id[:40]!r} that {NAMES[me]} can see"
        button = _button(message, action_id, block_id)
        if button is None:
            return f"message {message_id} has no button {action_id[:80]!r} in block {block_id[:80]!r}"
        response_id = self.workspace.new_response_url(message.channel, me, message.id)
        payload = self._block_actions(message, button, block_id, value, response_id)
        return self._forward(urlencode({"payload": json.dumps(payload)}), response_id)

    def _block_actions(
        self, message: Message, button: dict[str, Any], block_id: str, value: str, response_id: str
    ) -> dict[str, Any]:
        """The block_actions payload Slack sends for a click on `button` (after its confirm dialog)."""
        me = self.workspace.me
        ephemeral = message.ephemeral_to is not None
        action: dict[str, Any] = {
            "type": "button",
            "action_id": button["action_id"],
            "block_id": block_id,
            "text": button.get("text") or {"type": "plain_text", "text": ""},
            "action_ts": f"{time.time():.6f}",
        }
        if value:
            action["value"] = value
        if button.get("style"):
            action["style"] = button["style"]
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": me, "username": NAMES[me], "name": NAMES[me], "team_id": TEAM_ID},
            "api_app_id": "A0PLAY",
            "token": "playground",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": _trigger_id(),
            "team": {"id": TEAM_ID, "domain": "playground"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": CHANNELS.get(message.channel, "directmessage")},
            "state": {"values": {}},
            "response_url": self._response_url(response_id),
            "actions": [action],
        }
        if message.thread_ts:
            payload["container"]["thread_ts"] = message.thread_ts
        # As Slack does: the message is sent for a click on a channel message, not on an ephemeral one.
        if not ephemeral:
            payload["message"] = message.as_history(False)
        return payload

    def _forward(self, body: str, response_id: str) -> str | None:
        """POST `body` to jobbot signed as Slack signs it; an answer in the acknowledgement is shown as
        Slack shows it (a reply to the request). Returns what went wrong, if anything."""
        timestamp = str(int(time.time()))
        base = f"v0:{timestamp}:{body}".encode()
        signature = "v0=" + hmac.new(self._signing_secret.encode(), base, hashlib.sha256).hexdigest()
        try:
            answer = self._http.post(
                self.bot_url,
                content=body.encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": timestamp,
                    "X-Slack-Signature": signature,
                },
            )
        except httpx.HTTPError as exc:
            # What Slack tells a person whose app did not answer in time.
            return f"jobbot did not answer ({type(exc).__name__}): Slack would say operation_timeout"
        if answer.status_code != 200:
            return f"jobbot answered HTTP {answer.status_code}: Slack would say dispatch_failed"
        if answer.content.strip():
            try:
                reply = answer.json()
            except ValueError:
                reply = {"text": answer.text}
            if isinstance(reply, dict) and (reply.get("text") or reply.get("blocks")):
                self.workspace.respond(response_id, reply)
        return None

    def _response_url(self, response_id: str) -> str:
        return f"{self.url}/play/respond/{response_id}"

    # What jobbot calls.

    def _respond(self, request: BaseHTTPRequestHandler, response_id: str) -> None:
        try:
            body = _json_object(_body(request, BODY_LIMIT))
        except PlaygroundRequestError:
            _json(request, 400, {"ok": False, "error": "invalid_payload"})
            return
        try:
            answer = self.workspace.respond(response_id, body)
        except WebApiRefusal as exc:
            status = 404 if exc.code in ("expired_url", "used_url") else 400
            _json(request, status, {"ok": False, "error": exc.code})
            return
        _json(request, 200, answer)

    def _web_api(self, request: BaseHTTPRequestHandler, method: str, query: str) -> None:
        raw = _body(request, BODY_LIMIT)
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = request.headers.get("Content-Type", "")
        try:
            if content_type.startswith("application/json"):
                params |= _json_object(raw)
            elif raw:
                params |= dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except (PlaygroundRequestError, UnicodeDecodeError):
            _json(request, 200, {"ok": False, "error": "invalid_form_data"})
            return
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(params.pop("token", "") or "")
        if not token:
            _json(request, 200, {"ok": False, "error": "not_authed"})
            return
        if not hmac.compare_digest(token.encode(), self._bot_token.encode()):
            _json(request, 200, {"ok": False, "error": "invalid_auth"})
            return
        answer = self.workspace.call(method, params)
        headers = {"x-oauth-scopes": SCOPES} if method == "auth.test" else {}
        _json(request, 200, answer, headers)


def _button(message: Message, action_id: str, block_id: str) -> dict[str, Any] | None:
    """The button with this action_id in the message's block `block_id` (Slack gives blocks an id of its
    own when the app sets none: the page sends it as it sees it, so it is matched only when present)."""
    for block in message.blocks or []:
        if block_id and block.get("block_id") not in (None, block_id):
            continue
        elements = block.get("elements") if block.get("type") == "actions" else [block.get("accessory")]
        for element in elements or []:
            if (
                isinstance(element, dict)
                and element.get("type") == "button"
                and element.get("action_id") == action_id
            ):
                return element
    return None


def _trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _body(request: BaseHTTPRequestHandler, limit: int) -> bytes:
    declared = request.headers.get("Content-Length") or "0"
    if not (declared.isascii() and declared.isdigit()):
        raise PlaygroundRequestError("a body needs a Content-Length")
    length = int(declared)
    if length > limit:
        raise PlaygroundRequestError(f"a body of {length} bytes is over the limit of {limit}")
    return request.rfile.read(length) if length else b""


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise PlaygroundRequestError("the body is not JSON") from None
    if not isinstance(value, dict):
        raise PlaygroundRequestError("the body is not a JSON object")
    return value


def _text(fields: dict[str, Any], name: str, *, limit: int = 255, required: bool = True) -> str:
    """A string field of the page's request, checked."""
    value = fields.get(name, None if required else "")
    if not isinstance(value, str):
        raise PlaygroundRequestError(
            f"{name!r} must be a string" if name in fields else f"{name!r} is missing"
        )
    if len(value) > limit:
        raise PlaygroundRequestError(f"{name!r} is longer than {limit} characters")
    return value


def _json(
    request: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    _send(request, status, "application/json", json.dumps(body).encode(), headers)


def _send(
    request: BaseHTTPRequestHandler,
    status: int,
    content_type: str,
    data: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(data)))
    request.send_header("Cache-Control", "no-store")
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)
