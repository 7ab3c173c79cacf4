"""HTTP mode: one WSGI app serving Slack's requests at /slack/events, run by waitress in production."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from jobbot import metrics
from jobbot.probes import Probes

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Each request is only an ack (work goes to the bot's pool), so threads are cheap; enough of them that a
# burst of 50 concurrent commands is not queued behind a handful.
HTTP_THREADS = 32


class SlackEndpoint(SlackRequestHandler):
    """bolt's WSGI adapter, with slack-bolt 1.30's `payload` parsing trap fixed.

    bolt reads any form body containing the substring "payload" as an interactivity payload, so
    `/jobs status payload` or a channel named "payloads" arrives empty. Such a body without a real
    `payload` field is a slash command: parse it as plain form fields. The signature is still checked
    on the raw body, which is untouched.
    """

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        raw = request.get_body()
        bolt_request = BoltRequest(body=raw, query=request.query_string, headers=request.get_headers())
        if "payload" in raw and not raw.lstrip().startswith("{"):
            fields = dict(parse_qsl(raw, keep_blank_values=True))
            if "payload" not in fields:
                bolt_request.body = fields
                bolt_request.context = build_context(BoltContext(), fields)
        return self.app.dispatch(bolt_request)


class WebApp:
    """The WSGI application: Slack's endpoint (unless health-only) and the operations endpoints."""

    def __init__(self, app: App | None, probes: Probes) -> None:
        self._slack = SlackEndpoint(app, path=EVENTS_PATH) if app is not None else None
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

    def __init__(self, wsgi: WebApp, *, host: str, port: int, threads: int = HTTP_THREADS) -> None:
        from waitress.server import BaseWSGIServer, create_server

        # waitress keeps the listener and every connection in this map; owning it lets serve() close them.
        self._channels: dict[int, Any] = {}
        server = create_server(
            wsgi, map=self._channels, host=host, port=port, threads=threads, ident="jobbot"
        )
        if not isinstance(server, BaseWSGIServer):
            raise ValueError(f"{host!r} resolves to several addresses; give one host to listen on")
        self._server = server
        self._stopping = threading.Event()

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
            for channel in list(channels.values()):
                channel.close()
            # Requests in progress are acks: they finish in milliseconds.
            self._server.task_dispatcher.shutdown(timeout=2)

    def stop(self) -> None:
        self._stopping.set()
        self._server.pull_trigger()
