"""The `jobbot` command as a real process: clear start-up errors, serving, clean stop, no secrets in logs."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobbot.emulator import Emulator
from tests.fakes import FakeSlack, Scripted, sign
from tests.jobbot_child import BOT_TOKEN, SIGNING_SECRET, http_mode_env
from tests.slack_requests import command_body
from tests.support import child_env, free_port, start_jobbot_captured, wait_until_listening

# Every test here runs `python -m jobbot` as a child process.
pytestmark = pytest.mark.slow


def run_jobbot(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobbot", *args],
        env=child_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("env", [{}, {"SLACK_BOT_TOKEN": ""}])
def test_missing_configuration_is_one_clear_line(tmp_path: Path, env: dict[str, str]) -> None:
    """With nothing configured (or the token left empty), jobbot exits 2 naming SLACK_BOT_TOKEN as not
    set, without a traceback."""
    result = run_jobbot(env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "jobbot: configuration error: SLACK_BOT_TOKEN is not set; expected a bot token starting with xoxb-"
    )


def test_env_file_is_read_from_the_working_directory(tmp_path: Path) -> None:
    """Values in `.env` are used: here a malformed port in the file is reported by name."""
    (tmp_path / ".env").write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_APP_TOKEN=xapp-1-x\nPORT=http\n")
    result = run_jobbot({}, tmp_path)
    assert result.returncode == 2 and "PORT is invalid" in result.stderr and "Traceback" not in result.stderr


def test_a_rejected_token_is_reported_without_showing_it(tmp_path: Path, fake_slack: FakeSlack) -> None:
    """When Slack answers invalid_auth the error says so, and the token appears nowhere in the output."""
    fake_slack.script("auth.test", Scripted(200, {"ok": False, "error": "invalid_auth"}))
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    result = run_jobbot(env, tmp_path)
    assert result.returncode == 2
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in result.stderr
    assert BOT_TOKEN not in result.stderr + result.stdout


def test_http_mode_serves_a_signed_command_and_stops_on_sigterm(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator
) -> None:
    """HTTP mode answers a signed /jobs on /slack/events, exits 0 on SIGTERM, and logs no secret."""
    emulator.add_job(status="RUNNING")
    port = free_port()
    env = http_mode_env(fake_slack.api_url, emulator.url, port)
    process = start_jobbot_captured(env, tmp_path)
    try:
        wait_until_listening(port, process)
        body = command_body("list", response_url=fake_slack.response_url())
        response = httpx.post(
            f"http://127.0.0.1:{port}/slack/events",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SIGNING_SECRET, body)},
            timeout=3,
        )
        assert response.status_code == 200
        [reply] = fake_slack.wait_for_responses(1)
        assert "#1" in reply["text"] + str(reply["blocks"])
        # An error path and a refusal too: their log lines and messages must not carry secrets either.
        for text, name in (("status 999", "r2"), ("cancel 1", "r3")):
            body = command_body(text, response_url=fake_slack.response_url(name))
            httpx.post(
                f"http://127.0.0.1:{port}/slack/events",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SIGNING_SECRET, body)},
                timeout=3,
            )
            fake_slack.wait_for_responses(1, name=name)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "jobbot stopped" in output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output
    # Nothing jobbot sent to Slack (messages, replies) carries a secret; only the auth header has the token.
    sent = json.dumps([call.body for call in fake_slack.calls])
    assert BOT_TOKEN not in sent and SIGNING_SECRET not in sent


ENDPOINT_PASSWORD = "endpoint-pass-5f3a"
DATABASE_PASSWORD = "database-pass-9c2e"


def test_credentials_in_the_endpoint_and_database_urls_appear_nowhere_in_the_output(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, postgres_url: str
) -> None:
    """With user:password in INTERACTIVE_ADMIN_ENDPOINT and JOBBOT_DATABASE_URL, no password is printed."""
    port = free_port()
    endpoint = emulator.url.replace("http://", f"http://admin:{ENDPOINT_PASSWORD}@")
    # libpq also takes a password among the query's parameters.
    database = postgres_url.replace("postgres@", f"postgres:{DATABASE_PASSWORD}@")
    database += "?password=query-pass-0d4b"
    env = http_mode_env(fake_slack.api_url, endpoint, port, JOBBOT_DATABASE_URL=database)
    process = start_jobbot_captured(env, tmp_path)
    try:
        wait_until_listening(port, process)
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "starting as" in output and "admin" not in output
    for password in (ENDPOINT_PASSWORD, DATABASE_PASSWORD, "query-pass-0d4b"):
        assert password not in output


def test_an_unreachable_database_is_reported_without_its_password(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """A PostgreSQL URL whose server is down stops start-up with one line naming JOBBOT_DATABASE_URL, which
    does not show the password."""
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "PORT": str(free_port()),
        "JOBBOT_DATABASE_URL": f"postgresql://jobbot:{DATABASE_PASSWORD}@127.0.0.1:{free_port()}/jobs",
    }
    result = run_jobbot(env, tmp_path)
    assert (result.returncode, result.stdout, result.stderr.count("\n")) == (2, "", 1)
    assert result.stderr.startswith("jobbot: cannot connect to the PostgreSQL store at 127.0.0.1:")
    assert "(check JOBBOT_DATABASE_URL, and that the server is up and lets jobbot in)" in result.stderr
    assert DATABASE_PASSWORD not in result.stderr + result.stdout


# Start-up failures: each is one line on stderr naming the setting and the fix, exit code 2, and leaves
# no store behind.

APP_TOKEN_FIX = (
    "create an app-level token with the connections:write scope (Slack app > Basic Information > "
    "App-Level Tokens) and set it, or leave SLACK_APP_TOKEN empty for HTTP mode"
)


def socket_mode_env(fake_slack: FakeSlack, **extra: str) -> dict[str, str]:
    """Socket Mode with an app token Slack will be scripted to refuse, against the fake Slack."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": "xapp-1-a-wrong-token",
        "SLACK_API_URL": fake_slack.api_url,
        **extra,
    }


def assert_one_line_failure(result: subprocess.CompletedProcess[str], cwd: Path, line: str) -> None:
    """Exit code 2, exactly `line` on stderr and nothing else, and no database created."""
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", "")
    assert not (cwd / "jobbot.db").exists()


@pytest.mark.parametrize("error", ["invalid_auth", "not_allowed_token_type"])
def test_a_rejected_app_token_is_one_line(tmp_path: Path, fake_slack: FakeSlack, error: str) -> None:
    """Slack refusing SLACK_APP_TOKEN (a wrong token, or one of another kind) is one line, exit 2."""
    fake_slack.script("apps.connections.open", Scripted(200, {"ok": False, "error": error}))
    result = run_jobbot(socket_mode_env(fake_slack), tmp_path)
    assert_one_line_failure(
        result, tmp_path, f"jobbot: Slack rejected SLACK_APP_TOKEN ({error}); {APP_TOKEN_FIX}"
    )


def test_an_unreachable_slack_is_one_line_without_slack_sdk_retries(tmp_path: Path) -> None:
    """Nothing answering at SLACK_API_URL: no retry or error lines of slack_sdk first, only jobbot's."""
    api_url = f"http://127.0.0.1:{free_port()}/api/"
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url}
    result = run_jobbot(env, tmp_path)
    assert_one_line_failure(
        result,
        tmp_path,
        f"jobbot: could not reach Slack at SLACK_API_URL {api_url} to check SLACK_BOT_TOKEN (Connection "
        "refused); check SLACK_API_URL and that this host can reach it (a proxy goes in HTTPS_PROXY)",
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process (here, the test) listens on."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize("setting", ["PORT", "JOBBOT_HEALTH_PORT"])
def test_a_port_in_use_is_one_line(
    tmp_path: Path, fake_slack: FakeSlack, taken_port: int, setting: str
) -> None:
    """PORT in HTTP mode, JOBBOT_HEALTH_PORT in Socket Mode: a port in use is one line naming it."""
    if setting == "PORT":
        env = http_mode_env(fake_slack.api_url, "http://127.0.0.1:7777", taken_port, JOBBOT_LOG_LEVEL="INFO")
    else:
        env = socket_mode_env(fake_slack, JOBBOT_HEALTH_PORT=str(taken_port))
    result = run_jobbot(env, tmp_path)
    assert_one_line_failure(
        result,
        tmp_path,
        f"jobbot: {setting}={taken_port} is already in use by another process; stop it, or set {setting} "
        "to a free port",
    )


def test_a_socket_mode_connection_that_does_not_open_is_one_line_and_never_called_connected(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """Slack hands out a WebSocket URL nothing answers at: one line, exit 2, no "connected" claim, and the
    jobbot.db this start created is removed again."""
    fake_slack.socket_url = f"ws://127.0.0.1:{free_port()}/link"
    result = run_jobbot(socket_mode_env(fake_slack), tmp_path)
    assert_one_line_failure(
        result,
        tmp_path,
        "jobbot: Slack accepted SLACK_APP_TOKEN but the Socket Mode WebSocket did not open; check that this "
        "host may open wss:// connections to Slack on port 443 (a proxy goes in HTTPS_PROXY)",
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_sqlite_path_is_one_line(tmp_path: Path, fake_slack: FakeSlack) -> None:
    """A JOBBOT_DATABASE_URL whose directory is a file: one line naming the variable and the fix."""
    (tmp_path / "afile").write_text("")
    result = run_jobbot(
        socket_mode_env(fake_slack, JOBBOT_DATABASE_URL="sqlite:///afile/jobbot.db"), tmp_path
    )
    assert_one_line_failure(
        result,
        tmp_path,
        "jobbot: cannot open the SQLite store 'afile/jobbot.db': Not a directory; set JOBBOT_DATABASE_URL "
        "to a file in a directory that exists and that jobbot may write",
    )


def test_a_store_from_a_newer_jobbot_is_one_line_and_kept(tmp_path: Path, fake_slack: FakeSlack) -> None:
    """A jobbot.db of a newer schema stops start-up with one line, and the file is left as it was."""
    import sqlite3

    with sqlite3.connect(tmp_path / "jobbot.db") as db:
        db.execute("PRAGMA user_version = 999")
    fake_slack.socket_url = "ws://never.invalid/link"
    result = run_jobbot(socket_mode_env(fake_slack), tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "has schema version 999, newer than this jobbot" in result.stderr
    assert "upgrade jobbot (or set JOBBOT_DATABASE_URL to another store)" in result.stderr
    assert (tmp_path / "jobbot.db").exists()


def test_a_missing_env_file_named_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    """`--env-file prod.env` that does not exist is an error, not ignored (a missing `.env` is fine)."""
    result = run_jobbot({}, tmp_path, "--env-file", "prod.env")
    assert (result.returncode, result.stderr) == (
        2,
        "jobbot: configuration error: --env-file prod.env is not a file; give the path of your dotenv file, "
        "or leave --env-file out to read .env (if there is one)\n",
    )


def test_a_mistyped_variable_in_the_env_file_is_warned_about(tmp_path: Path, fake_slack: FakeSlack) -> None:
    """JOBBOT_NOTIFY_CHANEL in `.env` is named at start-up with the setting it was probably meant to be."""
    (tmp_path / ".env").write_text("JOBBOT_NOTIFY_CHANEL=C0NOTICES\n")
    fake_slack.script("auth.test", Scripted(200, {"ok": False, "error": "invalid_auth"}))
    result = run_jobbot(socket_mode_env(fake_slack), tmp_path)
    warning, error = result.stderr.splitlines()
    assert warning.endswith(
        "WARNING jobbot: JOBBOT_NOTIFY_CHANEL (in .env) is not a jobbot setting and is ignored; did you mean "
        "JOBBOT_NOTIFY_CHANNEL?"
    )
    assert error.startswith("jobbot: Slack rejected SLACK_BOT_TOKEN (invalid_auth)")


@pytest.mark.parametrize("setting", ["JOBBOT_HEALTH_PORT", "PORT"])
def test_socket_mode_serves_probes_on_the_health_port_or_port(
    tmp_path: Path, fake_slack: FakeSlack, emulator: Emulator, setting: str
) -> None:
    """Socket Mode with JOBBOT_HEALTH_PORT, or with PORT alone (a Heroku-style web process, which the
    platform stops unless it listens there): connected over the WebSocket, jobbot answers /healthz,
    /readyz and /metrics on that port, not Slack's requests, and logs no token."""
    from tests.fakes import FakeSocketMode

    socket_server = FakeSocketMode().start()
    fake_slack.socket_url = socket_server.url
    port = free_port()
    env = socket_mode_env(fake_slack, SLACK_APP_TOKEN="xapp-1-secret-app-token", **{setting: str(port)})
    env["INTERACTIVE_ADMIN_ENDPOINT"] = emulator.url
    process = start_jobbot_captured(env, tmp_path)
    try:
        wait_until_listening(port, process)
        socket_server.wait_connected()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["ready"] is True
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
        assert httpx.post(f"http://127.0.0.1:{port}/slack/events").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
        socket_server.stop()
    assert process.returncode == 0, output
    assert "connected to Slack over Socket Mode" in output
    assert f"serving /healthz, /readyz and /metrics on port {port}" in output
    assert "xapp-1-secret-app-token" not in output and BOT_TOKEN not in output


def test_a_failing_slack_is_one_line_and_not_called_a_rejection(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """Slack answering 503 at start-up: one line saying so, after one try (no retries), never "rejected"."""
    fake_slack.script("auth.test", Scripted(503, {"ok": False, "error": "service_unavailable"}))
    result = run_jobbot(socket_mode_env(fake_slack), tmp_path)
    assert_one_line_failure(
        result,
        tmp_path,
        f"jobbot: Slack answered HTTP 503 when jobbot checked SLACK_BOT_TOKEN at SLACK_API_URL "
        f"{fake_slack.api_url}; Slack is having trouble (see https://slack-status.com): start again shortly",
    )
    assert len(fake_slack.calls_to("auth.test")) == 1
