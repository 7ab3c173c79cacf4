"""HTTP mode: one WSGI app serving Slack's requests at /slack/events, run by waitress in production."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_sdk.signature import SignatureVerifier

from jobbot import metrics
from jobbot.probes import Probes
from jobbot.slack_ids import EVENTS_PATH as EVENTS_PATH  # where __main__ and tests look for it

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

# Each request is only an ack (work goes to the bot's pool), so threads are cheap; enough of them that a
# burst of 50 concurrent commands is not queued behind a handful.
HTTP_THREADS = 32
# Slack's requests are a few kilobytes (a slash command about 1 KB, a click with its message's blocks
# tens of KB); 1 MiB leaves room for any of them and refuses anything else before it is read.
SLACK_BODY_LIMIT = 1 << 20
# Open connections waitress accepts before it stops accepting (and /healthz stops answering): waitress's
# default of 100 fell to 101 idle connections. Slack and the probes need a handful at a time; 500 makes a
# flood of idle connections five times dearer while staying well below the usual 1024 open files.
CONNECTION_LIMIT = 500
# Seconds a connection may sit idle (between requests, or mid-request without a byte) before waitress
# closes it. Longer than the 60 s for which proxies and load balancers commonly keep an idle connection to
# reuse (AWS ALB's default, nginx's keep-alive), so jobbot never closes one just as a proxy sends Slack's
# request on it (a 502 for that command); shorter than waitress's 120 s, so idle connections go sooner.
CHANNEL_TIMEOUT = 75
# Slack sends signed requests only; a timestamp is seconds since the epoch (10 digits until 2286).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SlackEndpoint(SlackRequestHandler):
    """bolt's WSGI adapter behind an edge that refuses what Slack would never send, before bolt sees it.

    In order, on the raw bytes: a body over SLACK_BODY_LIMIT gets 413 without being read on; a request
    without a valid Slack signature gets 401; a signed body bolt cannot read gets 400. Each refusal is
    one INFO line naming the reason, never the body (bolt's own signature check logged the whole body).

    It also fixes slack-bolt 1.30's `payload` parsing trap: bolt reads any form body containing the
    substring "payload" as an interactivity payload, so `/jobs status payload` or a channel named
    "payloads" arrives empty. Such a body without a real `payload` field is a slash command: parse it as
    plain form fields.
    """

    def __init__(self, app: App, signing_secret: str) -> None:
        super().__init__(app, path=EVENTS_PATH)
        self._verifier = SignatureVerifier(signing_secret)
        _quiet_bolt_body_warnings()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != EVENTS_PATH:
            return super().__call__(environ, start_response)
        raw = _read_body(environ)
        if raw is None:
            return _refuse(start_response, "413 Content Too Large", "body over the size limit")
        text, problem = self._verified(raw, environ)
        if text is None:
            return _refuse(start_response, "401 Unauthorized", problem)
        request = WsgiHttpRequest(environ)
        try:
            bolt_request = self._bolt_request(text, request)
        # bolt's body parser: ValueError for JSON that does not parse, AttributeError for JSON that is
        # not an object (it reads fields with .get). Slack sends neither; only the secret's holder could.
        except (ValueError, AttributeError) as exc:
            reason = f"signed, but bolt cannot read the body ({type(exc).__name__})"
            return _refuse(start_response, "400 Bad Request", reason)
        response = self.app.dispatch(bolt_request)
        if response.status == 404:
            # bolt's own warning for this quotes parts of the body; name only what was not handled.
            log.warning("no listener for a request from Slack: %s", _summary(bolt_request.body))
        answer = WsgiHttpResponse(status=response.status, headers=response.headers, body=response.body)
        start_response(answer.status, answer.get_headers())
        return answer.get_body()

    def _verified(self, raw: bytes, environ: WSGIEnvironment) -> tuple[str | None, str]:
        """The body as text if Slack signed it, else None and why not (without quoting anything sent)."""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not timestamp or not signature:
            return None, "no Slack signature"
        # SignatureVerifier would raise on a timestamp "abc" (int()), on a signature that is not ASCII
        # (hmac.compare_digest) and on a body that is not UTF-8 (it decodes).
        if not _TIMESTAMP.fullmatch(timestamp):
            return None, "malformed X-Slack-Request-Timestamp"
        if not signature.isascii():
            return None, "malformed X-Slack-Signature"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, "body is not UTF-8, so not signed by Slack"
        if not self._verifier.is_valid(text, timestamp, signature):
            return None, "signature does not match, or is more than 5 minutes old"
        return text, ""

    def _bolt_request(self, text: str, request: WsgiHttpRequest) -> BoltRequest:
        bolt_request = BoltRequest(body=text, query=request.query_string, headers=request.get_headers())
        if "payload" in text and not text.lstrip().startswith("{"):
            fields = dict(parse_qsl(text, keep_blank_values=True))
            if "payload" not in fields:
                bolt_request.body = fields
                bolt_request.context = build_context(BoltContext(), fields)
        return bolt_request


def _read_body(environ: WSGIEnvironment) -> bytes | None:
    """The request body, or None when it is over SLACK_BODY_LIMIT (read at most one byte past it)."""
    stream = environ.get("wsgi.input")
    declared = environ.get("CONTENT_LENGTH") or ""
    if stream is None:
        return b""
    if declared:
        # Servers reject a malformed Content-Length before the app runs; treat one that slips through
        # as too large rather than guess. isdigit alone passes other scripts' digits ("١٢" is 12 to int).
        length = int(declared) if declared.isascii() and declared.isdigit() else SLACK_BODY_LIMIT + 1
        if length > SLACK_BODY_LIMIT:
            return None
        body: bytes = stream.read(length)
        return body
    if environ.get("wsgi.input_terminated"):
        # A chunked body the server passes on as it comes: read one byte past the limit to know.
        body = stream.read(SLACK_BODY_LIMIT + 1)
        return None if len(body) > SLACK_BODY_LIMIT else body
    return b""


def _refuse(start_response: StartResponse, status: str, reason: str) -> list[bytes]:
    log.info("refused a request to %s: %s", EVENTS_PATH, reason)
    metrics.REFUSED_REQUESTS.labels(status=status.split()[0]).inc()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [status.split(" ", 1)[1].encode() + b"\n"]


def _summary(body: dict[str, Any]) -> str:
    """What kind of request went unhandled, from the fields that name it (never values users typed)."""
    if "command" in body:
        return f"command {body.get('command')!r}"
    kind = body.get("type")
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    first = actions[0] if actions and isinstance(actions[0], dict) else {}
    name = first.get("action_id") or body.get("callback_id") or body.get("action_id")
    event = body.get("event", {}).get("type") if isinstance(body.get("event"), dict) else None
    return f"type {kind!r}" + (f", id {name!r}" if name else "") + (f", event {event!r}" if event else "")


class _BoltBodyWarnings(logging.Filter):
    """Drops bolt's warnings that quote a request's body (an unhandled request, a middleware that neither
    answered nor called next): the endpoint logs its own line naming only the kind of request."""

    QUOTING = ("Unhandled request", "A global middleware")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.QUOTING)


def _quiet_bolt_body_warnings() -> None:
    bolt_log = logging.getLogger("slack_bolt.App")
    if not any(isinstance(existing, _BoltBodyWarnings) for existing in bolt_log.filters):
        bolt_log.addFilter(_BoltBodyWarnings())


class WebApp:
    """The WSGI application: Slack's endpoint (unless health-only) and the operations endpoints."""

    def __init__(self, app: App | None, probes: Probes, *, signing_secret: str = "") -> None:
        if app is not None and not signing_secret:
            raise ValueError("serving Slack's requests over HTTP needs the signing secret to check them")
        self._slack = SlackEndpoint(app, signing_secret) if app is not None else None
        self._probes = probes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and path in ("/healthz", "/readyz", "/metrics"):
            status, content_type, body = self._operations(path)
            start_response(status, [("Content-Type", content_type), ("Cache-Control", "no-store")])
            return [body]
        if self._slack is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found\n"]
        return self._slack(environ, start_response)

    def _operations(self, path: str) -> tuple[str, str, bytes]:
        if path == "/healthz":
            return "200 OK", "text/plain; charset=utf-8", b"ok\n"
        if path == "/metrics":
            body, content_type = metrics.exposition()
            return "200 OK", content_type, body
        readiness = self._probes.readiness()
        status = "200 OK" if readiness.ready else "503 Service Unavailable"
        return status, "application/json", json.dumps(readiness.as_json()).encode()


class HttpServer:
    """waitress serving the bot, stoppable from another thread or a signal handler.

    waitress's own `run()` has no clean stop: closing it from outside makes its select loop raise.
    Here the loop runs in short rounds and the serving thread closes everything itself.
    """

    def __init__(
        self,
        wsgi: WebApp,
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        listener: socket.socket | None = None,
        threads: int = HTTP_THREADS,
        connection_limit: int = CONNECTION_LIMIT,
        channel_timeout: int = CHANNEL_TIMEOUT,
    ) -> None:
        from waitress.server import BaseWSGIServer, create_server

        # waitress keeps the listener and every connection in this map; owning it lets serve() close them.
        self._channels: dict[int, Any] = {}
        # A socket bound already (start-up binds its port before it opens the store), or host and port.
        where: dict[str, Any] = (
            {"sockets": [listener]} if listener is not None else {"host": host, "port": port}
        )
        server = create_server(
            wsgi,
            map=self._channels,
            **where,
            threads=threads,
            ident="jobbot",
            connection_limit=connection_limit,
            channel_timeout=channel_timeout,
            # Look for idle connections every second (waitress's default is 30 s), so that one is closed
            # within a second of its timeout; a pass over a few hundred connections costs nothing.
            cleanup_interval=1,
            # waitress answers 413 itself as soon as it sees a Content-Length over this (it refuses sizes
            # >= the value), or once a chunked body grows past it: the app's check, one step earlier.
            max_request_body_size=SLACK_BODY_LIMIT + 1,
        )
        if not isinstance(server, BaseWSGIServer):
            raise ValueError(f"{host!r} resolves to several addresses; give one host to listen on")
        self._server = server
        self._stopping = threading.Event()
        # serve() closes the trigger (a pipe) when it ends; stop() writes to it. Without the lock, stop()
        # could write to a closed descriptor, or to whatever file reused its number meanwhile.
        self._closing = threading.Lock()
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    def serve(self) -> None:
        """Serve until `stop()`; then close every connection and wait briefly for requests in progress."""
        from waitress import wasyncore

        channels = self._channels
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=0.5, map=channels, use_poll=True, count=1)
        finally:
            with self._closing:
                self._closed = True
                for channel in list(channels.values()):
                    channel.close()
            # Requests in progress are acks: they finish in milliseconds.
            self._server.task_dispatcher.shutdown(timeout=2)

    def stop(self) -> None:
        with self._closing:
            self._stopping.set()
            if not self._closed:
                self._server.pull_trigger()
