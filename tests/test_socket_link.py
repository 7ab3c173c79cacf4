"""The Socket Mode link's parts that need no connection: the pauses between attempts, its state, and
recognising an envelope delivered twice."""

from __future__ import annotations

import logging
import random
from typing import Any, cast

import pytest
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from jobbot.socket_mode import Backoff, SocketModeLink
from tests.fakes import FakeSlack


def test_the_first_attempt_is_at_once_then_pauses_double_within_their_upper_half() -> None:
    """A drop is usually a blip, so no pause before the first attempt; after n failures the pause lies
    in [c/2, c] for c = first * 2**(n-1), so replicas cut off together do not retry in step."""
    backoff = Backoff(first=0.5, cap=30.0, rng=random.Random(7))
    assert backoff.pause(0) == 0.0
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0)]:
        pauses = [backoff.pause(failures) for _ in range(200)]
        assert all(ceiling / 2 <= pause <= ceiling for pause in pauses)
        assert len(set(pauses)) > 100, "jittered, not one fixed pause"


def test_pauses_stop_growing_at_the_cap() -> None:
    """However long Slack refuses, attempts come at least every `cap` seconds and never in a tight loop."""
    backoff = Backoff(first=0.5, cap=30.0, rng=random.Random(1))
    assert all(15.0 <= backoff.pause(failures) <= 30.0 for failures in range(8, 60))


class RecordingClient:
    """What the link's handler uses of the connection an envelope came on: its acks."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.logger = logging.getLogger("test")

    def send_socket_mode_response(self, response: Any) -> None:
        self.sent.append(response.to_dict() if hasattr(response, "to_dict") else response)


@pytest.fixture
def link_and_runs(fake_slack: FakeSlack) -> tuple[SocketModeLink, list[str]]:
    runs: list[str] = []
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    app = App(client=client, token_verification_enabled=False, signing_secret="s")

    @app.command("/jobs")
    def jobs(ack: Any, command: dict[str, Any]) -> None:
        runs.append(command["text"])
        ack()

    return SocketModeLink(app, "xapp-test", client), runs


def envelope(envelope_id: str, retry_attempt: int = 0) -> SocketModeRequest:
    payload = {"command": "/jobs", "text": "help", "team_id": "T1", "user_id": "U1", "channel_id": "C1"}
    request = SocketModeRequest.from_dict(
        {
            "type": "slash_commands",
            "envelope_id": envelope_id,
            "payload": payload,
            "retry_attempt": retry_attempt,
            "accepts_response_payload": True,
        }
    )
    assert request is not None
    return request


def test_an_envelope_delivered_again_is_acknowledged_but_not_run_again(
    link_and_runs: tuple[SocketModeLink, list[str]],
) -> None:
    """Slack redelivers an envelope (retry_attempt 1, or on another connection): it is acknowledged on
    the connection it came on each time, and bolt runs it once."""
    link, runs = link_and_runs
    first, second = RecordingClient(), RecordingClient()
    link._handle(cast(BaseSocketModeClient, first), envelope("e-1"))
    link._handle(cast(BaseSocketModeClient, second), envelope("e-1", retry_attempt=1))
    link._handle(cast(BaseSocketModeClient, first), envelope("e-2"))
    assert runs == ["help", "help"]
    assert [a["envelope_id"] for a in first.sent] == ["e-1", "e-2"]
    assert [a["envelope_id"] for a in second.sent] == ["e-1"]


def test_state_before_any_connection_is_not_ready(link_and_runs: tuple[SocketModeLink, list[str]]) -> None:
    link, _ = link_and_runs
    assert link.state() == "not connected" and not link.is_connected()
