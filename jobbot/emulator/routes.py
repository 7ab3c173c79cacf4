"""The admin API's routes, answered the way the real server answers them, quirks included."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from jobbot.emulator.faults import Trickle
from jobbot.emulator.jobs import (
    ExistingKey,
    GraphLocked,
    InvalidProcessId,
    JobNotRunning,
    KillFailed,
    UnknownGraph,
    UnknownJob,
)
from jobbot.emulator.quirks import Quirks

# Route labels, used for per-route faults and statistics.
LIST_JOBS = "GET /v1/job"
GET_JOB = "GET /v1/job/{job_id}"
CANCEL_JOB = "DELETE /v1/job/{job_id}"
DATALOADING = "POST /v1/graph/{graph_id}/dataloading"

_JOBS = "/v1/job"
_DATALOADING = re.compile(r"^/v1/graph/([^/]+)/dataloading/?$")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status and body pieces sent back to back (the body is never re-joined)."""

    status: int
    pieces: Sequence[bytes]
    route: str | None = None
    trickle: Trickle | None = None

    @property
    def length(self) -> int:
        return sum(len(piece) for piece in self.pieces)

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)


class Server(Protocol):
    """What the routes ask of the emulated server (the Emulator is one)."""

    quirks: Quirks

    def listing(self) -> list[bytes]: ...

    def job_json(self, job_id: str) -> bytes: ...

    def cancel_job(self, job_id: str) -> None: ...

    def start_loading(self, graph_id: str, mapping: Mapping[str, object] | None) -> str: ...


@dataclass(frozen=True)
class Request:
    """What a request asks for, resolved from its method and path before any fault is applied."""

    method: str
    route: str
    action: str
    param: str = ""


def resolve(method: str, raw_path: str) -> Request:
    """Match a request to a route; the path is URL-decoded and the job id slash-trimmed as on the server."""
    path = unquote(raw_path.partition("?")[0])
    # The server's router strips a trailing slash: GET /v1/job/ lists, as GET /v1/job does.
    if path.rstrip("/") == _JOBS:
        template = _JOBS
        action = {"GET": "list", "DELETE": "no_job_id"}.get(method, "unsupported")
        return Request(method, LIST_JOBS if action == "list" else f"{method} {template}", action)
    if path.startswith(_JOBS + "/"):
        # The server's job_id parameter takes the rest of the path and trims its slashes.
        job_id = path[len(_JOBS) :].strip("/")
        action = {"GET": "get", "DELETE": "cancel"}.get(method, "unsupported")
        return Request(method, f"{method} {_JOBS}/{{job_id}}", action, job_id)
    match = _DATALOADING.match(path)
    if match:
        action = "load" if method == "POST" else "unsupported"
        return Request(method, f"{method} /v1/graph/{{graph_id}}/dataloading", action, match.group(1))
    return Request(method, f"{method} (no route)", "not_found")


def answer(emulator: Server, request: Request, body: bytes) -> Reply:
    """The server's answer to one resolved request."""
    quirks = emulator.quirks
    route = request.route
    if request.action == "list":
        pieces = emulator.listing()
        if not pieces:
            return Reply(200, [b"{}" if quirks.empty_list_as_object else b"[]"], route)
        return Reply(200, [b"[", *pieces, b"]"], route)
    if request.action == "get":
        try:
            return Reply(200, [emulator.job_json(request.param)], route)
        except UnknownJob as exc:
            return not_found(quirks, exc.job_id, route)
    if request.action == "cancel":
        return _cancel(emulator, request.param, route)
    if request.action == "load":
        return _dataloading(emulator, request.param, body, route)
    if request.action == "no_job_id":
        return text(400, "job_id not given", route)
    if request.action == "unsupported":
        return text(400, f"Unsupported method: {request.method}", route)
    # Seastar's own answer when no route matches.
    return Reply(404, [b'{"message": "Not found", "code": 404}'], route)


def _cancel(emulator: Server, job_id: str, route: str) -> Reply:
    quirks = emulator.quirks
    try:
        emulator.cancel_job(job_id)
    except UnknownJob:
        return not_found(quirks, job_id, route)
    except InvalidProcessId as exc:
        return error(quirks, 500, 103, f"Invalid process id: {exc.process_id}", route)
    except JobNotRunning as exc:
        return error(quirks, 400, 102, f"Job already {exc.status}: {job_id}", route)
    except KillFailed as exc:
        message = f"Fail to kill process: {exc.process_id}, error message: {exc.reason}"
        return error(quirks, 500, 103, message, route)
    message = f"Successfully cancel job: {job_id}"
    if quirks.cancel_reply_as_string:
        return Reply(200, [json.dumps(message).encode()], route)
    return Reply(200, [json.dumps({"message": message}).encode()], route)


def _dataloading(emulator: Server, graph_id: str, body: bytes, route: str) -> Reply:
    try:
        mapping = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        mapping, problem = None, str(exc)
    else:
        problem = "" if isinstance(mapping, dict) else "a SchemaMapping must be a JSON object"
    if not isinstance(mapping, dict):
        # Judgement: the server rejects an unreadable loading config as a bad request (code 14).
        return error(emulator.quirks, 400, 14, f"Fail to parse json: {problem}", route)
    try:
        job_id = emulator.start_loading(graph_id, mapping)
    except UnknownGraph:
        return error(emulator.quirks, 404, 4, f"key {graph_id} not found for :GRAPH_META", route)
    except GraphLocked:
        message = (
            f"Fail to acquire lock for graph indices dir: {graph_id}, maybe the graph is already running"
        )
        return error(emulator.quirks, 400, 111, message, route)
    except ExistingKey:
        # Judgement: the metadata store's refusal surfaces as an internal error (code 103).
        return error(emulator.quirks, 500, 103, "got an existing key", route)
    return Reply(200, [json.dumps({"job_id": job_id}).encode()], route)


def not_found(quirks: Quirks, job_id: str, route: str) -> Reply:
    return error(quirks, 404, 4, f"key {job_id} not found for :JOB_META", route)


def error(quirks: Quirks, status: int, code: int, message: str, route: str | None) -> Reply:
    """An error body as the server builds it: by string concatenation, so the message is NOT escaped."""
    if quirks.legacy_errors:
        return text(status, message, route)
    return Reply(status, [f'{{"code": {code}, "message": "{message}"}}'.encode()], route)


def text(status: int, message: str, route: str | None) -> Reply:
    """A plain-text body (still labelled application/json by the server)."""
    return Reply(status, [message.encode()], route)
