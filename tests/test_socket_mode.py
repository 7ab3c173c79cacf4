"""End to end in Socket Mode: the connection opens on SLACK_API_URL, envelopes are acked and answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

import pytest

from jobbot import slack_ids
from jobbot.app import create_bot
from jobbot.config import load_settings
from jobbot.emulator import Emulator
from tests.fakes import FakeSlack, FakeSocketMode
from tests.slack_requests import ALLOWED_USER, click_payload, command_body


@dataclass
class SocketModeWorld:
    slack: FakeSlack
    server: FakeSocketMode
    emulator: Emulator


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketModeWorld]:
    """One bot connected over Socket Mode for the whole module (closing a connection takes seconds)."""
    fake_slack = FakeSlack().start()
    emulator = Emulator().start()
    server = FakeSocketMode().start()
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
            "JOBBOT_DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('store')}/jobbot.db",
        },
        env_file=None,
    )
    bot = create_bot(settings)
    link = bot.socket_mode_link()
    link.connect()
    server.wait_connected()
    yield SocketModeWorld(fake_slack, server, emulator)
    link.close()
    bot.close()
    server.stop()
    emulator.stop()
    fake_slack.stop()


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
