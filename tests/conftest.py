"""Shared fixtures: a clean environment, the loopback fakes and the Interactive emulator."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jobbot.emulator import Emulator
from tests.fakes import FakeSlack, FakeSocketMode
from tests.http_bot import HttpBot, serve_http_bot

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
def socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    """Slack's Socket Mode endpoint, where the fake Slack's `apps.connections.open` points."""
    server = FakeSocketMode().start()
    fake_slack.socket_url = server.url
    yield server
    server.stop()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh Interactive emulator on a loopback port."""
    emu = Emulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def http_bot(fake_slack: FakeSlack, emulator: Emulator) -> Iterator[HttpBot]:
    yield from serve_http_bot(fake_slack, emulator.url)


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
