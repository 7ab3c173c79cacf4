"""A `/jobs` command gone wrong is counted and logged under the subcommand the person tried, not as help."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from jobbot import metrics
from jobbot.authz import Access
from jobbot.emulator import Emulator
from jobbot.jobs_api import JobClient
from jobbot.servers import DEFAULT_SERVER
from jobbot.store import open_store
from tests.desk import CANCELLER, CHANNEL, Desk
from tests.fakes import TEAM_ID, FakeSlack


def commands_total(subcommand: str, outcome: str) -> float:
    labels = {"server": DEFAULT_SERVER, "subcommand": subcommand, "outcome": outcome}
    return metrics.REGISTRY.get_sample_value("jobbot_commands_total", labels) or 0.0


@pytest.fixture
def desk(tmp_path: Path, emulator: Emulator, fake_slack: FakeSlack) -> Iterator[Desk]:
    store = open_store(f"sqlite:///{tmp_path}/jobbot.db")
    access = Access(
        cancel_users=(CANCELLER,),
        cancel_usergroups=(),
        allowed_channels=(),
        client=WebClient(token="xoxb-test", base_url=fake_slack.api_url),
        workspace_team=lambda: TEAM_ID,
    )
    with JobClient(emulator.url, retries=0) as jobs:
        yield Desk(jobs, store, access=access)
    store.close()


def command(desk: Desk, text: str) -> str:
    body = {"command": "/jobs", "text": text, "user_id": CANCELLER, "team_id": TEAM_ID, "channel_id": CHANNEL}
    reply = desk.command(body)
    return str(reply["text"]) + str(reply["blocks"])


@pytest.mark.parametrize(
    ("text", "tried"),
    [
        ("status abc", "status"),
        ("cancel", "cancel"),
        ("watch 1 2", "watch"),
        ("list NOPE", "list"),
        ("subscribe RUNNING", "subscribe"),
        ("audit x", "audit"),
        ("help me", "help"),
        ("frobnicate", "usage"),
    ],
)
def test_a_usage_error_is_counted_and_logged_under_the_subcommand_tried(
    desk: Desk, caplog: pytest.LogCaptureFixture, text: str, tried: str
) -> None:
    """`/jobs status abc` counts as subcommand `status` with outcome `usage` (not as `help`), and its log
    line names `status`; a first word that is no subcommand counts as `usage`."""
    before = commands_total(tried, "usage")
    helped = commands_total("help", "usage")
    with caplog.at_level(logging.INFO, logger="jobbot.handlers"):
        command(desk, text)
    assert commands_total(tried, "usage") == before + 1
    if tried != "help":
        assert commands_total("help", "usage") == helped
    assert f"/jobs {tried} (usage error) from {CANCELLER} in {CHANNEL}" in [
        r.getMessage() for r in caplog.records
    ]


def test_help_asked_for_is_counted_as_help(desk: Desk) -> None:
    """`/jobs help` is help, answered: subcommand `help`, outcome `ok`."""
    before = commands_total("help", "ok")
    command(desk, "help")
    assert commands_total("help", "ok") == before + 1
