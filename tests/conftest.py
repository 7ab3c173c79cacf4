"""Shared fixtures: a clean environment, the loopback fakes and the Interactive emulator."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from jobbot.app import Bot, create_bot, job_client
from jobbot.config import load_settings
from jobbot.emulator import Emulator
from jobbot.probes import Probes
from jobbot.web import HttpServer, WebApp
from tests.fakes import FakeSlack, sign
from tests.slack_requests import ALLOWED_USER, click_body, command_body

ENV_PREFIXES = ("SLACK_", "JOBBOT_", "INTERACTIVE_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's Slack settings or a stray .env file."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES) or name == "PORT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    yield slack
    slack.stop()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh Interactive emulator on a loopback port."""
    emu = Emulator().start()
    yield emu
    emu.stop()


@dataclass
class HttpBot:
    """jobbot served over real HTTP by waitress, as in production, with helpers that act as Slack."""

    url: str
    bot: Bot
    slack: FakeSlack
    secret: str

    def post(self, body: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        signed = sign(self.secret, body) if headers is None else headers
        return httpx.post(
            self.url + "/slack/events",
            content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **signed},
            timeout=SLACK_ACK_DEADLINE,
        )

    def command(self, text: str, *, reply_to: str = "r1", user_id: str = ALLOWED_USER) -> httpx.Response:
        return self.post(command_body(text, response_url=self.slack.response_url(reply_to), user_id=user_id))

    def click(
        self, action_id: str, value: str, *, reply_to: str = "r1", user_id: str = ALLOWED_USER
    ) -> httpx.Response:
        return self.post(
            click_body(action_id, value, response_url=self.slack.response_url(reply_to), user_id=user_id)
        )


# Slack gives up on an acknowledgement after 3 seconds; a test request that takes longer has failed.
SLACK_ACK_DEADLINE = 3.0
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def http_bot(fake_slack: FakeSlack, emulator: Emulator) -> Iterator[HttpBot]:
    yield from serve_http_bot(fake_slack, emulator.url)


def serve_http_bot(
    slack: FakeSlack, endpoint: str, *, read_timeout: float = 1.0, **settings: str
) -> Generator[HttpBot, None, None]:
    """Start the bot in HTTP mode against `endpoint`, with short Interactive timeouts for quick tests.

    Each bot has a store of its own: the default `jobbot.db` in the working directory would carry
    cancel claims and ledgers from one test (and one run) into the next.
    """
    database = tempfile.TemporaryDirectory(prefix="jobbot-test-")
    environ = {
        "JOBBOT_DATABASE_URL": f"sqlite:///{database.name}/jobbot.db",
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "INTERACTIVE_ADMIN_ENDPOINT": endpoint,
        "JOBBOT_CANCEL_USERS": ALLOWED_USER,
        **settings,
    }
    loaded = load_settings(environ, env_file=None)
    bot = create_bot(loaded, jobs=job_client(loaded, timeout=httpx.Timeout(read_timeout), backoff=0.01))
    server = HttpServer(WebApp(bot.app, Probes(bot), signing_secret=SIGNING_SECRET), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve, name="waitress", daemon=True)
    thread.start()
    try:
        yield HttpBot(f"http://127.0.0.1:{server.port}", bot, slack, SIGNING_SECRET)
    finally:
        server.stop()
        thread.join(timeout=5)
        bot.close()
        database.cleanup()


# PostgreSQL for the store's tests: a server the developer (or CI) provides; each test gets its own database.
POSTGRES_TEST_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server named by POSTGRES_TEST_URL: skipped if unreachable, except on CI, where that fails."""
    url = os.environ.get("POSTGRES_TEST_URL", POSTGRES_TEST_URL)
    parts = urlsplit(url)
    where = parts._replace(netloc=f"{parts.hostname or 'localhost'}:{parts.port or 5432}").geturl()
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5, autocommit=True):
            pass
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        reason = f"PostgreSQL not reachable at {where}; set POSTGRES_TEST_URL ({detail})"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database of this test's own, dropped (connections and all) after it."""
    import psycopg
    from psycopg import sql

    name = f"jobbot_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(postgres_server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
