"""End to end in Socket Mode: the connection opens on SLACK_API_URL, envelopes are acked and answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from jobbot import slack_ids
from jobbot.app import create_bot
from jobbot.config import load_settings
from jobbot.emulator import Emulator
from jobbot.socket_mode import SocketModeLink
from tests.fakes import FakeSlack, FakeSocketMode, Scripted
from tests.slack_requests import ALLOWED_USER, click_payload, command_body
from tests.support import wait_until


@dataclass
class SocketModeWorld:
    slack: FakeSlack
    server: FakeSocketMode
    emulator: Emulator


@contextmanager
def connected(store_dir: Path) -> Iterator[tuple[SocketModeWorld, SocketModeLink]]:
    """A bot connected over Socket Mode to fakes of its own, with its store in `store_dir`."""
    fake_slack, emulator, server = FakeSlack().start(), Emulator().start(), FakeSocketMode().start()
    fake_slack.socket_url = server.url
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_APP_TOKEN": "xapp-test-token",
            "SLACK_API_URL": fake_slack.api_url,
            "INTERACTIVE_ADMIN_ENDPOINT": emulator.url,
            "JOBBOT_CANCEL_USERS": ALLOWED_USER,
            # Not the default `jobbot.db` in the working directory: a cancel claim left there by an
            # earlier run would make this bot say someone else is cancelling job 2.
            "JOBBOT_DATABASE_URL": f"sqlite:///{store_dir}/jobbot.db",
        },
        env_file=None,
    )
    bot = create_bot(settings)
    link = bot.socket_mode_link()
    link.connect()
    server.wait_connected()
    try:
        yield SocketModeWorld(fake_slack, server, emulator), link
    finally:
        link.close()
        bot.close()
        server.stop()
        emulator.stop()
        fake_slack.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketModeWorld]:
    """One bot connected over Socket Mode for the whole module (closing a connection takes seconds)."""
    with connected(tmp_path_factory.mktemp("store")) as (world, _):
        yield world


def test_connection_is_opened_through_the_configured_api_url(world: SocketModeWorld) -> None:
    """`apps.connections.open` goes to SLACK_API_URL with the app-level token, not the bot token."""
    [call] = world.slack.calls_to("apps.connections.open")
    assert call.headers["authorization"] == "Bearer xapp-test-token"


def test_slash_command_is_acked_and_answered(world: SocketModeWorld) -> None:
    """A `/jobs status` envelope is acknowledged and the card arrives on the response_url."""
    job_id = world.emulator.add_job(status="RUNNING")
    command = dict(parse_qsl(command_body(f"status {job_id}", response_url=world.slack.response_url("s1"))))
    world.server.send(
        {"envelope_id": "e1", "type": "slash_commands", "payload": command, "accepts_response_payload": True}
    )
    world.server.wait_for_ack("e1")
    [reply] = world.slack.wait_for_responses(1, name="s1")
    assert f"Job {job_id}" in reply["text"] + json.dumps(reply["blocks"])


def test_confirmed_cancel_click_cancels_over_socket_mode(world: SocketModeWorld) -> None:
    """A block_actions envelope for a confirmed Cancel sends exactly one DELETE."""
    job_id = world.emulator.add_job(status="RUNNING")
    payload = click_payload(
        slack_ids.action_id(slack_ids.JOB_CANCEL, job_id),
        job_id,
        response_url=world.slack.response_url("s2"),
        confirm=True,
    )
    world.server.send(
        {"envelope_id": "e2", "type": "interactive", "payload": payload, "accepts_response_payload": False}
    )
    world.server.wait_for_ack("e2")
    [reply] = world.slack.wait_for_responses(1, name="s2")
    assert [r for r in world.emulator.requests if r[0] == "DELETE"] == [("DELETE", f"/v1/job/{job_id}")]
    assert "cancelled job" in json.dumps(reply["blocks"])


def test_payload_in_command_text_works_in_socket_mode(world: SocketModeWorld) -> None:
    """The word `payload` in command text is harmless over Socket Mode too."""
    command = dict(parse_qsl(command_body("status payload", response_url=world.slack.response_url("s3"))))
    world.server.send(
        {"envelope_id": "e3", "type": "slash_commands", "payload": command, "accepts_response_payload": True}
    )
    world.server.wait_for_ack("e3")
    [reply] = world.slack.wait_for_responses(1, name="s3")
    assert "/jobs status" in json.dumps(reply["blocks"])


@pytest.fixture
def own_world(tmp_path: Path) -> Iterator[tuple[SocketModeWorld, SocketModeLink]]:
    """A bot of its own, for the tests that cut, silence or refresh its connection."""
    with connected(tmp_path) as world_and_link:
        yield world_and_link


def help_envelope(world: SocketModeWorld, envelope_id: str) -> dict[str, object]:
    command = dict(parse_qsl(command_body("help", response_url=world.slack.response_url(envelope_id + "-"))))
    return {"envelope_id": envelope_id, "type": "slash_commands", "payload": command}


@pytest.mark.parametrize("outage", ["drop", "reset", "silence"])
def test_a_lost_connection_is_replaced_and_the_next_command_acknowledged(
    own_world: tuple[SocketModeWorld, SocketModeLink], outage: str
) -> None:
    """Cut with a FIN or an RST, or silenced: the link opens a new connection by itself (the silent one
    once its pings go unanswered), says so in its state meanwhile, and acks the next command on it."""
    world, link = own_world
    assert link.state() == "ok (connected)"
    if outage == "silence":
        world.server.blackhole(1)
    else:
        world.server.drop(1, reset=outage == "reset")
    world.server.wait_connected(count=2, timeout=10)
    world.server.wait_live(1)
    world.server.send(help_envelope(world, "after"))
    world.server.wait_for_ack("after", timeout=5)
    assert link.is_connected()


def test_disconnect_opens_the_new_connection_before_the_old_one_closes(
    own_world: tuple[SocketModeWorld, SocketModeLink],
) -> None:
    """On Slack's `disconnect` the link says hello on a second connection while the first still serves;
    an envelope on the old one is acked there, one on the new one there, and the old one is closed once
    Slack closes it."""
    world, link = own_world
    world.server.refresh(1, close_after=1.5)
    world.server.wait_connected(count=2, timeout=5)
    world.server.send(help_envelope(world, "old"), link=1)
    world.server.send(help_envelope(world, "new"), link=2)
    assert world.server.wait_for_ack("old")["envelope_id"] == "old"
    assert world.server.wait_for_ack("new")["envelope_id"] == "new"
    assert world.server.wait_live(1, timeout=5) == [2]
    assert link.state() == "ok (connected)"


def test_slack_refusing_new_connections_is_retried_with_pauses(
    own_world: tuple[SocketModeWorld, SocketModeLink],
) -> None:
    """apps.connections.open refused twice, then answered: the link reports reconnecting meanwhile and
    connects on the third attempt."""
    world, link = own_world
    refusal = Scripted(200, {"ok": False, "error": "internal_error"})
    world.slack.script("apps.connections.open", refusal, refusal)
    world.server.drop(1)
    wait_until(lambda: link.state().startswith("reconnecting"), timeout=5, what="reconnecting")
    world.server.wait_connected(count=2, timeout=15)
    wait_until(link.is_connected, timeout=5, what="connected again")
    assert len(world.slack.calls_to("apps.connections.open")) == 4  # the first, two refused, the third
