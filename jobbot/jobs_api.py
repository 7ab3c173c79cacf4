"""The shared job client: the Interactive admin API over httpx in, typed jobs out.

Every transport and HTTP failure is mapped here, once, onto the `JobApiError` tree, so handlers and the
notifier never see httpx exceptions or raw bodies.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx
from pydantic import ValidationError

from jobbot import metrics, servers
from jobbot.bounded_body import JsonSkeleton, read_at_most
from jobbot.deadline import Deadline, deadline_transport, within
from jobbot.errors import (
    InteractiveServerError,
    InteractiveUnavailable,
    JobAlreadyFinished,
    JobApiError,
    JobNotFound,
    ListingError,
    SkeletonTooLarge,
)
from jobbot.job_listing import JobListing
from jobbot.models import (
    FULL_LOG_MAX_BYTES,
    LOG_TAIL_CHARS,
    FullLog,
    Job,
    JobWithLog,
    validate_job_id,
)
from jobbot.urls import without_credentials

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

# Neither the server nor the official SDK has timeouts; a hung loader must not hang a Slack reply.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0, pool=3.0)
# Error bodies can echo whole requests; a person needs the first lines, not a megabyte.
MAX_ERROR_TEXT = 500
# The most of an error body (or of a cancel's answer) read at all; the rest is never taken off the socket.
ERROR_BODY_BYTES = 64 * 1024
# One whole request, retries included: headers and body must have come by then, however they trickle.
DEFAULT_DEADLINE = 15.0
# Requests in flight to the server at once. Beyond them a request waits BUSY_WAIT_SECONDS for a turn,
# then fails as busy: a misbehaving server then holds at most this many of the bot's worker threads.
DEFAULT_MAX_IN_FLIGHT = 8
BUSY_WAIT_SECONDS = 1.0
# The bytes of a job's log kept while reading it: six bytes is the most a character of the Basic
# Multilingual Plane takes in JSON (`\uXXXX`), so the tail a card shows is nearly always all there.
LOG_TAIL_BYTES = 6 * LOG_TAIL_CHARS + 1024
# A job's JSON besides its log is a few hundred bytes; a body with megabytes of it is not a job.
MAX_JOB_SKELETON_BYTES = 4 * 2**20
# The operation (a metric label) of the notifier's look for the next new job id.
PROBE = "probe"


def _on_its_server(
    method: Callable[Concatenate[JobClient, P], T],
) -> Callable[Concatenate[JobClient, P], T]:
    """Runs a request with the client's server in the context, so every line it logs names that server."""

    @functools.wraps(method)
    def run(client: JobClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with servers.acting_on(client.server):
            return method(client, *args, **kwargs)

    return run


class JobClient:
    """Lists, reads and cancels jobs on one Interactive server. Thread-safe (one httpx pool).

    `server` is that server's name: its metrics carry it as their `server` label and its log lines name
    it (see `jobbot.logs`)."""

    def __init__(
        self,
        endpoint: str,
        *,
        http: httpx.Client | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        backoff: float = 0.25,
        deadline: float = DEFAULT_DEADLINE,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        server: str = servers.DEFAULT_SERVER,
    ) -> None:
        self.server = server
        # The setting a person would fix when the server cannot be reached.
        single = server == servers.DEFAULT_SERVER
        self._setting = "INTERACTIVE_ADMIN_ENDPOINT" if single else f"{server}'s URL in JOBBOT_SERVERS"
        self.endpoint = endpoint.rstrip("/")
        # What errors, replies and logs show: a password in the endpoint is for the server alone.
        self.shown_endpoint = without_credentials(self.endpoint)
        limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
        self._http = http or httpx.Client(
            timeout=timeout, headers={"Accept": "application/json"}, transport=deadline_transport(limits)
        )
        self._retries = retries
        self._backoff = backoff
        self._deadline = deadline
        self._max_in_flight = max_in_flight
        self._turns = threading.BoundedSemaphore(max_in_flight)
        self._sleep = sleep
        self._clock = clock

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @_on_its_server
    def list_jobs(self) -> list[Job]:
        """Every job the server knows, history included, in the server's (arbitrary) order, without logs.

        The body is read as it arrives and each job's log is skipped unread (see `jobbot.job_listing`):
        a long history is tens of megabytes, nearly all of it logs. `get_job` gives one job's log.
        """
        listing = self.listing()
        for reason in listing.skipped:
            log.warning("skipping a job entry the server sent malformed: %s", reason)
        if listing.odd:
            # One line for the whole list: a long history must not flood the log.
            log.warning(
                "%d of %d jobs in the list had missing or mistyped fields; shown as best we can",
                listing.odd,
                len(listing.jobs),
            )
        return listing.jobs

    @_on_its_server
    def listing(self) -> JobListing:
        """The job list as `list_jobs` reads it, with what the reader noticed on the way (entries it
        skipped or read leniently, an empty list sent as `{}`), and nothing logged."""
        return self._request("GET", "/v1/job", job_id=None, read=_read_listing)

    @_on_its_server
    def get_job(self, job_id: str) -> JobWithLog:
        """One job with the end of its log. The body is read as it arrives and only the last
        `LOG_TAIL_BYTES` of each long string are kept, so a log of any size costs the same memory."""
        return self._get_job(validate_job_id(job_id), operation="get")

    @_on_its_server
    def probe_job(self, job_id: str) -> JobWithLog | None:
        """The job with this id, or None when the server has none (yet): the notifier's look for the next
        new job. "None yet" is its usual answer, so it is not counted as an error (see `jobbot.metrics`)."""
        try:
            return self._get_job(validate_job_id(job_id), operation=PROBE)
        except JobNotFound:
            return None

    def _get_job(self, job_id: str, *, operation: str) -> JobWithLog:
        body = self._request("GET", f"/v1/job/{job_id}", job_id=job_id, read=_read_job, operation=operation)
        try:
            return JobWithLog.model_validate(body)
        except ValidationError as exc:
            unexpected = _first_error(exc)
        try:
            job = JobWithLog.from_server(body)
        except ValueError as exc:
            raise InteractiveServerError(200, None, f"job {job_id} is malformed: {exc}") from None
        log.warning(
            "job %s came with missing or mistyped fields (%s); shown as best we can", job_id, unexpected
        )
        return job

    @_on_its_server
    def full_log(self, job_id: str, max_bytes: int = FULL_LOG_MAX_BYTES) -> FullLog:
        """A job's log for a file: whole, or its last `max_bytes` (as sent, escapes included, so at most
        that many in UTF-8) with `cut` set. Read as it arrives, holding no more than that of the log."""
        job_id = validate_job_id(job_id)

        def read(response: httpx.Response, chunks: Iterator[bytes]) -> FullLog:
            body, log_cut = _read_job_json(response, chunks, log_bytes=max_bytes)
            if not isinstance(body, dict):
                raise InteractiveServerError(200, None, f"job {job_id} is not a JSON object")
            log = body.get("log")
            # A job that has written nothing yet may have no log at all: an empty file says so.
            return FullLog(job_id=job_id, text=log if isinstance(log, str) else "", cut=log_cut)

        return self._request("GET", f"/v1/job/{job_id}", job_id=job_id, read=read)

    @_on_its_server
    def cancel_job(self, job_id: str) -> str:
        """Cancel a running job; returns the server's message. Never retried: DELETE is not idempotent."""
        job_id = validate_job_id(job_id)
        text = self._request("DELETE", f"/v1/job/{job_id}", job_id=job_id, read=_read_start)
        # The server answers {"message": ...}; the spec says a bare string. Accept both.
        try:
            body = json.loads(text)
        except ValueError:
            return _clip(text)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return _clip(body["message"])
        return _clip(body if isinstance(body, str) else text)

    def _request(
        self,
        method: str,
        path: str,
        *,
        job_id: str | None,
        read: Callable[[httpx.Response, Iterator[bytes]], T],
        operation: str | None = None,
    ) -> T:
        operation = operation or ("cancel" if method == "DELETE" else ("get" if job_id else "list"))
        started = time.monotonic()
        try:
            if not self._turns.acquire(timeout=BUSY_WAIT_SECONDS):
                raise InteractiveUnavailable(
                    self.shown_endpoint,
                    f"busy: {self._max_in_flight} requests to it are already waiting for answers; "
                    "try again in a moment",
                )
            try:
                with within(Deadline(self._deadline, self._clock)) as limit:
                    return self._attempts(method, path, job_id=job_id, read=read, limit=limit)
            finally:
                self._turns.release()
        except JobApiError as exc:
            # A probe's "no such job yet" is the answer of every quiet poll, not a failure.
            if not (operation == PROBE and isinstance(exc, JobNotFound)):
                metrics.INTERACTIVE_ERRORS.on(self.server, operation, type(exc).__name__).inc()
            raise
        finally:
            metrics.INTERACTIVE_SECONDS.on(self.server, operation).observe(time.monotonic() - started)

    def _attempts(
        self,
        method: str,
        path: str,
        *,
        job_id: str | None,
        read: Callable[[httpx.Response, Iterator[bytes]], T],
        limit: Deadline,
    ) -> T:
        url = self.endpoint + path
        attempts = 1 + (self._retries if method == "GET" else 0)
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                with self._http.stream(method, url) as response:
                    log.debug(
                        "interactive %s %s -> %s in %.0f ms",
                        method,
                        path,
                        response.status_code,
                        (time.monotonic() - started) * 1000,
                    )
                    if response.status_code >= 500 and attempt < attempts:
                        retry = f"HTTP {response.status_code}"
                    elif not response.is_success:
                        text = _read_start(response, self._chunks(response, limit))
                        raise _error_for(response.status_code, text, job_id)
                    else:
                        # The body is read in here, so a connection lost half-way is retried too.
                        return read(response, self._chunks(response, limit))
            except httpx.TimeoutException as exc:
                if limit.cut_a_wait or limit.passed:
                    raise self._too_slow(limit) from None
                # A server that did not answer once is unlikely to answer a second time soon.
                raise InteractiveUnavailable(self.shown_endpoint, _describe_timeout(exc)) from None
            except httpx.TransportError as exc:
                if attempt == attempts:
                    reason = _describe_transport(exc, self._setting)
                    raise InteractiveUnavailable(self.shown_endpoint, reason) from None
                retry = type(exc).__name__
            # Waiting only after the answer is closed gives its connection back to the pool.
            self._pause(attempt, method, path, retry, limit)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _chunks(self, response: httpx.Response, limit: Deadline) -> Iterator[bytes]:
        """The body as it arrives, given up at the deadline even when a client without the deadline
        transport (an injected one) keeps getting bytes."""
        for chunk in response.iter_bytes():
            if limit.passed:
                raise self._too_slow(limit)
            yield chunk

    def _too_slow(self, limit: Deadline) -> InteractiveUnavailable:
        return InteractiveUnavailable(
            self.shown_endpoint, f"it did not finish answering in {limit.seconds:g} s"
        )

    def _pause(self, attempt: int, method: str, path: str, reason: str, limit: Deadline) -> None:
        delay = self._backoff * (2 ** (attempt - 1))
        if delay >= limit.left():
            # The next answer could not come in time; say so now rather than after the wait.
            log.info("interactive %s %s failed (%s); no time left to retry", method, path, reason)
            raise self._too_slow(limit)
        log.info("interactive %s %s failed (%s); retrying in %.2f s", method, path, reason, delay)
        self._sleep(delay)


def _read_job(response: httpx.Response, chunks: Iterator[bytes]) -> Any:
    """A job's JSON with each long string (its log) cut to its tail, parsed."""
    body, _ = _read_job_json(response, chunks, log_bytes=LOG_TAIL_BYTES)
    return body


def _read_job_json(response: httpx.Response, chunks: Iterator[bytes], *, log_bytes: int) -> tuple[Any, bool]:
    """A job's JSON parsed, its log cut to its last `log_bytes` and any other long string to its tail;
    and whether the log was cut."""
    skeleton = JsonSkeleton(
        string_bytes=LOG_TAIL_BYTES, log_bytes=log_bytes, max_bytes=MAX_JOB_SKELETON_BYTES + log_bytes
    )
    try:
        for chunk in chunks:
            skeleton.feed(chunk)
    except SkeletonTooLarge as exc:
        raise InteractiveServerError(response.status_code, None, str(exc)) from None
    text = skeleton.finish()
    try:
        body = json.loads(text)
    except ValueError:
        shown = _clip(text.decode("utf-8", "replace"))
        raise InteractiveServerError(
            response.status_code, None, f"the server sent a body that is not JSON: {shown}"
        ) from None
    if skeleton.cut_strings and isinstance(body, dict) and isinstance(body.get("log"), str):
        body["log_truncated"] = True
    return body, skeleton.log_cut


def _read_start(response: httpx.Response, chunks: Iterator[bytes]) -> str:
    """The first `ERROR_BODY_BYTES` of a body as text; the rest is left unread."""
    return read_at_most(chunks, ERROR_BODY_BYTES).decode("utf-8", "replace")


def _read_listing(response: httpx.Response, chunks: Iterator[bytes]) -> JobListing:
    listing = JobListing()
    try:
        for chunk in chunks:
            listing.feed(chunk)
        listing.finish()
    except ListingError as exc:
        raise InteractiveServerError(response.status_code, None, str(exc)) from None
    return listing


def _error_for(status: int, text: str, job_id: str | None) -> JobApiError:
    code, message = parse_error_body(text)
    if status == 404 and job_id is not None:
        return JobNotFound(job_id, code)
    if status == 400 and message.startswith("Job already") and job_id is not None:
        # "Job already SUCCESS: 7": the status is the word after "already".
        words = message.removeprefix("Job already").strip().split(":", 1)[0].split()
        return JobAlreadyFinished(job_id, words[0].upper() if words else None)
    return InteractiveServerError(status, code, message)


def parse_error_body(text: str) -> tuple[int | None, str]:
    """`(code, message)` from an error body: `{code, message}` JSON, a JSON string, or raw text.

    The server does not escape the message, so a quote or newline in it makes the JSON invalid; the
    raw text is then the best message there is.
    """
    try:
        body = json.loads(text)
    except ValueError:
        return _lenient_code(text), _clip(_lenient_message(text))
    if isinstance(body, dict):
        code = body.get("code")
        message = body.get("message")
        return (
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            _clip(message if isinstance(message, str) else text),
        )
    if isinstance(body, str):
        return None, _clip(body)
    return None, _clip(text)


def _lenient_code(text: str) -> int | None:
    prefix = '{"code":'
    compact = text.replace(" ", "")
    if compact.startswith(prefix):
        digits = compact[len(prefix) :].split(",", 1)[0]
        if digits.isascii() and digits.isdigit():
            return int(digits)
    return None


def _lenient_message(text: str) -> str:
    # Recover the message from `{"code": 4, "message": "key "x" not found"}` when it broke the JSON.
    marker = '"message":'
    at = text.find(marker)
    if at < 0:
        return text.strip()
    rest = text[at + len(marker) :].strip()
    if rest.startswith('"'):
        rest = rest[1:]
    if rest.endswith("}"):
        rest = rest[:-1].rstrip()
    if rest.endswith('"'):
        rest = rest[:-1]
    return rest


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"


def _describe_timeout(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connecting timed out"
    if isinstance(exc, httpx.PoolTimeout):
        return "too many requests already waiting for it"
    return "it did not answer in time"


def _describe_transport(exc: httpx.TransportError, setting: str) -> str:
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc) or "connection failed"
        if "refused" in reason.lower():
            return f"connection refused (is the server running, and is {setting} right?)"
        return _clip(reason)
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection before its answer was complete"
    return _clip(str(exc) or type(exc).__name__)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else str(first["msg"])
