"""Shared fixtures: a clean environment, the loopback fakes and the Interactive emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeSlack

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
