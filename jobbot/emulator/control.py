"""The `/_emulator/` HTTP control API, so a test or benchmark in another process can drive the emulator."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from jobbot.emulator.faults import Faults
from jobbot.emulator.jobs import EmulatedJob, UnknownJob
from jobbot.emulator.quirks import Quirks
from jobbot.emulator.routes import Reply

PREFIX = "/_emulator"

# Fields POST /_emulator/jobs accepts, passed on to Emulator.add_job.
_JOB_FIELDS = {
    "status": str,
    "graph_id": str,
    "log": str,
    "start_time_ms": int,
    "end_time_ms": int,
    "process_id": int,
    "job_type": str,
    "stale_pid": bool,
    "extra": dict,
    "job_id": str,
    "pid_fate": str,
}


class Controlled(Protocol):
    """What the control API drives (the Emulator is one)."""

    quirks: Quirks
    faults: Faults

    @property
    def requests(self) -> list[tuple[str, str]]: ...

    @property
    def jobs(self) -> list[EmulatedJob]: ...

    @property
    def job_count(self) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    def reset_stats(self) -> None: ...

    def add_job(
        self,
        *,
        status: str = ...,
        graph_id: str = ...,
        log: str | None = ...,
        start_time_ms: int | None = ...,
        end_time_ms: int | None = ...,
        process_id: int | None = ...,
        job_type: str = ...,
        stale_pid: bool = ...,
        extra: Mapping[str, Any] | None = ...,
        job_id: str | None = ...,
        pid_fate: str | None = ...,
    ) -> str: ...

    def get(self, job_id: str) -> EmulatedJob: ...

    def finish_job(self, job_id: str, status: str = ..., *, log: str | None = ...) -> bool: ...

    def set_status(self, job_id: str, status: str) -> None: ...

    def append_log(self, job_id: str, text: str) -> bool: ...

    def mark_stale(self, job_id: str, fate: str | None = ...) -> None: ...

    def lose_log(self, job_id: str | None = ...) -> int: ...

    def lose_counter(self) -> None: ...

    def seed_history(self, count: int, *, log_bytes: int = ...) -> list[str]: ...

    def redeploy(self, downtime: float = ..., first_id: int = ...) -> None: ...


class _BadRequest(Exception):
    pass


def is_control_path(raw_path: str) -> bool:
    path = raw_path.partition("?")[0]
    return path == PREFIX or path.startswith(PREFIX + "/")


def answer(emulator: Controlled, method: str, raw_path: str, body: bytes) -> Reply:
    """Answer one control request; errors are proper JSON here, unlike the emulated server's."""
    parts = [part for part in raw_path.partition("?")[0][len(PREFIX) :].split("/") if part]
    try:
        payload = _payload(body)
        return _route(emulator, method, parts, payload)
    except _BadRequest as exc:
        return _json(400, {"error": str(exc)})
    except UnknownJob as exc:
        return _json(404, {"error": f"no job {exc.job_id}"})


def _route(emulator: Controlled, method: str, parts: list[str], payload: dict[str, Any]) -> Reply:
    match method, parts:
        case "GET", ["stats"]:
            return _json(200, emulator.stats())
        case "DELETE", ["stats"]:
            emulator.reset_stats()
            return _json(200, {"ok": True})
        case "GET", ["requests"]:
            return _json(200, [list(request) for request in emulator.requests])
        case "GET", ["jobs"]:
            return _json(200, [dataclasses.asdict(job) for job in emulator.jobs])
        case "POST", ["jobs"]:
            fields = {
                name: _typed(payload, name, kind) for name, kind in _JOB_FIELDS.items() if name in payload
            }
            try:
                return _json(200, {"job_id": emulator.add_job(**fields)})
            except ValueError as exc:
                raise _BadRequest(str(exc)) from exc
        case "GET", ["jobs", job_id]:
            return _json(200, dataclasses.asdict(emulator.get(job_id)))
        case "POST", ["jobs", job_id, "finish"]:
            status = _typed(payload, "status", str) if "status" in payload else "SUCCESS"
            log = _typed(payload, "log", str) if "log" in payload else None
            emulator.finish_job(job_id, status, log=log)
            return _json(200, dataclasses.asdict(emulator.get(job_id)))
        case "POST", ["jobs", job_id, "status"]:
            emulator.set_status(job_id, _typed(payload, "status", str))
            return _json(200, dataclasses.asdict(emulator.get(job_id)))
        case "POST", ["jobs", job_id, "log"]:
            emulator.append_log(job_id, _typed(payload, "text", str))
            return _json(200, {"ok": True})
        case "POST", ["jobs", job_id, "stale"]:
            fate = _typed(payload, "fate", str) if "fate" in payload else None
            try:
                emulator.mark_stale(job_id, fate)
            except ValueError as exc:
                raise _BadRequest(str(exc)) from exc
            return _json(200, dataclasses.asdict(emulator.get(job_id)))
        case "POST", ["jobs", job_id, "lose_log"]:
            emulator.lose_log(job_id)
            return _json(200, {"ok": True})
        case "POST", ["lose_logs"]:
            return _json(200, {"lost": emulator.lose_log()})
        case "POST", ["lose_counter"]:
            emulator.lose_counter()
            return _json(200, {"ok": True})
        case "POST", ["history"]:
            count = _typed(payload, "count", int)
            log_bytes = _typed(payload, "log_bytes", int) if "log_bytes" in payload else 2048
            ids = emulator.seed_history(count, log_bytes=log_bytes)
            return _json(200, {"first": ids[0] if ids else None, "last": ids[-1] if ids else None})
        case "POST", ["redeploy"]:
            # Answered first: the redeploy stops this very server, so it runs once the reply is out.
            downtime = float(_typed(payload, "downtime", (int, float))) if "downtime" in payload else 0.0
            first_id = _typed(payload, "first_id", int) if "first_id" in payload else 1
            dropped = emulator.job_count
            redeploy = {"downtime": downtime, "first_id": first_id}
            timer = threading.Timer(0.05, emulator.redeploy, kwargs=redeploy)
            timer.daemon = True
            timer.start()
            return _json(200, {"dropped": dropped, "downtime": downtime, "first_id": first_id})
        case "POST", ["faults"]:
            _apply_faults(emulator, payload)
            return _json(200, emulator.faults.describe())
        case "PUT" | "POST", ["quirks"]:
            try:
                emulator.quirks = dataclasses.replace(emulator.quirks, **payload)
            except TypeError as exc:
                raise _BadRequest(str(exc)) from exc
            return _json(200, dataclasses.asdict(emulator.quirks))
    raise _BadRequest(f"no control route {method} {PREFIX}/{'/'.join(parts)}")


def _apply_faults(emulator: Controlled, payload: dict[str, Any]) -> None:
    """Apply, in order: clear, release, delay, fail_next, drop_next, hang, trickle (with trickle_headers);
    each optionally for one `route`."""
    faults = emulator.faults
    route = _typed(payload, "route", str) if payload.get("route") is not None else None
    if payload.get("clear"):
        faults.clear()
    if payload.get("release") or payload.get("hang") is False:
        faults.release()
    if "delay" in payload:
        faults.set_delay(float(_typed(payload, "delay", (int, float))), route)
    if "fail_next" in payload:
        status = _typed(payload, "status", int) if "status" in payload else 500
        kwargs: dict[str, Any] = {"status": status, "route": route}
        if "body" in payload:
            kwargs["body"] = _typed(payload, "body", str).encode()
        faults.fail_next(_typed(payload, "fail_next", int), **kwargs)
    if "drop_next" in payload:
        faults.drop_next(_typed(payload, "drop_next", int), route)
    if payload.get("hang") is True:
        faults.hang(route)
    if "trickle" in payload:
        headers = payload.get("trickle_headers") is True
        faults.trickle(float(_typed(payload, "trickle", (int, float))), route, headers=headers)


def _payload(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise _BadRequest("body must be a JSON object")
    return payload


def _typed(payload: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    # bool is an int in Python, never in the control API.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _BadRequest(f"{name!r} is missing or has the wrong type")
    return value


def _json(status: int, value: object) -> Reply:
    return Reply(status, [json.dumps(value).encode()])
