"""The HTTP edge as anyone on the internet meets it: limits, signatures and idle connections, before bolt."""

from __future__ import annotations

import io
import json
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobbot import web
from jobbot.emulator import Emulator
from tests.fakes import FakeSlack, sign
from tests.http_bot import HttpBot
from tests.jobbot_child import SIGNING_SECRET, http_mode_env
from tests.slack_requests import click_body, click_payload, command_body
from tests.support import free_port, start_jobbot_captured, wait_until_listening

# Words that only occur inside the request bodies below: none may reach a log line.
LEGACY_TOKEN = "legacy-verification-token"
BODY_MARKER = "bodymarker7c1d"
# waitress's default before it was set deliberately: one more idle connection than this stopped /healthz.
OLD_CONNECTION_LIMIT = 100


@dataclass
class JobbotProcess:
    """A `jobbot` process in HTTP mode and what it printed once stopped."""

    process: subprocess.Popen[str]
    port: int
    slack: FakeSlack
    output: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def post(self, body: bytes | str, headers: dict[str, str]) -> httpx.Response:
        # Header values as bytes, so that a test can send ones that are not ASCII (latin-1 on the wire).
        raw = {name.encode("latin-1"): value.encode("latin-1") for name, value in headers.items()}
        return httpx.post(self.url, content=body, headers=raw, timeout=10)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.output, _ = self.process.communicate(timeout=15)
        return self.output


@pytest.fixture
def jobbot_process(tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator) -> Iterator[JobbotProcess]:
    """jobbot in HTTP mode at DEBUG, so that anything it would ever log about a request shows."""
    port = free_port()
    env = http_mode_env(fake_slack.api_url, emulator.url, port)
    process = start_jobbot_captured(env, tmp_path)
    try:
        wait_until_listening(port, process)
        yield JobbotProcess(process, port, fake_slack)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=15)


def form(body: str, **headers: str) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded", **headers}


def assert_nothing_of_the_bodies_logged(output: str, response_url: str) -> None:
    assert "Traceback" not in output and " ERROR " not in output, output
    for secret_of_the_body in (LEGACY_TOKEN, BODY_MARKER, response_url):
        assert secret_of_the_body not in output, output


@pytest.mark.slow
def test_requests_not_signed_by_slack_get_401_and_leave_no_trace_of_their_body(
    jobbot_process: JobbotProcess,
) -> None:
    """Unsigned, wrongly signed, stale, odd-header and unparseable requests: 401, no traceback, no body."""
    response_url = jobbot_process.slack.response_url()
    command = command_body(f"status {BODY_MARKER}", response_url=response_url)
    broken_json = '{"token": "' + LEGACY_TOKEN + '", "text": "' + BODY_MARKER + '", '
    not_utf8 = command.encode() + b"&x=\xff\xfe\xfd"
    now = int(time.time())
    cases: dict[str, tuple[bytes | str, dict[str, str]]] = {
        "unsigned": (command, form(command)),
        "wrong secret": (command, form(command, **sign("not-the-secret", command))),
        "stale": (command, form(command, **sign(SIGNING_SECRET, command, timestamp=now - 301))),
        "timestamp abc": (
            command,
            form(command, **{**sign(SIGNING_SECRET, command), "X-Slack-Request-Timestamp": "abc"}),
        ),
        "timestamp huge": (
            command,
            form(command, **{**sign(SIGNING_SECRET, command), "X-Slack-Request-Timestamp": "9" * 5000}),
        ),
        "signature not ASCII": (
            command,
            form(command, **{**sign(SIGNING_SECRET, command), "X-Slack-Signature": "v0=\xe9\xff"}),
        ),
        "not UTF-8": (not_utf8, form("", **sign("not-the-secret", command))),
        "not UTF-8 unsigned": (not_utf8, form("")),
        "broken JSON": (broken_json, {"Content-Type": "application/json"}),
        "broken JSON wrongly signed": (
            broken_json,
            {"Content-Type": "application/json", **sign("not-the-secret", broken_json)},
        ),
        "payload=notjson": (f"payload=notjson&token={LEGACY_TOKEN}&m={BODY_MARKER}", form("")),
    }
    statuses = {case: jobbot_process.post(*request).status_code for case, request in cases.items()}
    output = jobbot_process.stop()
    assert statuses == dict.fromkeys(cases, 401)
    assert_nothing_of_the_bodies_logged(output, response_url)
    # One line each, and bolt never saw them (at DEBUG it logs every request it dispatches).
    assert output.count("refused a request to /slack/events") == len(cases) and "slack_bolt" not in output
    assert jobbot_process.slack.responses() == []


@pytest.mark.slow
def test_signed_but_malformed_bodies_are_refused_as_bad_requests(jobbot_process: JobbotProcess) -> None:
    """A signed body that is not what Slack sends gets 400 (not 500), one line and no traceback."""
    response_url = jobbot_process.slack.response_url()
    bodies = {
        "payload=notjson": (f"payload=notjson&token={LEGACY_TOKEN}&m={BODY_MARKER}", "form"),
        "payload is a list": ("payload=" + json.dumps([BODY_MARKER, response_url]), "form"),
        "broken JSON": ('{"token": "' + LEGACY_TOKEN + '", "m": "' + BODY_MARKER, "json"),
        "JSON list": (json.dumps([LEGACY_TOKEN, BODY_MARKER]), "json"),
        "JSON string": (json.dumps(BODY_MARKER), "json"),
    }
    statuses = {}
    for case, (body, kind) in bodies.items():
        content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
        headers = {"Content-Type": content_type, **sign(SIGNING_SECRET, body)}
        statuses[case] = jobbot_process.post(body, headers).status_code
    output = jobbot_process.stop()
    assert statuses == dict.fromkeys(bodies, 400)
    assert_nothing_of_the_bodies_logged(output, response_url)


@pytest.mark.slow
def test_a_signed_request_jobbot_has_no_listener_for_logs_no_body(jobbot_process: JobbotProcess) -> None:
    """Unknown actions (block and legacy attachment buttons) are answered without their body in the log."""
    response_url = jobbot_process.slack.response_url()
    unknown_block_action = click_body("not_a_jobbot_action", BODY_MARKER, response_url=response_url)
    legacy = click_payload("legacy", BODY_MARKER, response_url=response_url)
    legacy.update(type="interactive_message", callback_id="old_attachment_buttons")
    legacy["actions"] = [{"name": "pick", "type": "button", "value": BODY_MARKER}]
    legacy["submission"] = {"answer": BODY_MARKER}
    unknown_legacy_action = "payload=" + json.dumps(legacy)
    for body in (unknown_block_action, unknown_legacy_action):
        response = jobbot_process.post(body, form(body, **sign(SIGNING_SECRET, body)))
        assert response.status_code == 404
    output = jobbot_process.stop()
    assert_nothing_of_the_bodies_logged(output, response_url)
    assert "not_a_jobbot_action" in output  # the operator still learns which action went unanswered


def vm_peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def push_body(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send `head`, then body chunks until the server answers or hangs up; the answer and bytes sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head)
        sent = 0
        for chunk in chunks:
            readable, _, _ = select.select([connection], [], [], 0)
            if readable:
                break
            try:
                connection.sendall(chunk)
            except OSError:  # the server answered and closed while we were still sending
                break
            sent += len(chunk)
        answer = b""
        try:
            while data := connection.recv(65536):
                answer += data
        except OSError:
            pass
    return answer, sent


@pytest.mark.slow
def test_bodies_over_the_limit_get_413_without_being_read(jobbot_process: JobbotProcess) -> None:
    """100 MB with Content-Length and 20 MB chunked, unsigned: 413, and the process does not grow by them."""
    pid = jobbot_process.process.pid
    before = vm_peak_rss(pid)
    megabyte = b"x" * (1 << 20)
    length = 100 << 20
    head = (
        f"POST /slack/events HTTP/1.1\r\nHost: jobbot\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    answer, sent = push_body(jobbot_process.port, head, iter([megabyte] * 100))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < length
    chunked_head = (
        b"POST /slack/events HTTP/1.1\r\nHost: jobbot\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (len(megabyte), megabyte)
    answer, sent = push_body(jobbot_process.port, chunked_head, iter([chunk] * 20))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert vm_peak_rss(pid) - before < 16 << 20
    # Still serving: a signed command right after is answered.
    body = command_body("help", response_url=jobbot_process.slack.response_url())
    assert jobbot_process.post(body, form(body, **sign(SIGNING_SECRET, body))).status_code == 200
    jobbot_process.slack.wait_for_responses(1)
    output = jobbot_process.stop()
    assert "Traceback" not in output


@pytest.mark.slow
def test_health_probes_answer_past_the_old_connection_limit(jobbot_process: JobbotProcess) -> None:
    """With more idle connections open than waitress's default limit allowed, /healthz still answers."""
    idle = []
    try:
        for number in range(OLD_CONNECTION_LIMIT + 50):
            connection = socket.create_connection(("127.0.0.1", jobbot_process.port), timeout=5)
            if number % 2:  # half of them start a request and never finish its headers (slowloris)
                connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: jobbot\r\n")
            idle.append(connection)
        response = httpx.get(f"http://127.0.0.1:{jobbot_process.port}/healthz", timeout=10)
        assert response.status_code == 200
    finally:
        for connection in idle:
            connection.close()


def test_idle_connections_are_dropped_after_the_channel_timeout(http_bot: HttpBot) -> None:
    """With a 1 s channel timeout and room for 8 connections, idle ones are closed; probes answer again."""
    from jobbot.probes import Probes

    health = web.WebApp(None, Probes(http_bot.bot))
    server = web.HttpServer(health, host="127.0.0.1", port=0, connection_limit=8, channel_timeout=1)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(10)]
    try:
        for connection in idle[:8]:
            # recv() returns b"" once the server has closed the idle connection.
            assert connection.recv(1) == b""
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
        assert response.status_code == 200
    finally:
        for connection in idle:
            connection.close()
        server.stop()
        thread.join(timeout=5)


def wsgi_call(app: web.WebApp, environ: dict[str, Any]) -> tuple[str, bytes]:
    answer: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.append(status)

    body = b"".join(app(environ, start_response))
    return answer[0], body


class EndlessBody(io.RawIOBase):
    """A request body that never ends, counting what was read from it."""

    def __init__(self) -> None:
        self.read_so_far = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        buffer[:size] = b"x" * size
        self.read_so_far += size
        return size


def slack_environ(body: io.RawIOBase, **extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": io.BufferedReader(body),
        **extra,
    }


def test_the_wsgi_app_refuses_a_declared_oversized_body_without_reading_it(http_bot: HttpBot) -> None:
    """Behind any WSGI server, a Content-Length over the limit is answered 413 before a byte is read."""
    from jobbot.probes import Probes

    app = web.WebApp(http_bot.bot.app, Probes(http_bot.bot), signing_secret=http_bot.secret)
    body = EndlessBody()
    status, _ = wsgi_call(app, slack_environ(body, CONTENT_LENGTH=str(web.SLACK_BODY_LIMIT + 1)))
    assert status.startswith("413") and body.read_so_far == 0


@pytest.mark.parametrize("declared", ["\u00b2", "\u0661\u0662", "12 ", "-1", "0x10"])
def test_a_content_length_not_in_ascii_digits_is_refused_unread(http_bot: HttpBot, declared: str) -> None:
    """A Content-Length of other scripts' digits ("١٢" is 12 to int(), "²" makes it raise) or any other
    non-number slipping past the server is answered 413 before a byte is read, never guessed at."""
    from jobbot.probes import Probes

    app = web.WebApp(http_bot.bot.app, Probes(http_bot.bot), signing_secret=http_bot.secret)
    body = EndlessBody()
    status, _ = wsgi_call(app, slack_environ(body, CONTENT_LENGTH=declared))
    assert status.startswith("413") and body.read_so_far == 0


def test_the_wsgi_app_reads_an_undeclared_body_only_up_to_the_limit(http_bot: HttpBot) -> None:
    """A body without Content-Length (chunked) is read to one byte past the limit, then answered 413."""
    from jobbot.probes import Probes

    app = web.WebApp(http_bot.bot.app, Probes(http_bot.bot), signing_secret=http_bot.secret)
    body = EndlessBody()
    status, _ = wsgi_call(app, slack_environ(body, **{"wsgi.input_terminated": True}))
    assert status.startswith("413") and body.read_so_far <= web.SLACK_BODY_LIMIT + 1 + io.DEFAULT_BUFFER_SIZE


def test_stopping_a_server_that_has_already_stopped_is_harmless(http_bot: HttpBot) -> None:
    """stop() after serve() has closed everything neither raises nor writes to a closed (reusable) fd."""
    from jobbot.probes import Probes

    server = web.HttpServer(web.WebApp(None, Probes(http_bot.bot)), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    server.stop()
