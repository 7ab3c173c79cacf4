"""The `/jobs` handlers with two servers, driven through their own methods: the channel's default server,
subscriptions to one server or all, the audit per server, and buttons for a server no longer served."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from jobbot import logs, metrics
from jobbot.app import INTERACTIVE_IN_FLIGHT, WORK_THREADS, work_threads
from jobbot.authz import Access
from jobbot.emulator import Emulator
from jobbot.handlers import JobsHandlers, ServerTools
from jobbot.jobs_api import JobClient
from jobbot.servers import EVERY_SERVER, Server, Servers
from jobbot.store import Store, open_store
from jobbot.subscriptions import NoticeSettings
from tests.desk import CANCELLER, CHANNEL, Inline, no_ack, respond_into
from tests.fakes import TEAM_ID, FakeSlack
from tests.support import ENDED_BY_A_CANCEL

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OTHER_CHANNEL = "C0OTHER01"


@pytest.fixture
def staging() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def store(tmp_path: Path, emulator: Emulator, staging: Emulator) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/jobbot.db")
    opened.serve(Servers((Server("prod", emulator.url), Server("staging", staging.url)), legacy="prod"))
    yield opened
    opened.close()


class TwoServerDesk:
    """JobsHandlers for `prod` (the `emulator` fixture) and `staging`, answering inline."""

    def __init__(self, prod: JobClient, staging: JobClient, store: Store, slack: FakeSlack) -> None:
        access = Access(
            cancel_users=(CANCELLER,),
            cancel_usergroups=(),
            allowed_channels=(),
            client=WebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=[]),
            workspace_team=lambda: TEAM_ID,
        )
        self.handlers = JobsHandlers(
            [
                ServerTools(
                    "prod",
                    prod,
                    access.with_cancellers(
                        (),
                        (),
                        server="prod",
                        settings=("JOBBOT_SERVER_PROD_CANCEL_USERS", "JOBBOT_SERVER_PROD_CANCEL_USERGROUPS"),
                    ),
                ),
                ServerTools("staging", staging, access),
            ],
            work=Inline(),
            store=store,
            notices=NoticeSettings(enabled=True, default_channel=None, default_statuses=()),
            clock=lambda: NOW,
        )

    def command(self, text: str, channel: str = CHANNEL) -> str:
        replies: list[dict[str, Any]] = []
        body = {
            "command": "/jobs",
            "user_id": CANCELLER,
            "team_id": TEAM_ID,
            "channel_id": channel,
            "text": text,
        }
        self.handlers.on_command(ack=no_ack(), command=body, respond=respond_into(replies))
        [reply] = replies
        return str(reply["text"]) + str(reply["blocks"])

    def click_cancel(self, value: str) -> str:
        replies: list[dict[str, Any]] = []
        body = {"user": {"id": CANCELLER, "team_id": TEAM_ID}, "channel": {"id": CHANNEL}}
        self.handlers.on_cancel_click(
            ack=no_ack(), body=body, action={"value": value}, respond=respond_into(replies)
        )
        [reply] = replies
        return str(reply["text"]) + str(reply["blocks"])

    def click_details(self, value: str) -> str:
        replies: list[dict[str, Any]] = []
        body = {"user": {"id": CANCELLER, "team_id": TEAM_ID}, "channel": {"id": CHANNEL}}
        self.handlers.on_details(
            ack=no_ack(), body=body, action={"value": value}, respond=respond_into(replies)
        )
        [reply] = replies
        return str(reply["text"]) + str(reply["blocks"])


@pytest.fixture
def desk(
    emulator: Emulator, staging: Emulator, store: Store, fake_slack: FakeSlack
) -> Iterator[TwoServerDesk]:
    with JobClient(emulator.url, server="prod") as prod, JobClient(staging.url, server="staging") as other:
        yield TwoServerDesk(prod, other, store, fake_slack)


def test_a_channel_default_server_is_kept_per_channel_and_audited(
    desk: TwoServerDesk, emulator: Emulator, staging: Emulator, store: Store
) -> None:
    """`/jobs use staging` makes staging answer unnamed commands in that channel only; `/jobs use`
    shows it; the change is in staging's audit with who made it."""
    emulator.add_job(status="SUCCESS", graph_id="on-prod")
    staging.add_job(status="SUCCESS", graph_id="on-staging")
    assert "on-prod" in desk.command("1"), "no default yet: the first server"
    assert "staging" in desk.command("use staging")
    assert "on-staging" in desk.command("1") and "on-prod" in desk.command("1", channel=OTHER_CHANNEL)
    assert "staging" in desk.command("use") and "prod" in desk.command("use")
    [change] = store.for_server("staging").subscription_changes(5)
    assert (change.action, change.user_id, change.channel_id) == ("default server", CANCELLER, CHANNEL)
    assert "`staging`" in desk.command("subscriptions")
    assert "not a server" in desk.command("use qa") and store.channel_server(CHANNEL) == "staging"


def test_all_subscribe_reaches_every_server_and_one_server_wins_for_itself(
    desk: TwoServerDesk, store: Store
) -> None:
    """`/jobs all subscribe` is read by both servers' notifiers; `/jobs prod subscribe failed` then
    narrows prod alone; `/jobs all unsubscribe` ends both."""
    desk.command("all subscribe")
    desk.command("prod subscribe failed")
    assert [s.statuses for s in store.for_server("prod").subscriptions()] == [("FAILED",)]
    assert [s.server for s in store.for_server("staging").subscriptions()] == [EVERY_SERVER]
    listing = desk.command("subscriptions")
    assert "prod" in listing and CHANNEL in listing
    desk.command("all unsubscribe")
    assert store.every_subscription() == []


def test_the_audit_and_the_refusal_are_per_server(
    desk: TwoServerDesk, emulator: Emulator, staging: Emulator
) -> None:
    """prod takes cancels from nobody (its own empty list): the refusal is in prod's audit, named so,
    and staging's audit stays empty."""
    emulator.add_job(status="RUNNING")
    staging.add_job(status="RUNNING")
    refused = desk.command("prod cancel 1")
    assert "Nobody may cancel jobs on `prod`" in refused and "`JOBBOT_SERVER_PROD_CANCEL_USERS`" in refused
    assert "prod" in desk.command("prod audit 1")
    assert "No cancel attempts" in desk.command("staging audit 1") or "refused" not in desk.command(
        "staging audit 1"
    )
    assert "staging" in desk.command("staging cancel 1"), "staging keeps the global cancellers"


def test_a_button_for_a_server_no_longer_served_says_so(desk: TwoServerDesk, emulator: Emulator) -> None:
    """A card drawn for `qa` before qa left JOBBOT_SERVERS: its button names qa and the servers now
    served, and reads nothing anywhere; a button from before JOBBOT_SERVERS (no server) is prod's."""
    emulator.add_job(status="SUCCESS", graph_id="old-card")
    emulator.reset_stats()
    gone = desk.click_details("qa:1")
    assert "`qa`" in gone and "`prod`" in gone and emulator.requests == []
    assert "old-card" in desk.click_details("1")


def test_commands_log_and_count_under_their_server(
    desk: TwoServerDesk, staging: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A command about staging: its log lines say server=staging, and its metric sample is staging's."""
    staging.add_job(status="SUCCESS")
    before = metrics.REGISTRY.get_sample_value(
        "jobbot_commands_total", {"server": "staging", "subcommand": "status", "outcome": "ok"}
    )
    with caplog.at_level(logging.DEBUG, logger="jobbot"):
        caplog.handler.addFilter(logs.ContextFields())
        desk.command("staging status 1")
    after = metrics.REGISTRY.get_sample_value(
        "jobbot_commands_total", {"server": "staging", "subcommand": "status", "outcome": "ok"}
    )
    assert (after or 0) - (before or 0) == 1
    assert any(getattr(record, "server", None) == "staging" for record in caplog.records)


def test_a_confirmed_cancel_acts_on_the_server_its_button_carries(
    desk: TwoServerDesk, emulator: Emulator, staging: Emulator
) -> None:
    """`staging:1` cancels staging's job 1 and says so; prod's job 1 (the server of a button without
    one) keeps running."""
    emulator.add_job(status="RUNNING")
    staging.add_job(status="RUNNING")
    outcome = desk.click_cancel("staging:1")
    assert "staging · " in outcome and "cancelled job 1" in outcome
    assert staging.get("1").status in ENDED_BY_A_CANCEL and emulator.get("1").status == "RUNNING"


def test_the_reply_pool_holds_every_servers_in_flight_share_and_as_much_again() -> None:
    """Servers that hang take at most their own in-flight limit of the reply threads: the pool has each
    server's share plus one more for replies that need no server (16 threads for one server, as before)."""
    assert work_threads(1) == WORK_THREADS
    assert work_threads(3) - 3 * INTERACTIVE_IN_FLIGHT == INTERACTIVE_IN_FLIGHT
